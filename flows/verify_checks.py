"""verify-checks: the scheduled verify deployment (contract section 8, cron 8,38 * * * *).

Runs every pending workflow_verify_results row whose window has passed, in batches,
and flips it to pass, fail or timeout (or leaves it pending until its deadline). The
flow only sequences tasks; reads and writes live in tasks/verify.py, the rules in
quoteflow.verify.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from prefect import flow, get_run_logger
from prefect_aws import S3Bucket
from pydantic import Field

from quoteflow.models import utcnow
from quoteflow.settings import get_settings
from quoteflow.verify import sweep_counts
from tasks.contract import publish_contract_page
from tasks.verify import (
    CheckResult,
    DueCheck,
    evaluate_checks,
    publish_sweep_report,
    record_verify_events,
    select_due_checks,
)

MAX_BATCH_SIZE = 5000


def _load_bucket(name: str) -> tuple[S3Bucket | None, str | None]:
    """The PDF bucket block, or why it could not be loaded (the pdf_stored checks then
    record the problem; the other checks still run)."""
    try:
        return S3Bucket.load(name), None
    except Exception as exc:  # a missing or broken block must not stop the other checks
        return None, f"S3Bucket block {name!r} could not be loaded: {type(exc).__name__}: {exc}"


@flow(
    name="verify-checks",
    description="Contract section 8: run the due verify checks staged by customer-quote runs "
    "(quote_persisted, pdf_stored, email_sent) and flip them to pass, fail or timeout.",
)
def verify_checks(
    batch_size: Annotated[int, Field(ge=1, le=MAX_BATCH_SIZE)] = 200,
    as_of: Annotated[
        datetime | None,
        Field(description="Sweep as if it were this time (tests, catching up); default now."),
    ] = None,
) -> dict[str, int]:
    """One sweep over the due pending checks; returns counts by new status."""
    logger = get_run_logger()
    started_at = as_of or utcnow()
    bucket: S3Bucket | None = None
    bucket_problem: str | None = None
    results: list[CheckResult] = []
    after: DueCheck | None = None
    while True:
        batch = select_due_checks(
            started_at,
            batch_size,
            after_due_at=after.due_at if after else None,
            after_id=after.id if after else None,
        )
        if not batch:
            break
        needs_bucket = any(c.check_name == "pdf_stored" for c in batch)
        if needs_bucket and bucket is None and bucket_problem is None:
            bucket, bucket_problem = _load_bucket(get_settings().s3_bucket_block)
            if bucket_problem:
                logger.error(bucket_problem)
        results.extend(evaluate_checks(batch, bucket, bucket_problem))
        after = batch[-1]
        if len(batch) < batch_size:
            break
    new_events = record_verify_events(results)
    counts = sweep_counts([r.new_status for r in results], errors=sum(r.error for r in results))
    publish_sweep_report(results, counts, started_at)
    logger.info("verify sweep: %s; %d new failure/timeout event(s)", counts, new_events)
    publish_contract_page()
    return counts
