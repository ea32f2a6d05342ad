"""What followed a decided quote gate, read back for the approval page: the run, then the
quote it wrote (its PDF, NetSuite estimate, customer email and verify checks) as the one
read model of a quote (quoteflow.quote_book) tells it.

Reads only. Each step is read on its own: one unreadable part (the Prefect server down)
shows as unknown, never hides the rest.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from quoteflow import prefect_api
from quoteflow.models import ActionView
from quoteflow.presentation import check_detail_text, check_text, format_money
from quoteflow.quote import written_at
from quoteflow.quote_book import QuoteDetail, get_quote, quote_of_run


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
        run = prefect_api.read_run(flow_run_id)
    except Exception as exc:  # the page still shows the rest
        return f"unknown ({type(exc).__name__})", None
    if run is None or run.state is None:
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
        TimelineStep(
            step="Run",
            status=state,
            detail="its log in Prefect" if run_url else "",
            at=at,
            link=run_url,
        )
    )
    quote_id = quote_of_run(action.flow_run_id)
    detail = get_quote(quote_id) if quote_id else None
    if detail is None:
        steps.append(TimelineStep(step="Quote", status="not written"))
        return GateOutcome(steps=steps)
    steps.extend(_quote_steps(action, detail))
    return GateOutcome(quote_id=detail.quote.id, pdf_key=detail.pdf_key, steps=steps)


def _quote_steps(action: ActionView, detail: QuoteDetail) -> list[TimelineStep]:
    """The quote the run wrote, from the one read model of a quote."""
    quote, email = detail.quote, detail.email
    push = detail.pushes[0] if detail.pushes else None
    if quote.netsuite_id:
        estimate = f"estimate id {quote.netsuite_id}"
    else:
        estimate = (push.last_error or "") if push else ""
    draft = ""
    if email.draft_id is not None:
        draft = f"#{email.draft_id}" + (
            f" decided by {email.decided_by}" if email.decided_by else ""
        )
    steps = [
        TimelineStep(
            step="Quote",
            status=quote.status,
            detail=f"{quote.id}, subtotal {format_money(quote.subtotal, quote.currency)}",
            at=written_at(quote.generated_at, action.decided_at),
        ),
        TimelineStep(
            step="PDF",
            status="stored" if detail.pdf_key else "none",
            detail=detail.pdf_key or "no PDF for this quote",
            link=f"/actions/{action.id}/pdf" if detail.pdf_key else None,
        ),
        TimelineStep(
            step="NetSuite estimate",
            status=push.status if push else "not pushed",
            detail=estimate,
            at=push.applied_at if push else None,
        ),
        TimelineStep(
            step="Email draft",
            status=email.draft_status or "not drafted",
            detail=draft,
            at=email.decided_at,
            link=f"/actions/{email.draft_id}" if email.draft_id is not None else None,
        ),
        TimelineStep(
            step="Email sent",
            status="sent" if email.sent else "not sent",
            detail=f"to {email.sent_to}" if email.sent else "",
            at=email.sent_at,
        ),
    ]
    steps.extend(
        TimelineStep(
            step=f"Check: {check_text(check.check_name)}",
            status=check.status,
            detail=check_detail_text(check.detail),
            at=check.checked_at,
        )
        for check in sorted(detail.verify, key=lambda c: c.check_name)
    )
    return steps
