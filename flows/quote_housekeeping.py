"""quote-housekeeping: expire quotes past valid_until (lifecycle ``expired``) and close
their proposed prices, without touching pricing_master. Idempotent: an expired quote is
no longer open, so a second run finds nothing.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow, get_run_logger
from pydantic import BaseModel, Field

from quoteflow.lifecycle import TransitionResult
from tasks.lifecycle import expire_quote, find_overdue_quotes, publish_housekeeping_report


class HousekeepingResult(BaseModel):
    """The quotes this run expired."""

    expired: list[TransitionResult]


@flow(
    name="quote-housekeeping",
    description="Expire quotes past valid_until and close their proposed prices.",
)
def quote_housekeeping(
    limit: Annotated[
        int, Field(ge=1, le=5000, description="At most this many quotes per run, oldest first.")
    ] = 500,
) -> HousekeepingResult:
    """Expire every open quote whose valid_until has passed; returns what changed."""
    logger = get_run_logger()
    overdue = find_overdue_quotes(limit)
    results = [r for r in (expire_quote(q) for q in overdue) if r is not None and r.changed]
    for r in results:
        logger.info(r.message)
    publish_housekeeping_report(results)
    logger.info("Expired %d quote(s) past valid_until", len(results))
    return HousekeepingResult(expired=results)
