"""What needs Mike's attention after a decision: a quote draft whose run ended without a
quote (blocked, failed), said in plain words with what he can do; and, before he approves
a draft, what would block it. Reads only; the words are pure functions."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from pydantic import BaseModel

from quoteflow.db import session_scope
from quoteflow.models import (
    ActionStatus,
    ActionType,
    Customer,
    ProposedAction,
    RunStatus,
    WorkflowRunLog,
    utcnow,
)
from quoteflow.quote import CustomerRecord, QuoteContext, check_blocking

ATTENTION_STATUSES = (RunStatus.blocked, RunStatus.failed, RunStatus.partial)
ATTENTION_DAYS = 14


def plain_block(check: str, message: str, customer_name: str | None = None) -> str:
    """One blocking check as a sentence Mike reads (no check or table names)."""
    who = customer_name or "This customer"
    if check == "customer_not_on_hold":
        return f"{who} is on hold in NetSuite, so no quote can be made for them."
    if check == "customer_exists":
        return f"{who} is no longer in the customer list, so no quote can be made."
    if check == "quote_id_usable":
        return "The quote number could not be used; start the quote again."
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def plain_reason(reason: str | None, customer_name: str | None = None) -> list[str]:
    """A run's stored block reason (``check: message; ...``) as sentences."""
    out = []
    for part in (reason or "").split("; "):
        check, _, message = part.partition(": ")
        if part.strip():
            out.append(plain_block(check, message or check, customer_name))
    return out


WHAT_TO_DO = {
    RunStatus.blocked: "Take the hold off in NetSuite (or ask accounts to), then start the "
    "quote again with New quote. Nothing was sent to the customer.",
    RunStatus.failed: "Nothing was sent to the customer. Start the quote again with New "
    "quote; if it fails again, tell whoever looks after quoteflow.",
    RunStatus.partial: "The quote was made but some follow-up steps did not finish; they "
    "are retried automatically. Open the quote to see which.",
}

HEADLINE = {
    RunStatus.blocked: "Not quoted: the draft was stopped before any quote was made",
    RunStatus.failed: "Not quoted: something went wrong while making the quote",
    RunStatus.partial: "Quoted, but some steps did not finish",
}


class DraftEnd(BaseModel):
    """How the run an approved draft started ended, when that needs Mike."""

    action_id: int
    status: str
    customer_name: str | None
    school_year: str | None
    sentences: list[str]
    what_to_do: str
    headline: str
    at: datetime | None


def _end(action_id: int, row: WorkflowRunLog) -> DraftEnd | None:
    status = RunStatus(row.status)
    if status not in ATTENTION_STATUSES:
        return None
    summary = row.summary_json or {}
    name = summary.get("customer_name")
    sentences = plain_reason(summary.get("reason"), name) if status == RunStatus.blocked else []
    return DraftEnd(
        action_id=action_id,
        status=status.value,
        customer_name=name,
        school_year=summary.get("school_year"),
        sentences=sentences,
        what_to_do=WHAT_TO_DO[status],
        headline=HEADLINE[status],
        at=row.completed_at,
    )


def draft_end(action_id: int) -> DraftEnd | None:
    """The end of the run this approved draft started, if it needs Mike."""
    stmt = (
        sa.select(WorkflowRunLog)
        .join(ProposedAction, ProposedAction.claimed_by_run_id == WorkflowRunLog.run_id)
        .where(ProposedAction.id == action_id)
    )
    with session_scope() as s:
        row = s.execute(stmt).scalars().first()
        return _end(action_id, row) if row is not None else None


def needs_attention(*, days: float = ATTENTION_DAYS) -> list[DraftEnd]:
    """Approved drafts of the last ``days`` whose run ended without a full quote."""
    since = utcnow() - timedelta(days=days)
    stmt = (
        sa.select(ProposedAction.id, WorkflowRunLog)
        .join(WorkflowRunLog, ProposedAction.claimed_by_run_id == WorkflowRunLog.run_id)
        .where(
            ProposedAction.action_type == ActionType.quote_draft,
            ProposedAction.status == ActionStatus.approved,
            WorkflowRunLog.status.in_([s.value for s in ATTENTION_STATUSES]),
            WorkflowRunLog.started_at >= since,
        )
        .order_by(WorkflowRunLog.started_at.desc())
    )
    with session_scope() as s:
        ends = [_end(action_id, row) for action_id, row in s.execute(stmt).all()]
    return [e for e in ends if e is not None]


def draft_blockers(customer_id: str) -> list[str]:
    """What would stop a draft for this customer, before Mike approves it."""
    stmt = sa.select(Customer).where(Customer.id == customer_id)
    with session_scope() as s:
        row = s.execute(stmt).scalars().first()
        record = None if row is None else CustomerRecord(**row.model_dump())
    blocks = check_blocking(QuoteContext(customer=record))
    name = record.name if record else None
    return [plain_block(b.check, b.message, name) for b in blocks]
