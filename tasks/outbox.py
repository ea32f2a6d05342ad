"""ns-push-retry's tasks: find the ns_pending_pushes rows a crash or an outage left
behind, re-drive each through the same idempotent upsert, and report what happened."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from prefect import task
from prefect.artifacts import create_table_artifact
from pydantic import BaseModel

from blocks.netsuite import NetSuiteCredentials
from quoteflow import recovery
from quoteflow.db import session_scope
from quoteflow.models import NsPendingPush, PushStatus, utcnow
from quoteflow.outbox import PushView, apply_push, pushes_to_redrive
from quoteflow.settings import get_settings
from tasks.policy import (
    RETRY_ONCE_OPTIONS,
    fanout_task_options,
    final_attempt,
    short_retry_options,
    throttled_netsuite,
)

REDRIVE_ARTIFACT_KEY = "ns-push-retry"


class RedriveOutcome(BaseModel):
    """One re-driven push: its status before and after."""

    push_id: int
    quote_id: str
    run_id: str | None = None
    external_id: str
    status_before: str
    status: str
    attempts: int
    netsuite_id: str | None
    error: str | None


def redrive_outcomes(before: list[PushView], after: list[PushView]) -> list[RedriveOutcome]:
    """Pair each row as found with the row as it is now (in the order found)."""
    now = {p.id: p for p in after}
    outcomes = []
    for old in before:
        new = now.get(old.id, old)
        outcomes.append(
            RedriveOutcome(
                push_id=old.id,
                quote_id=old.quote_id,
                run_id=old.run_id,
                external_id=old.external_id,
                status_before=old.status,
                status=new.status,
                attempts=new.attempts,
                netsuite_id=new.netsuite_id,
                error=new.last_error if new.status != PushStatus.applied else None,
            )
        )
    return outcomes


@task(name="find_pushes_to_redrive", **short_retry_options())
def find_pushes_to_redrive(older_than_minutes: float, limit: int) -> list[PushView]:
    """Rows pending or failed, untouched for ``older_than_minutes``, oldest first."""
    older_than = utcnow() - timedelta(minutes=older_than_minutes)
    return pushes_to_redrive(older_than=older_than, limit=limit)


@task(name="redrive_ns_push", **fanout_task_options())
def redrive_ns_push(push_id: int, netsuite: NetSuiteCredentials) -> PushView:
    """Upsert one staged estimate by its external id (an applied row is left as it is);
    the row turns failed only when no retry follows, dead_letter (alerted once, never
    re-driven) when NetSuite refuses it for good or it runs out of attempts."""
    with throttled_netsuite(netsuite) as client:
        return apply_push(
            push_id,
            client,
            final_attempt=final_attempt(),
            max_attempts=get_settings().ns_push_max_attempts,
        )


@task(name="load_pushes", **short_retry_options())
def load_pushes(push_ids: list[int]) -> list[PushView]:
    """The ns_pending_pushes rows with these ids, as they are now."""
    if not push_ids:
        return []
    with session_scope() as s:
        rows = s.execute(sa.select(NsPendingPush).where(NsPendingPush.id.in_(push_ids)))
        return [PushView.of(r) for r in rows.scalars().all()]


@task(name="publish_redrive_report")
def publish_redrive_report(outcomes: list[RedriveOutcome], older_than_minutes: float) -> None:
    """A table artifact of every re-driven push and how it ended."""
    applied = sum(1 for o in outcomes if o.status == PushStatus.applied)
    create_table_artifact(
        key=REDRIVE_ARTIFACT_KEY,
        table=[
            {
                "push": str(o.push_id),
                "quote": o.quote_id,
                "external id": o.external_id,
                "was": o.status_before,
                "now": o.status,
                "attempts": str(o.attempts),
                "netsuite id": o.netsuite_id or "",
                "error": o.error or "",
            }
            for o in outcomes
        ],
        description=(
            f"ns-push-retry: {len(outcomes)} push(es) pending or failed for over "
            f"{older_than_minutes:g} min re-driven; {applied} applied, "
            f"{len(outcomes) - applied} still not applied."
        ),
    )


@task(name="refresh_runs_of_applied_pushes", **RETRY_ONCE_OPTIONS)
def refresh_runs_of_applied_pushes(outcomes: list[RedriveOutcome]) -> list[recovery.Recovered]:
    """Runs left partial by a push this run applied are re-driven (even past their cap),
    so their run log and ledger outcome catch up with NetSuite."""
    late = [
        o.run_id
        for o in outcomes
        if o.run_id and o.status == PushStatus.applied and o.status_before != PushStatus.applied
    ]
    return recovery.refresh_after_late_success(late, "its NetSuite push was applied later")
