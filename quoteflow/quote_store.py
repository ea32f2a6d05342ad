"""The writes a quote's run makes to the quote itself: the quote with its lines and the
proposed pricing (one transaction, once per run; a revision supersedes the old quote in
it), then the PDF's key, the customer's AR forecast touch, and ``sent`` once the email
went out. Each write is safe to repeat. Reading quotes: quoteflow.quote_book."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session

from quoteflow.approvals import gate_entity_ref
from quoteflow.db import session_scope
from quoteflow.lifecycle import QuoteAction, TransitionRefused, apply_transition, emit_pending
from quoteflow.models import (
    CustomerProfile,
    LifecycleStatus,
    PricingMaster,
    ProposedAction,
    ProposedPricing,
    Quote,
    QuoteLine,
    utcnow,
)
from quoteflow.quote import QuoteLineView, QuotePreview
from quoteflow.sending import may_mark_sent
from quoteflow.settings import approver_or_default


class QuoteWriteRefused(ValueError):
    """The quote cannot be written, now or on any retry: nothing quotable, its id taken
    by another run, or the quote it revises can no longer be revised."""


class WrittenQuote(BaseModel):
    quote_id: str
    line_count: int
    subtotal: str
    pricing_rows: int  # proposed_pricing rows recorded (pricing_master is not touched)
    created: bool


def write_quote(preview: QuotePreview, run_id: str) -> WrittenQuote:
    """INSERT the quote (lifecycle ``proposed``) and its lines, the overridden prices as
    proposed pricing, and supersede the revised quote; a repeat by the same run finds
    the quote it wrote. QuoteWriteRefused when it cannot be written."""
    lines = preview.quotable_lines
    if not lines:
        raise QuoteWriteRefused("no quotable lines: every item is unresolved or unpriced")
    with session_scope() as s:
        existing = s.get(Quote, preview.quote_id)
        if existing is not None:
            return _written_before(s, existing, run_id)
        now = utcnow()
        events = []
        if preview.supersedes_quote_id:
            try:
                _, events = apply_transition(
                    s,
                    preview.supersedes_quote_id,
                    QuoteAction.supersede,
                    actor="customer-quote",
                    now=now,
                    extra={"superseded_by": preview.quote_id, "run_id": run_id},
                )
            except TransitionRefused as exc:
                raise QuoteWriteRefused(f"cannot revise: {exc}") from exc
        s.add(_quote_row(preview, run_id, now))
        s.flush()  # the quote row first: quote_lines reference it
        s.add_all(_line_rows(preview.quote_id, lines))
        pricing_rows = _record_proposals(s, preview, lines, run_id, now)
    emit_pending(events)
    return WrittenQuote(
        quote_id=preview.quote_id,
        line_count=len(lines),
        subtotal=str(preview.subtotal),
        pricing_rows=pricing_rows,
        created=True,
    )


def _written_before(s: Session, existing: Quote, run_id: str) -> WrittenQuote:
    if existing.flow_run_id != run_id:
        raise QuoteWriteRefused(
            f"quote {existing.id} already exists (written by run {existing.flow_run_id})"
        )
    count = s.execute(
        sa.select(sa.func.count()).where(QuoteLine.quote_id == existing.id)
    ).scalar_one()
    return WrittenQuote(
        quote_id=existing.id,
        line_count=count,
        subtotal=str(existing.subtotal),
        pricing_rows=0,
        created=False,
    )


def _quote_row(preview: QuotePreview, run_id: str, now: datetime) -> Quote:
    return Quote(
        id=preview.quote_id,
        customer_id=preview.customer_id,
        school_year=preview.school_year,
        catalog=preview.catalog,
        lifecycle_status=LifecycleStatus.proposed,
        generated_at=preview.generated_at,
        flow_run_id=run_id,
        supersedes_quote_id=preview.supersedes_quote_id,
        currency=preview.currency,
        subtotal=preview.subtotal,
        cost_total=preview.cost_total,
        margin_pct=preview.margin_pct,
        valid_until=preview.valid_until,
        updated_at=now,
    )


def _line_rows(quote_id: str, lines: list[QuoteLineView]) -> list[QuoteLine]:
    return [
        QuoteLine(
            quote_id=quote_id,
            line_no=n,
            item_code=line.item_code,
            netsuite_item_id=line.netsuite_item_id or "",
            description=line.description,
            unit=line.unit,
            quantity=line.quantity,
            case_price=line.case_price,
            cost_basis=line.cost_basis,
            margin_pct=line.margin_pct,
            line_total=line.line_total,
            price_source=line.price_source,
        )
        for n, line in enumerate(lines, start=1)
    ]


def _record_proposals(
    s: Session, preview: QuotePreview, lines: list[QuoteLineView], run_id: str, now: datetime
) -> int:
    """One proposed_pricing row per overridden line, with the price it would replace and
    the approver recorded on the run's gate."""
    overridden = [ln for ln in lines if ln.price_source == "override" and ln.case_price is not None]
    if not overridden:
        return 0
    approver = s.execute(
        sa.select(ProposedAction.approver).where(
            ProposedAction.entity_ref == gate_entity_ref(run_id)
        )
    ).scalar_one_or_none()
    current = dict(
        s.execute(
            sa.select(PricingMaster.item_code, PricingMaster.case_price).where(
                PricingMaster.customer_id == preview.customer_id,
                PricingMaster.school_year == preview.school_year,
                PricingMaster.item_code.in_([ln.item_code for ln in overridden]),
            )
        ).all()
    )
    for line in overridden:
        assert line.case_price is not None
        s.add(
            ProposedPricing(
                quote_id=preview.quote_id,
                customer_id=preview.customer_id,
                item_code=line.item_code,
                school_year=preview.school_year,
                old_price=current.get(line.item_code),
                new_price=line.case_price,
                cost_basis=line.cost_basis,
                margin_pct=line.margin_pct,
                approver=approver_or_default(approver),
                proposed_at=now,
            )
        )
    return len(overridden)


def record_pdf_key(quote_id: str, key: str) -> None:
    """The quote's stored PDF (nothing to do for a quote that is gone or already has it)."""
    with session_scope() as s:
        quote = s.get(Quote, quote_id)
        if quote is not None and quote.pdf_key != key:
            quote.pdf_key = key
            quote.updated_at = utcnow()
            s.add(quote)


def touch_ar_forecast(customer_id: str, quote_id: str) -> datetime | None:
    """UPDATE customer_profiles SET last_quote_event = now WHERE customer_id = ?: the time
    this quote touched it (kept on a repeat); None when the customer has no profile row."""
    now = utcnow()
    with session_scope() as s:
        profile = s.get(CustomerProfile, customer_id)
        if profile is None:
            return None
        if profile.last_quote_id == quote_id and profile.last_quote_event is not None:
            return profile.last_quote_event  # this quote already touched it
        profile.last_quote_event = now
        profile.last_quote_id = quote_id
        profile.updated_at = now
        s.add(profile)
    return now


def mark_sent(quote_id: str) -> str | None:
    """Set the quote's lifecycle_status to sent (from draft or proposed only); returns the
    status the quote ends with, None when there is no such quote."""
    with session_scope() as s:
        quote = s.get(Quote, quote_id)
        if quote is None:
            return None
        if may_mark_sent(quote.lifecycle_status):
            quote.lifecycle_status = LifecycleStatus.sent
            quote.updated_at = utcnow()
            s.add(quote)
        return str(quote.lifecycle_status)
