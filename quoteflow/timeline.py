"""What followed a decided quote gate, read back for the approval page: the run, the quote
row, its PDF, the NetSuite estimate, the customer email and the verify checks.

Reads only. Each step is read on its own: one unreadable part (the Prefect server down)
shows as unknown, never hides the rest.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from pydantic import BaseModel

from quoteflow.approvals import find_action
from quoteflow.db import session_scope
from quoteflow.models import (
    ActionView,
    NsPendingPush,
    OutboundEmailLog,
    Quote,
    WorkflowVerifyResult,
)
from quoteflow.presentation import format_money
from quoteflow.quote import written_at


class TimelineStep(BaseModel):
    """One thing that happened (or has not yet) after the decision."""

    step: str
    status: str
    detail: str = ""
    at: datetime | None = None
    link: str | None = None


class GateOutcome(BaseModel):
    quote_id: str | None = None
    pdf_key: str | None = None
    steps: list[TimelineStep]


def _run_state(flow_run_id: str) -> tuple[str, datetime | None]:
    try:
        from prefect import get_client

        with get_client(sync_client=True) as client:
            run = client.read_flow_run(UUID(flow_run_id))
    except Exception as exc:  # the page still shows the rest
        return f"unknown ({type(exc).__name__})", None
    if run.state is None:
        return "unknown", None
    return run.state.name, run.state.timestamp


def gate_outcome(action: ActionView, *, run_url: str | None = None) -> GateOutcome:
    """The timeline of a decided quote gate, in the order things happen."""
    steps = [
        TimelineStep(
            step="Decision",
            status=action.status,
            detail=f"by {action.approver}"
            + (f": {action.decision_notes}" if action.decision_notes else ""),
            at=action.decided_at,
        )
    ]
    if not action.flow_run_id:
        return GateOutcome(steps=steps)
    state, at = _run_state(action.flow_run_id)
    steps.append(
        TimelineStep(step="Run", status=state, detail=action.flow_run_id, at=at, link=run_url)
    )
    with session_scope() as s:
        quote = (
            s.execute(sa.select(Quote).where(Quote.flow_run_id == action.flow_run_id))
            .scalars()
            .first()
        )
        if quote is None:
            steps.append(TimelineStep(step="Quote", status="not written"))
            return GateOutcome(steps=steps)
        push = (
            s.execute(sa.select(NsPendingPush).where(NsPendingPush.quote_id == quote.id))
            .scalars()
            .first()
        )
        sent = (
            s.execute(
                sa.select(OutboundEmailLog)
                .where(OutboundEmailLog.related_quote_id == quote.id)
                .order_by(OutboundEmailLog.sent_at.desc())
            )
            .scalars()
            .first()
        )
        checks = (
            s.execute(
                sa.select(WorkflowVerifyResult)
                .where(WorkflowVerifyResult.run_id == action.flow_run_id)
                .order_by(WorkflowVerifyResult.check_name)
            )
            .scalars()
            .all()
        )
        steps.append(
            TimelineStep(
                step="Quote",
                status=quote.lifecycle_status,
                detail=f"{quote.id}, subtotal {format_money(quote.subtotal, quote.currency)}",
                at=written_at(quote.generated_at, action.decided_at),
            )
        )
        steps.append(
            TimelineStep(
                step="PDF",
                status="stored" if quote.pdf_key else "none",
                detail=quote.pdf_key or "no PDF for this quote",
                link=f"/actions/{action.id}/pdf" if quote.pdf_key else None,
            )
        )
        steps.append(
            TimelineStep(
                step="NetSuite estimate",
                status=push.status if push else "not pushed",
                detail=f"estimate id {quote.netsuite_id}"
                if quote.netsuite_id
                else (push.last_error or "")
                if push
                else "",
                at=push.applied_at if push else None,
            )
        )
        email = find_action("send_quote_to_customer", f"quote:{quote.id}")
        steps.append(
            TimelineStep(
                step="Email draft",
                status=email.status if email else "not drafted",
                detail=f"#{email.id}"
                + (f" decided by {email.approver}" if email and email.decided_at else "")
                if email
                else "",
                at=email.decided_at if email else None,
                link=f"/actions/{email.id}" if email else None,
            )
        )
        steps.append(
            TimelineStep(
                step="Email sent",
                status="sent" if sent else "not sent",
                detail=f"to {sent.to_addr}" if sent else "",
                at=sent.sent_at if sent else None,
            )
        )
        for check in checks:
            steps.append(
                TimelineStep(
                    step=f"Verify {check.check_name}",
                    status=check.status,
                    detail=check.detail or "",
                    at=check.checked_at,
                )
            )
        return GateOutcome(quote_id=quote.id, pdf_key=quote.pdf_key, steps=steps)
