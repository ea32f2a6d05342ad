"""ns-push-retry: re-drive the NetSuite outbox. Rows left ``pending`` (a crash) or
``failed`` (an outage) are pushed again through the same idempotent upsert by external
id; applied rows are never touched.

find -> one task run per push (throttled by the NetSuite concurrency limit) -> report.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow, get_run_logger
from prefect.futures import wait
from pydantic import BaseModel, Field

from blocks.netsuite import NetSuiteCredentials
from quoteflow.models import PushStatus
from quoteflow.settings import get_settings
from tasks.outbox import (
    RedriveOutcome,
    find_pushes_to_redrive,
    load_pushes,
    publish_redrive_report,
    redrive_ns_push,
    redrive_outcomes,
    refresh_runs_of_applied_pushes,
)


class NsPushRetryResult(BaseModel):
    """How many re-driven pushes NetSuite confirmed, and how many are still not applied."""

    applied: int
    still_failed: int
    pushes: list[RedriveOutcome]


@flow(
    name="ns-push-retry",
    description="Re-drive ns_pending_pushes rows left pending (crash) or failed (outage) "
    "through the idempotent NetSuite estimate upsert.",
    persist_result=True,
)
def ns_push_retry(
    older_than_minutes: Annotated[
        float,
        Field(
            ge=0,
            le=60 * 24 * 30,
            description="Only rows untouched for this long (leaves pushes in flight alone).",
        ),
    ] = 5,
    limit: Annotated[
        int, Field(ge=1, le=1000, description="At most this many rows per run, oldest first.")
    ] = 100,
) -> NsPushRetryResult:
    """Push every stale pending or failed estimate again; returns the counts.

    Args:
        older_than_minutes: Only rows untouched for this long (leaves pushes in flight alone).
        limit: At most this many rows per run, oldest first.
    """
    logger = get_run_logger()
    found = find_pushes_to_redrive(older_than_minutes, limit)
    if not found:
        logger.info(
            "Nothing to re-drive (no pending or failed push older than %g min)", older_than_minutes
        )
    else:
        netsuite = NetSuiteCredentials.load(get_settings().netsuite_block)
        # One task run per push: one failing push does not stop the others.
        futures = [redrive_ns_push.submit(p.id, netsuite) for p in found]
        wait(futures)
    outcomes = redrive_outcomes(found, load_pushes([p.id for p in found]))
    publish_redrive_report(outcomes, older_than_minutes)
    applied = sum(1 for o in outcomes if o.status == PushStatus.applied)
    still_failed = len(outcomes) - applied
    for o in outcomes:
        if o.status != PushStatus.applied:
            logger.warning(
                "Push %s (quote %s) still %s after %s attempt(s): %s",
                o.push_id,
                o.quote_id,
                o.status,
                o.attempts,
                o.error,
            )
    logger.info(
        "Re-drove %s push(es): %s applied, %s still failed", len(outcomes), applied, still_failed
    )
    # Runs left partial by these pushes: re-driven so their outcome catches up.
    for r in refresh_runs_of_applied_pushes(outcomes):
        logger.info("Run %s re-driven: %s", r.run_id, r.detail)
    return NsPushRetryResult(applied=applied, still_failed=still_failed, pushes=outcomes)
