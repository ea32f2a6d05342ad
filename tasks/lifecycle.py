"""quote-housekeeping's tasks: expire the quotes past valid_until (closing their
proposed prices) and report what was expired."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_table_artifact

from quoteflow.lifecycle import (
    QuoteAction,
    TransitionRefused,
    TransitionResult,
    overdue_quote_ids,
    transition,
)
from quoteflow.models import utcnow

HOUSEKEEPING_ARTIFACT_KEY = "quote-housekeeping"


@task(name="find_overdue_quotes", retries=2, retry_delay_seconds=[1.5, 3.0])
def find_overdue_quotes(limit: int) -> list[str]:
    """Open quotes whose valid_until is before today (UTC), oldest first."""
    return overdue_quote_ids(utcnow().date(), limit=limit)


@task(name="expire_quote", retries=2, retry_delay_seconds=[1.5, 3.0])
def expire_quote(quote_id: str) -> TransitionResult | None:
    """Mark one quote expired and close its proposals; None when someone accepted or
    declined it in the meantime (nothing to expire)."""
    try:
        return transition(quote_id, QuoteAction.expire, actor="quote-housekeeping")
    except TransitionRefused:
        return None


@task(name="publish_housekeeping_report")
def publish_housekeeping_report(results: list[TransitionResult]) -> None:
    """A table artifact of the quotes this run expired."""
    create_table_artifact(
        key=HOUSEKEEPING_ARTIFACT_KEY,
        table=[
            {"quote": r.quote_id, "now": r.status, "proposals closed": str(r.proposals)}
            for r in results
        ],
        description=f"quote-housekeeping: {len(results)} quote(s) past valid_until expired.",
    )
