"""quote-housekeeping's tasks: expire the quotes past valid_until (closing their
proposed prices), mark superseded quotes' NetSuite estimates that missed it, and report."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_table_artifact

from blocks.netsuite import NetSuiteCredentials
from quoteflow.lifecycle import (
    QuoteAction,
    TransitionRefused,
    TransitionResult,
    overdue_quote_ids,
    transition,
)
from quoteflow.models import utcnow
from quoteflow.outbox import PushView, stage_superseded_push, superseded_estimates_to_mark
from tasks.netsuite import apply_staged_push
from tasks.policy import fanout_task_options, short_retry_options

HOUSEKEEPING_ARTIFACT_KEY = "quote-housekeeping"


@task(name="find_overdue_quotes", **short_retry_options())
def find_overdue_quotes(limit: int) -> list[str]:
    """Open quotes whose valid_until is before today (UTC), oldest first."""
    return overdue_quote_ids(utcnow().date(), limit=limit)


@task(name="expire_quote", **short_retry_options())
def expire_quote(quote_id: str) -> TransitionResult | None:
    """Mark one quote expired and close its proposals; None when someone accepted or
    declined it in the meantime (nothing to expire)."""
    try:
        return transition(quote_id, QuoteAction.expire, actor="quote-housekeeping")
    except TransitionRefused:
        return None


@task(name="find_unmarked_superseded_estimates", **short_retry_options())
def find_unmarked_superseded_estimates(limit: int) -> list[tuple[str, str]]:
    """(old quote, revision) pairs whose NetSuite estimate does not say superseded yet."""
    return superseded_estimates_to_mark(limit)


@task(name="mark_estimate_superseded", **fanout_task_options())
def mark_estimate_superseded(
    old_quote_id: str, new_quote_id: str, netsuite: NetSuiteCredentials
) -> PushView | None:
    """Stage and apply the superseded update of one old estimate (its own outbox row)."""
    push = stage_superseded_push(old_quote_id, new_quote_id, None)
    if push is None or push.status == "applied":
        return push
    return apply_staged_push(push.id, netsuite)


@task(name="publish_housekeeping_report")
def publish_housekeeping_report(results: list[TransitionResult], marked: list[str]) -> None:
    """A table artifact of the quotes this run expired or marked superseded in NetSuite."""
    create_table_artifact(
        key=HOUSEKEEPING_ARTIFACT_KEY,
        table=[
            {"quote": r.quote_id, "now": r.status, "proposals closed": str(r.proposals)}
            for r in results
        ]
        + [{"quote": q, "now": "superseded in NetSuite", "proposals closed": ""} for q in marked],
        description=f"quote-housekeeping: {len(results)} quote(s) past valid_until expired; "
        f"{len(marked)} old NetSuite estimate(s) marked superseded.",
    )
