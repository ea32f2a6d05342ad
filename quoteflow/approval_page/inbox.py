"""The list: what waits for Mike (soonest deadline first) and what was decided lately."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from quoteflow import approvals, directory
from quoteflow.approval_page.rendering import render
from quoteflow.approval_page.wording import window_closed
from quoteflow.approvals import GATE_ACTION_TYPE, QUOTE_DRAFT_ACTION_TYPE, approved_gate_preview
from quoteflow.attention import needs_attention
from quoteflow.mail import SEND_ACTION_TYPE, EmailDraft
from quoteflow.models import ActionStatus, ActionView
from quoteflow.presentation import format_money
from quoteflow.quote import QuotePreview, QuoteRequest

RECENT_DECIDED = 25
# The list reloads itself (no scripts under this CSP): only the list, which has no form
# whose typing a reload would lose.
INDEX_REFRESH_SECONDS = 30


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def summary(action: ActionView, names: Mapping[str, str]) -> str:
    """One line saying what the action is about, for the list (approved prices once
    approved); ``names``: customer names by id, for drafts."""
    try:
        if action.action_type == GATE_ACTION_TYPE:
            approved = approved_gate_preview(action)
            p = approved or QuotePreview.model_validate(action.payload["preview"])
            return (
                f"{p.customer_name}: quote {p.quote_id}, {len(p.quotable_lines)} line(s), "
                f"subtotal {format_money(p.subtotal, p.currency)}"
                + (" as approved" if approved else "")
            )
        if action.action_type == QUOTE_DRAFT_ACTION_TYPE:
            r = QuoteRequest.model_validate(action.payload["request"])
            who = names.get(r.customer_id, f"customer {r.customer_id}")
            return f"{who}: new quote, {len(r.item_codes)} item(s), school year {r.school_year}"
        if action.action_type == SEND_ACTION_TYPE:
            e = EmailDraft.model_validate(action.payload)
            return f"to {e.to}: {e.subject}"
    except (KeyError, TypeError, ValidationError):
        pass
    return ""


async def index(request: Request) -> Response:
    actions = await run_in_threadpool(approvals.list_actions)
    now = datetime.now(UTC)
    pending = sorted(  # soonest deadline first; then, without one, newest first
        (a for a in actions if a.status == ActionStatus.pending),
        key=lambda a: (
            (0, _aware(a.expires_at).timestamp())
            if a.expires_at
            else (1, -_aware(a.created_at).timestamp())
        ),
    )
    decided = sorted(
        (a for a in actions if a.status != ActionStatus.pending),
        key=lambda a: _aware(a.decided_at or a.created_at),
        reverse=True,
    )[:RECENT_DECIDED]

    names = {c.id: c.name for c in await run_in_threadpool(directory.customers)}
    attention = await run_in_threadpool(needs_attention)

    def row(a: ActionView) -> dict[str, Any]:
        return {"a": a, "summary": summary(a, names), "closed": window_closed(a, now)}

    return render(
        request,
        "index.html",
        attention=attention,
        pending=[row(a) for a in pending],
        decided=[row(a) for a in decided],
        refresh_seconds=INDEX_REFRESH_SECONDS,
    )
