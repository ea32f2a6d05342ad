"""The reconciler's rules: which deployment an approved action starts, when a failed run
is re-driven or dead-lettered, which failed steps may pass. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel

from quoteflow.models import ActionType

QUOTE_DEPLOYMENT = "customer-quote/customer-quote"
SEND_DEPLOYMENT = "send-quote-email/send-quote-email"
# The deployment an approved action starts (through its trigger, or the reconciler).
DEPLOYMENT_OF_ACTION = {
    ActionType.quote_draft: QUOTE_DEPLOYMENT,
    ActionType.send_quote: SEND_DEPLOYMENT,
}
HEALED_DEPLOYMENTS = (QUOTE_DEPLOYMENT, SEND_DEPLOYMENT)
QUOTE_TAG = "customer_quote"  # the tag of every customer-quote run (prefect.yaml)
# A run for an action is created after its decision: looking only at runs created since
# then (less this margin) keeps runs of an older database's same action id out.
CLOCK_SKEW = timedelta(seconds=5)

RecoveryStep = Literal["redrive", "dead_letter", "wait"]


class Recovered(BaseModel):
    """One thing the reconciler did (or refused to do), for its report and logs."""

    kind: Literal["started", "resumed", "crashed", "redriven", "dead_letter", "skipped"]
    subject: str
    run_id: str | None = None
    detail: str


def redrive_decision(
    *,
    redrives: int,
    redrive_max: int,
    retryable: bool,
    last_redrive_at: datetime | None,
    now: datetime,
    min_interval: timedelta,
) -> RecoveryStep:
    """Re-drive while under the cap and the failure may pass; a permanent failure or the
    cap reached dead-letters the run; too soon after the last re-drive waits."""
    if not retryable or redrives >= redrive_max:
        return "dead_letter"
    if last_redrive_at is not None and now - last_redrive_at < min_interval:
        return "wait"
    return "redrive"


def retryable_failures(summary: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(retryable, permanent) failed step names of a run log summary. A step without a
    verdict counts as retryable: the cap bounds it."""
    retry, permanent = [], []
    for step in summary.get("steps") or []:
        if step.get("status") not in ("failed", "not_run"):
            continue
        if (step.get("detail") or {}).get("retryable") is False:
            permanent.append(step["name"])
        else:
            retry.append(step["name"])
    return retry, permanent


# What Mike reads when the reconciler gives a run up (no flow or deployment names).
GIVEN_UP = {
    QUOTE_DEPLOYMENT: "A quote could not be finished automatically",
    SEND_DEPLOYMENT: "An approved customer email could not be sent",
}


class RecoveryPolicy(BaseModel):
    """The reconciler's limits (from settings)."""

    start_grace: timedelta
    stuck_pending: timedelta
    lookback: timedelta
    redrive_max: int
    redrive_interval: timedelta
