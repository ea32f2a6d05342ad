"""quote-housekeeping: expire quotes past valid_until (lifecycle ``expired``) and close
their proposed prices, without touching pricing_master; mark the NetSuite estimate of a
superseded quote that NetSuite confirmed only after its revision ran. Idempotent: an
expired quote is no longer open and a marked estimate has its outbox row, so a second
run finds nothing.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow, get_run_logger
from prefect.futures import wait
from pydantic import BaseModel, Field

from blocks.netsuite import NetSuiteCredentials
from quoteflow.lifecycle import TransitionResult
from quoteflow.settings import get_settings
from tasks.lifecycle import (
    expire_quote,
    find_overdue_quotes,
    find_unmarked_superseded_estimates,
    mark_estimate_superseded,
    publish_housekeeping_report,
)


class HousekeepingResult(BaseModel):
    """The quotes this run expired, and the old estimates it marked superseded."""

    expired: list[TransitionResult]
    superseded_marked: list[str]
    superseded_failed: list[str]


@flow(
    name="quote-housekeeping",
    description="Expire quotes past valid_until and close their proposed prices; mark "
    "superseded quotes' NetSuite estimates that missed it.",
)
def quote_housekeeping(
    limit: Annotated[
        int, Field(ge=1, le=5000, description="At most this many quotes per run, oldest first.")
    ] = 500,
) -> HousekeepingResult:
    """Expire every open quote whose valid_until has passed, and mark the old NetSuite
    estimates of superseded quotes that do not say so yet; returns what changed."""
    logger = get_run_logger()
    overdue = find_overdue_quotes(limit)
    results = [r for r in (expire_quote(q) for q in overdue) if r is not None and r.changed]
    for r in results:
        logger.info(r.message)
    unmarked = find_unmarked_superseded_estimates(limit)
    marked: list[str] = []
    failed: list[str] = []
    if unmarked:
        netsuite = NetSuiteCredentials.load(get_settings().netsuite_block)
        futures = {
            old: mark_estimate_superseded.submit(old, new, netsuite) for old, new in unmarked
        }
        wait(list(futures.values()))
        for old, fut in futures.items():
            (marked if fut.state.is_completed() else failed).append(old)
        for old in failed:
            logger.warning(
                "NetSuite estimate of %s not marked superseded yet (ns-push-retry re-drives "
                "its outbox row): %s",
                old,
                futures[old].state.message,
            )
    publish_housekeeping_report(results, marked)
    logger.info(
        "Expired %d quote(s) past valid_until; marked %d old estimate(s) superseded (%d failed)",
        len(results),
        len(marked),
        len(failed),
    )
    return HousekeepingResult(expired=results, superseded_marked=marked, superseded_failed=failed)
