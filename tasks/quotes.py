"""write_quote: the quote, its lines and the proposed pricing, in one transaction."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from prefect import task
from pydantic import BaseModel
from sqlmodel import Session

from quoteflow.approvals import gate_entity_ref
from quoteflow.db import session_scope
from quoteflow.lifecycle import (
    QuoteAction,
    TransitionRefused,
    apply_transition,
    emit_pending,
)
from quoteflow.models import (
    LifecycleStatus,
    PricingMaster,
    ProposedAction,
    ProposedPricing,
    Quote,
    QuoteLine,
    utcnow,
)
from quoteflow.quote import (
    QuoteContext,
    QuoteLineView,
    QuotePreview,
    QuoteRequest,
    build_preview,
)
from quoteflow.settings import get_settings
from tasks.policy import PermanentStepError, fanout_task_options


class WrittenQuote(BaseModel):
    quote_id: str
    line_count: int
    subtotal: str
    pricing_rows: int  # proposed_pricing rows recorded (pricing_master is not touched)
    created: bool


@task(name="write_quote", **fanout_task_options())
def write_quote(preview: QuotePreview, flow_run_id: str) -> WrittenQuote:
    """INSERT quotes + quote_lines (batch), lifecycle `proposed`; overridden prices are
    recorded as proposed pricing (pricing_master changes only when the customer accepts);
    the revised quote, if any, is superseded. A re-run finds the quote it wrote."""
    lines = preview.quotable_lines
    if not lines:
        raise PermanentStepError("no quotable lines: every item is unresolved or unpriced")
    with session_scope() as s:
        existing = s.get(Quote, preview.quote_id)
        if existing is not None:
            if existing.flow_run_id != flow_run_id:
                raise PermanentStepError(
                    f"quote {preview.quote_id} already exists (written by run {existing.flow_run_id})"
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
                    extra={"superseded_by": preview.quote_id, "run_id": flow_run_id},
                )
            except TransitionRefused as exc:
                raise PermanentStepError(f"cannot revise: {exc}") from exc
        s.add(
            Quote(
                id=preview.quote_id,
                customer_id=preview.customer_id,
                school_year=preview.school_year,
                catalog=preview.catalog,
                lifecycle_status=LifecycleStatus.proposed,
                generated_at=preview.generated_at,
                flow_run_id=flow_run_id,
                supersedes_quote_id=preview.supersedes_quote_id,
                currency=preview.currency,
                subtotal=preview.subtotal,
                cost_total=preview.cost_total,
                margin_pct=preview.margin_pct,
                valid_until=preview.valid_until,
                updated_at=now,
            )
        )
        s.flush()  # the quote row first: quote_lines reference it
        s.add_all(
            QuoteLine(
                quote_id=preview.quote_id,
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
        )
        pricing_rows = _record_proposals(s, preview, lines, flow_run_id, now)
    emit_pending(events)
    return WrittenQuote(
        quote_id=preview.quote_id,
        line_count=len(lines),
        subtotal=str(preview.subtotal),
        pricing_rows=pricing_rows,
        created=True,
    )


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
                approver=approver or get_settings().approvers[0],
                proposed_at=now,
            )
        )
    return len(overridden)


@task(persist_result=True)
def build_quote_preview(
    request: QuoteRequest,
    context: QuoteContext,
    quote_id: str,
    supersedes_quote_id: str | None,
) -> QuotePreview:
    """Price the requested items from the context: lines, totals, warnings. Persisted, so
    a resumed run shows and executes exactly what Mike saw."""
    settings = get_settings()
    return build_preview(
        request,
        context,
        quote_id=quote_id,
        supersedes_quote_id=supersedes_quote_id,
        now=utcnow(),
        validity_days=settings.quote_validity_days,
        margin_floor=settings.margin_floor_pct,
        currency=settings.currency,
    )
