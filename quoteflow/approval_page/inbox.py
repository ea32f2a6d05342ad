"""The list: what waits for Mike (soonest deadline first) and what was decided lately."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from quoteflow import approvals, quotables
from quoteflow.approval_page.inbox_view import build_inbox, page_number
from quoteflow.approval_page.rendering import render
from quoteflow.approvals import approved_gate_preview
from quoteflow.attention import needs_attention
from quoteflow.mail import EmailDraft
from quoteflow.models import ActionType, ActionView
from quoteflow.presentation import format_money
from quoteflow.quote import QuotePreview, QuoteRequest

# The list reloads itself (no scripts under this CSP): only the list, which has no form
# whose typing a reload would lose.
INDEX_REFRESH_SECONDS = 30


def summary(action: ActionView, names: Mapping[str, str]) -> str:
    """One line saying what the action is about, for the list (approved prices once
    approved); ``names``: customer names by id, for drafts."""
    try:
        if action.action_type == ActionType.quote_gate:
            approved = approved_gate_preview(action)
            p = approved or QuotePreview.model_validate(action.payload["preview"])
            return (
                f"{p.customer_name}: quote {p.quote_id}, {len(p.quotable_lines)} line(s), "
                f"subtotal {format_money(p.subtotal, p.currency)}"
                + (" as approved" if approved else "")
            )
        if action.action_type == ActionType.quote_draft:
            r = QuoteRequest.model_validate(action.payload["request"])
            who = names.get(r.customer_id, f"customer {r.customer_id}")
            return f"{who}: new quote, {len(r.item_codes)} item(s), school year {r.school_year}"
        if action.action_type == ActionType.send_quote:
            e = EmailDraft.model_validate(action.payload)
            return f"email to {e.to_name or e.to}: {e.subject}"
    except (KeyError, TypeError, ValidationError):
        pass
    return ""


async def index(request: Request) -> Response:
    actions = await run_in_threadpool(approvals.list_actions)
    names = {c.id: c.name for c in await run_in_threadpool(quotables.customers)}
    attention = await run_in_threadpool(needs_attention)
    inbox = build_inbox(
        actions,
        summary=lambda a: summary(a, names),
        now=datetime.now(UTC),
        names=names,
        page=page_number(request.query_params.get("page")),
    )
    return render(
        request,
        "index.html",
        attention=attention,
        attention_ids={e.action_id for e in attention},
        inbox=inbox,
        refresh_seconds=INDEX_REFRESH_SECONDS,
    )
