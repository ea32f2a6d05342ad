"""The NetSuite outbox (ns_pending_pushes): stage a push, apply it, and only call it
applied once NetSuite confirmed. Shared by the customer-quote flow and ns-push-retry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.orm import aliased

from quoteflow import ledger
from quoteflow.db import get_or_create, session_scope
from quoteflow.models import NsPendingPush, PushStatus, Quote, utcnow
from quoteflow.netsuite.client import NetSuiteClient
from quoteflow.netsuite.errors import NetSuiteError
from quoteflow.netsuite.estimate import superseded_body

ESTIMATE = "estimate"
# The one-off header update that marks a revised quote's estimate superseded: its own
# outbox row (one per old estimate), applied through the same upsert by external id.
ESTIMATE_SUPERSEDED = "estimate_superseded"


class DeadLetteredPushError(Exception):
    """The push was dead-lettered (NetSuite refused it for good, or it ran out of
    attempts): it is never sent again without a person."""


class PushView(BaseModel):
    id: int
    record_type: str
    external_id: str
    quote_id: str
    run_id: str | None = None
    status: str
    attempts: int
    last_error: str | None
    netsuite_id: str | None
    updated_at: datetime

    @classmethod
    def of(cls, row: NsPendingPush) -> PushView:
        return cls.model_validate(row.model_dump())


def stage_push(
    *,
    external_id: str,
    quote_id: str,
    payload: dict[str, Any],
    run_id: str | None,
    record_type: str = ESTIMATE,
) -> PushView:
    """Get or create the outbox row for this estimate (one per record type and external id)."""
    staged = NsPendingPush(
        record_type=record_type,
        external_id=external_id,
        quote_id=quote_id,
        run_id=run_id,
        payload=payload,
    )
    with session_scope() as s:
        row = get_or_create(s, staged, record_type=record_type, external_id=external_id)
        return PushView.of(row)


def stage_superseded_push(
    old_quote_id: str, new_quote_id: str, run_id: str | None
) -> PushView | None:
    """Stage the update that marks the old quote's estimate superseded, once. None when
    NetSuite never confirmed an estimate for the old quote (nothing there to mark)."""
    with session_scope() as s:
        old = s.get(Quote, old_quote_id)
        if old is None or old.netsuite_id is None:
            return None
    return stage_push(
        external_id=old_quote_id,
        quote_id=old_quote_id,
        payload=superseded_body(old_quote_id, new_quote_id),
        run_id=run_id,
        record_type=ESTIMATE_SUPERSEDED,
    )


def superseded_estimates_to_mark(limit: int = 100) -> list[tuple[str, str]]:
    """(old quote, its revision) for superseded quotes with a confirmed NetSuite estimate
    that was never marked superseded (NetSuite confirmed it only after the revision ran)."""
    marked = sa.select(NsPendingPush.external_id).where(
        NsPendingPush.record_type == ESTIMATE_SUPERSEDED
    )
    revision = aliased(Quote)
    stmt = (
        sa.select(Quote.id, sa.func.max(revision.id))
        .join(revision, revision.supersedes_quote_id == Quote.id)
        .where(
            Quote.lifecycle_status == "superseded",
            Quote.netsuite_id.is_not(None),
            Quote.id.not_in(marked),
        )
        .group_by(Quote.id)
        .order_by(Quote.id)
        .limit(limit)
    )
    with session_scope() as s:
        return [(old, new) for old, new in s.execute(stmt).all()]


def dead_letter_reason(exc: NetSuiteError, attempts: int, max_attempts: int) -> str | None:
    """Why a failed push goes to the dead letter (None: it stays failed, re-driven later)."""
    if not exc.retryable:
        return f"NetSuite refused it for good: {exc}"
    if attempts >= max_attempts:
        return f"still failing after {attempts} attempts: {exc}"
    return None


def _alert_dead_letter(row: NsPendingPush, reason: str) -> None:
    """One alert per dead-lettered push (not one per re-drive run)."""
    ledger.record_event(
        "alert",
        f"alert:ns-push-dead-letter:{row.record_type}:{row.external_id}",
        payload={
            "step": "ns_push",
            "quote_id": row.quote_id,
            "external_id": row.external_id,
            "attempts": row.attempts,
            "error": reason,
            "run_id": row.run_id,
            "headline": f"NetSuite estimate {row.external_id} for quote {row.quote_id} "
            "was not sent",
            "what_to_do": "fix the cause in NetSuite (credentials, the record), then "
            + (
                f"`quoteflow recover redrive {row.run_id}`"
                if row.run_id
                else "stage the estimate again"
            ),
        },
        run_id=row.run_id,
        # Under the run, like every step alert: the notify-mike Automation tells Mike once.
        resource_id=f"quoteflow.run.{row.run_id}"
        if row.run_id
        else f"quoteflow.quote.{row.quote_id}",
    )


def apply_push(
    push_id: int, client: NetSuiteClient, *, final_attempt: bool, max_attempts: int = 12
) -> PushView:
    """Upsert the staged estimate in NetSuite by external id. Applied only on NetSuite's
    confirmation; an error is recorded and re-raised (failed when it will not be retried,
    dead-lettered with one alert when it never will be). A dead-lettered row is not sent."""
    with session_scope() as s:
        row = s.get(NsPendingPush, push_id)
        if row is None:
            raise LookupError(f"ns_pending_pushes row {push_id} does not exist")
        if row.status == PushStatus.applied:
            return PushView.of(row)
        if row.status == PushStatus.dead_letter:
            raise DeadLetteredPushError(
                f"estimate {row.external_id} is dead-lettered ({row.last_error}); not sent again"
            )
        row.attempts += 1
        row.updated_at = utcnow()
        external_id, payload = row.external_id, dict(row.payload)
    try:
        netsuite_id = client.upsert_estimate(external_id, payload)
    except NetSuiteError as exc:
        with session_scope() as s:
            row = s.get(NsPendingPush, push_id)
            assert row is not None
            row.last_error = str(exc)
            reason = dead_letter_reason(exc, row.attempts, max_attempts)
            if reason is not None:
                row.status = PushStatus.dead_letter
            elif final_attempt:
                row.status = PushStatus.failed
            row.updated_at = utcnow()
            if reason is not None:
                _alert_dead_letter(row, reason)
        raise
    with session_scope() as s:
        row = s.get(NsPendingPush, push_id)
        assert row is not None
        row.status = PushStatus.applied
        row.netsuite_id = netsuite_id
        row.last_error = None
        row.applied_at = row.updated_at = utcnow()
        quote = s.get(Quote, row.quote_id)
        if quote is not None:
            quote.netsuite_id = netsuite_id
            quote.updated_at = row.updated_at
        s.flush()
        return PushView.of(row)


def pushes_to_redrive(*, older_than: datetime, limit: int = 100) -> list[PushView]:
    """Rows left pending (a crash) or failed (an outage) that were last touched before
    ``older_than``, oldest first."""
    stmt = (
        sa.select(NsPendingPush)
        .where(
            NsPendingPush.status.in_([PushStatus.pending, PushStatus.failed]),
            NsPendingPush.updated_at < older_than,
        )
        .order_by(NsPendingPush.updated_at)
        .limit(limit)
    )
    with session_scope() as s:
        return [PushView.of(r) for r in s.execute(stmt).scalars().all()]


def revive_dead_letters(run_id: str) -> int:
    """A person re-drives this run after fixing what NetSuite refused: its dead-lettered
    pushes may be sent again (failed, attempts from zero). Returns how many."""
    with session_scope() as s:
        return s.execute(
            sa.update(NsPendingPush)
            .where(NsPendingPush.run_id == run_id, NsPendingPush.status == PushStatus.dead_letter)
            .values(status=PushStatus.failed, attempts=0, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
