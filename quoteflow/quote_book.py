"""Finding quotes and reading one quote whole: lines, totals, proposed prices, the PDF,
the NetSuite estimate, the customer email, verify results, its run and its history.
Read-only; one implementation for the CLI (``quoteflow quotes``) and the page."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from pydantic import BaseModel, Field, computed_field, field_validator
from sqlmodel import Session

from quoteflow.approvals import gate_entity_ref
from quoteflow.db import session_scope
from quoteflow.lifecycle import TRANSITIONS, ProposalView, QuoteAction, event_key
from quoteflow.models import (
    ActionStatus,
    ActionType,
    Customer,
    Event,
    LifecycleStatus,
    NsPendingPush,
    OutboundEmailLog,
    ProposedAction,
    ProposedPricing,
    Quote,
    QuoteLine,
    WorkflowRunLog,
    WorkflowVerifyResult,
)
from quoteflow.quote import written_at

STATUSES = tuple(s.value for s in LifecycleStatus)


class QuoteFilter(BaseModel):
    """A search of the quote list; every field optional."""

    customer: str | None = Field(
        default=None, max_length=200, description="Customer id, or part of the customer's name."
    )
    status: str | None = Field(default=None, description=f"One of: {', '.join(STATUSES)}.")
    school_year: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}$", description="2026-27")
    limit: int = Field(default=200, ge=1, le=1000)

    @field_validator("status")
    @classmethod
    def _known_status(cls, status: str | None) -> str | None:
        if status and status not in STATUSES:
            raise ValueError(f"not a quote status; expected one of {', '.join(STATUSES)}")
        return status


class QuoteSummary(BaseModel):
    id: str
    customer_id: str
    customer_name: str
    school_year: str
    status: str
    currency: str
    subtotal: Decimal
    margin_pct: Decimal | None
    generated_at: datetime
    valid_until: date | None
    netsuite_id: str | None
    supersedes_quote_id: str | None


class LineRow(BaseModel):
    line_no: int
    item_code: str
    description: str
    quantity: int
    case_price: Decimal
    cost_basis: Decimal | None
    margin_pct: Decimal | None
    line_total: Decimal
    price_source: str


class PushRow(BaseModel):
    record_type: str
    status: str
    attempts: int
    netsuite_id: str | None
    last_error: str | None
    applied_at: datetime | None


class QuoteEmail(BaseModel):
    """The customer email of one quote: its draft (Mike's to decide) and whether it went
    out. The quote page and a gate's timeline both tell it from this."""

    draft_id: int | None = None
    draft_status: str | None = None  # the draft's action status; None: never drafted
    decided_by: str | None = None
    decided_at: datetime | None = None
    sent_to: str | None = None
    sent_at: datetime | None = None

    @property
    def sent(self) -> bool:
        return self.sent_at is not None

    def summary(self) -> str:
        """The email's state in one line."""
        if self.sent_at is not None:
            from quoteflow.presentation import format_when

            return f"sent {format_when(self.sent_at)} to {self.sent_to}"
        if self.draft_status is None:
            return "not drafted"
        if self.draft_status == ActionStatus.pending:
            return "draft waiting for Mike's approval"
        if self.draft_status == ActionStatus.approved:
            return "approved, not sent yet"
        return f"draft {self.draft_status}"


def read_quote_email(s: Session, quote_id: str) -> QuoteEmail:
    draft = (
        s.execute(
            sa.select(ProposedAction).where(
                ProposedAction.action_type == ActionType.send_quote,
                ProposedAction.entity_ref == f"quote:{quote_id}",
            )
        )
        .scalars()
        .first()
    )
    sent = (
        s.execute(
            sa.select(OutboundEmailLog)
            .where(OutboundEmailLog.related_quote_id == quote_id)
            .order_by(OutboundEmailLog.sent_at.desc())
        )
        .scalars()
        .first()
    )
    return QuoteEmail(
        draft_id=draft.id if draft else None,
        draft_status=draft.status if draft else None,
        decided_by=draft.approver if draft and draft.decided_at else None,
        decided_at=draft.decided_at if draft else None,
        sent_to=sent.to_addr if sent else None,
        sent_at=sent.sent_at if sent else None,
    )


class VerifyRow(BaseModel):
    check_name: str
    status: str
    detail: str | None
    checked_at: datetime | None


class HistoryEntry(BaseModel):
    """One thing in a quote's life. ``what`` is the record as kept (the operator's CLI
    prints it); ``kind``, ``status`` and ``ref`` let the page say it in Mike's words
    (``presentation.history_text``)."""

    at: datetime
    what: str
    kind: str  # gate | written | event | revision
    status: str | None = None  # the gate's status or the event's type
    ref: str | None = None  # the quote revised, or the revision that replaced this one
    by: str | None = None
    notes: str | None = None


class QuoteDetail(BaseModel):
    quote: QuoteSummary
    cost_total: Decimal
    pdf_key: str | None
    flow_run_id: str | None
    run_status: str | None
    lines: list[LineRow]
    proposals: list[ProposalView]
    pushes: list[PushRow]
    email: QuoteEmail
    verify: list[VerifyRow]
    superseded_by: list[str]
    history: list[HistoryEntry]
    allowed_actions: list[str]  # what Mike may do now (accept/decline)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def email_status(self) -> str:
        return self.email.summary()


def _summary(q: Quote, customer_name: str | None) -> QuoteSummary:
    return QuoteSummary(
        id=q.id,
        customer_id=q.customer_id,
        customer_name=customer_name or q.customer_id,
        school_year=q.school_year,
        status=q.lifecycle_status,
        currency=q.currency,
        subtotal=q.subtotal,
        margin_pct=q.margin_pct,
        generated_at=q.generated_at,
        valid_until=q.valid_until,
        netsuite_id=q.netsuite_id,
        supersedes_quote_id=q.supersedes_quote_id,
    )


def list_quotes(search: QuoteFilter | None = None) -> list[QuoteSummary]:
    """Quotes matching the search, newest first."""
    f = search or QuoteFilter()
    stmt = (
        sa.select(Quote, Customer.name)
        .join(Customer, Customer.id == Quote.customer_id)
        .order_by(Quote.generated_at.desc(), Quote.id)
        .limit(f.limit)
    )
    if f.customer:
        pattern = f"%{f.customer.lower()}%"
        stmt = stmt.where(
            sa.or_(Quote.customer_id == f.customer, sa.func.lower(Customer.name).like(pattern))
        )
    if f.status:
        stmt = stmt.where(Quote.lifecycle_status == f.status)
    if f.school_year:
        stmt = stmt.where(Quote.school_year == f.school_year)
    with session_scope() as s:
        return [_summary(q, name) for q, name in s.execute(stmt).all()]


def quote_of_run(flow_run_id: str) -> str | None:
    """The id of the quote this customer-quote run wrote, if it wrote one."""
    with session_scope() as s:
        stmt = sa.select(Quote.id).where(Quote.flow_run_id == flow_run_id)
        return s.execute(stmt).scalars().first()


def get_quote(quote_id: str) -> QuoteDetail | None:
    """One quote with everything known about it; None when there is no such quote."""
    with session_scope() as s:
        q = s.get(Quote, quote_id)
        if q is None:
            return None
        customer = s.get(Customer, q.customer_id)
        lines = s.execute(
            sa.select(QuoteLine).where(QuoteLine.quote_id == quote_id).order_by(QuoteLine.line_no)
        ).scalars()
        proposals = s.execute(
            sa.select(ProposedPricing)
            .where(ProposedPricing.quote_id == quote_id)
            .order_by(ProposedPricing.item_code)
        ).scalars()
        pushes = s.execute(
            sa.select(NsPendingPush)
            .where(NsPendingPush.quote_id == quote_id)
            .order_by(NsPendingPush.id)
        ).scalars()
        email = read_quote_email(s, quote_id)
        run_id = q.flow_run_id
        verify = (
            s.execute(
                sa.select(WorkflowVerifyResult)
                .where(WorkflowVerifyResult.run_id == run_id)
                .order_by(WorkflowVerifyResult.id)
            ).scalars()
            if run_id
            else []
        )
        run_log = (
            s.execute(sa.select(WorkflowRunLog).where(WorkflowRunLog.run_id == run_id))
            .scalars()
            .first()
            if run_id
            else None
        )
        gate = (
            s.execute(
                sa.select(ProposedAction).where(
                    ProposedAction.entity_ref == gate_entity_ref(run_id)
                )
            )
            .scalars()
            .first()
            if run_id
            else None
        )
        keys = [event_key(a, quote_id) for a in QuoteAction]
        events = s.execute(
            sa.select(Event).where(Event.idempotency_key.in_(keys)).order_by(Event.occurred_at)
        ).scalars()
        successors = list(
            s.execute(
                sa.select(Quote.id, Quote.generated_at).where(Quote.supersedes_quote_id == quote_id)
            ).all()
        )

        history = []
        approved_at = gate.decided_at if gate is not None else None
        if gate is not None and gate.decided_at is not None:
            history.append(
                HistoryEntry(
                    at=gate.decided_at,
                    what=f"approval gate {gate.status}",
                    kind="gate",
                    status=gate.status,
                    by=gate.approver,
                    notes=gate.decision_notes,
                )
            )
        history.append(  # after the approval that made it, even at the same moment
            HistoryEntry(
                at=written_at(q.generated_at, approved_at),
                what=f"quote written (lifecycle proposed) by run {run_id or '-'}"
                + (f", revising {q.supersedes_quote_id}" if q.supersedes_quote_id else ""),
                kind="written",
                ref=q.supersedes_quote_id,
            )
        )
        history.extend(
            HistoryEntry(
                at=e.occurred_at,
                what=e.type
                + (
                    f" by revision {e.payload['superseded_by']}"
                    if e.payload.get("superseded_by")
                    else ""
                ),
                kind="event",
                status=e.type,
                ref=e.payload.get("superseded_by"),
                by=e.payload.get("actor"),
                notes=e.payload.get("notes"),
            )
            for e in events
        )
        history.extend(
            HistoryEntry(at=generated, what=f"revision {rid} written", kind="revision", ref=rid)
            for rid, generated in successors
        )
        history.sort(key=lambda h: h.at)
        allowed = [
            a.value
            for a in (QuoteAction.accept, QuoteAction.decline)
            if q.lifecycle_status in TRANSITIONS[a].allowed_from
        ]
        return QuoteDetail(
            quote=_summary(q, customer.name if customer else None),
            cost_total=q.cost_total,
            pdf_key=q.pdf_key,
            flow_run_id=run_id,
            run_status=run_log.status if run_log else None,
            lines=[LineRow.model_validate(ln.model_dump()) for ln in lines],
            proposals=[ProposalView.of(p) for p in proposals],
            pushes=[PushRow.model_validate(p.model_dump()) for p in pushes],
            email=email,
            verify=[VerifyRow.model_validate(v.model_dump()) for v in verify],
            superseded_by=[rid for rid, _ in successors],
            history=history,
            allowed_actions=allowed,
        )
