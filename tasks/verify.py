"""The verify sweep's I/O: select due checks, observe each one (database and bucket),
record the decision, write ledger events and publish what the sweep did."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect_aws import S3Bucket
from pydantic import BaseModel

from quoteflow import ledger
from quoteflow.db import session_scope
from quoteflow.models import ActionType, VerifyStatus, WorkflowVerifyResult, utcnow
from quoteflow.storage import head_object, read_prefix
from quoteflow.verify import (
    PDF_SIGNATURE,
    Observation,
    QuoteRow,
    StoredPdfHead,
    clip,
    decide,
    event_key,
    event_type_for,
    malformed,
    observe_email_sent,
    observe_error,
    observe_pdf_stored,
    observe_quote_persisted,
    required_param,
)
from tasks.policy import short_retry_options, uncached_retry_options

SWEEP_ARTIFACT_KEY = "verify-sweep"
SUMMARY_ARTIFACT_KEY = "verify-sweep-summary"

# Contract section 8, parameterised (never formatted).
QUOTE_SQL = sa.text("SELECT id, lifecycle_status FROM quotes WHERE id = :quote_id")
EMAIL_SQL = sa.text(
    "SELECT id FROM outbound_email_log WHERE related_quote_id = :quote_id"
    " ORDER BY sent_at DESC LIMIT 1"
)
# The email draft's proposed action: a rejected draft makes email_sent moot.
EMAIL_DRAFT_SQL = sa.text(
    "SELECT status FROM proposed_actions WHERE action_type = :action_type"
    " AND entity_ref = :entity_ref"
)


class DueCheck(BaseModel):
    """A pending workflow_verify_results row whose window has passed."""

    id: int
    run_id: str
    check_name: str
    params: dict[str, Any]
    status: str
    due_at: datetime
    deadline: datetime
    attempts: int


class CheckResult(BaseModel):
    """One evaluated check: what it was, what it became, and why."""

    id: int
    run_id: str
    check_name: str
    quote_id: str | None
    old_status: str
    new_status: str
    attempts: int
    detail: str
    error: bool  # an unexpected error while checking (or recording)
    recorded: bool  # False when another sweep finished the row first, or the write failed


# Observations of the world: never served from a result cache (the deployment persists
# results by default).
@task(**uncached_retry_options())
def select_due_checks(
    now: datetime,
    batch_size: int,
    after_due_at: datetime | None = None,
    after_id: int | None = None,
) -> list[DueCheck]:
    """Up to batch_size pending checks due at ``now``, ordered by (due_at, id), after the
    given position (keyset paging over ix_verify_status_due: rows left pending are not
    selected again in the same sweep)."""
    t = WorkflowVerifyResult
    query = sa.select(t).where(t.status == VerifyStatus.pending.value, t.due_at <= now)
    if after_due_at is not None and after_id is not None:
        query = query.where(
            # The redundant bound lets the index seek to the page instead of filtering.
            t.due_at >= after_due_at,
            sa.or_(t.due_at > after_due_at, sa.and_(t.due_at == after_due_at, t.id > after_id)),
        )
    query = query.order_by(t.due_at, t.id).limit(batch_size)
    with session_scope() as s:
        rows = s.execute(query).scalars().all()
        return [DueCheck.model_validate(row, from_attributes=True) for row in rows]


def _quote_row(quote_id: str) -> QuoteRow | None:
    with session_scope() as s:
        row = s.execute(QUOTE_SQL, {"quote_id": quote_id}).mappings().first()
    return QuoteRow.model_validate(dict(row)) if row else None


def _latest_email_id(quote_id: str) -> int | None:
    with session_scope() as s:
        return s.execute(EMAIL_SQL, {"quote_id": quote_id}).scalars().first()


def _email_draft_status(quote_id: str) -> str | None:
    with session_scope() as s:
        return (
            s.execute(
                EMAIL_DRAFT_SQL,
                {"action_type": ActionType.send_quote.value, "entity_ref": f"quote:{quote_id}"},
            )
            .scalars()
            .first()
        )


def _pdf_head(bucket: S3Bucket, key: str) -> StoredPdfHead | None:
    head = head_object(bucket, key)
    if head is None:
        return None
    prefix = read_prefix(bucket, key, len(PDF_SIGNATURE)) if head.size > 0 else b""
    return StoredPdfHead(size=head.size, content_type=head.content_type, prefix=prefix)


def observe(check: DueCheck, bucket: S3Bucket | None, bucket_problem: str | None) -> Observation:
    """Run one check against the database (and the bucket for pdf_stored)."""
    unusable = malformed(check.check_name, check.params)
    if unusable is not None:
        return unusable
    quote_id = required_param(check.params, "quote_id")
    assert quote_id is not None  # malformed() checked it
    quote = _quote_row(quote_id)
    if check.check_name == "quote_persisted":
        return observe_quote_persisted(quote_id, quote)
    if check.check_name == "email_sent":
        email_id = _latest_email_id(quote_id) if quote is not None else None
        draft = _email_draft_status(quote_id) if quote is not None and email_id is None else None
        return observe_email_sent(quote_id, quote, email_id, draft)
    key = required_param(check.params, "key")
    assert key is not None
    if quote is None:
        return observe_pdf_stored(quote_id, key, None, None)
    if bucket is None:
        raise RuntimeError(bucket_problem or "no S3 bucket given for a pdf_stored check")
    return observe_pdf_stored(quote_id, key, quote, _pdf_head(bucket, key))


@task(cache_policy=NO_CACHE)
def evaluate_checks(
    checks: list[DueCheck], bucket: S3Bucket | None, bucket_problem: str | None = None
) -> list[CheckResult]:
    """Observe, decide and record each check. An error on one check is recorded in its
    detail (an attempt is counted) and the sweep goes on. No retries: a retry would
    count attempts twice; the next sweep is the retry."""
    logger = get_run_logger()
    results: list[CheckResult] = []
    for check in checks:
        now = utcnow()
        error = False
        try:
            observation = observe(check, bucket, bucket_problem)
        except Exception as exc:  # any failure of one check must not stop the sweep
            observation = observe_error(exc)
            error = True
            logger.warning("check %s (%s) errored: %s", check.id, check.check_name, exc)
        decision = decide(
            check.status, observation, now=now, due_at=check.due_at, deadline=check.deadline
        )
        if not decision.evaluated:
            continue
        detail = decision.detail
        try:
            recorded = ledger.record_verify_decision(check.id, decision, now)
            if not recorded:
                detail = "finished by another sweep before this one recorded it"
        except Exception as exc:
            logger.exception("could not record check %s", check.id)
            recorded, error = False, True
            detail = clip(f"{detail} (not recorded: {type(exc).__name__}: {exc})")
        results.append(
            CheckResult(
                id=check.id,
                run_id=check.run_id,
                check_name=check.check_name,
                quote_id=required_param(check.params, "quote_id"),
                old_status=check.status,
                new_status=decision.status.value if recorded else check.status,
                attempts=check.attempts + 1 if recorded else check.attempts,
                detail=detail,
                error=error,
                recorded=recorded,
            )
        )
    logger.info("evaluated %d check(s)", len(results))
    return results


@task(**short_retry_options())
def record_verify_events(results: list[CheckResult]) -> int:
    """One ledger event (mirrored to Prefect) per check this sweep failed or timed out;
    keyed by check and status, so a retry or a repeat collapses. Returns how many new."""
    created = 0
    for r in results:
        if not r.recorded:
            continue
        status = VerifyStatus(r.new_status)
        event_type = event_type_for(status)
        if event_type is None:
            continue
        payload = {
            "check_id": r.id,
            "check": r.check_name,
            "run_id": r.run_id,
            "quote_id": r.quote_id,
            "status": status.value,
            "attempts": r.attempts,
            "detail": r.detail,
        }
        if ledger.record_event(
            event_type, event_key(r.id, status), payload=payload, run_id=r.run_id
        ):
            created += 1
    return created


def sweep_rows(results: list[CheckResult]) -> list[dict[str, str]]:
    """The sweep table: one row per evaluated check."""
    return [
        {
            "run id": r.run_id,
            "check": r.check_name,
            "quote": r.quote_id or "",
            "status": f"{r.old_status} → {r.new_status}",
            "attempts": str(r.attempts),
            "detail": r.detail,
        }
        for r in results
    ]


@task
def publish_sweep_report(
    results: list[CheckResult],
    counts: dict[str, int],
    started_at: datetime,
) -> None:
    """A table artifact of every evaluated check and a markdown summary of the counts."""
    headline = (
        f"Verify sweep at {started_at:%Y-%m-%d %H:%M:%S} UTC: {counts['evaluated']} check(s) "
        f"evaluated: {counts['pass']} pass, {counts['fail']} fail, {counts['timeout']} timeout, "
        f"{counts['skipped']} skipped, {counts['pending']} still pending, "
        f"{counts['errors']} error(s)."
    )
    create_table_artifact(key=SWEEP_ARTIFACT_KEY, table=sweep_rows(results), description=headline)
    table = "\n".join(f"| {name} | {n} |" for name, n in counts.items())
    create_markdown_artifact(
        key=SUMMARY_ARTIFACT_KEY,
        markdown=f"## verify-checks\n\n{headline}\n\n| status | checks |\n|---|---|\n{table}\n",
        description="Counts by status of the checks this sweep evaluated",
    )
