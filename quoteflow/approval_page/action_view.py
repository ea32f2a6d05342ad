"""The page of one proposed action: what it proposes, and the decision form while it is
pending; once decided, what was decided and what followed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse

from quoteflow.approval_page.drafts import draft_context
from quoteflow.approval_page.email_view import email_context
from quoteflow.approval_page.forms import (
    CONFIRM_FIELD,
    HASH_FIELD,
    PRICE_FIELD_PREFIX,
    compare_rows,
)
from quoteflow.approval_page.rendering import render, run_url
from quoteflow.approval_page.wording import window_closed
from quoteflow.approvals import approved_gate_preview
from quoteflow.models import ActionStatus, ActionType, ActionView
from quoteflow.presentation import format_money, plain_warnings, preview_rows
from quoteflow.quote import QuotePreview
from quoteflow.settings import get_settings

APPROVED_NEXT = {
    ActionType.quote_gate: "The quote is being made with your decision: the quote, its PDF, the "
    "NetSuite estimate and the customer email draft follow.",
    ActionType.quote_draft: "The quote is being prepared; it will wait here for your approval.",
    ActionType.send_quote: "The email is being sent to the customer now.",
}


def gate_preview(action: ActionView) -> QuotePreview | None:
    """The quote a gate proposes; None for other actions or an unreadable payload."""
    if action.action_type != ActionType.quote_gate:
        return None
    try:
        return QuotePreview.model_validate(action.payload["preview"])
    except (KeyError, TypeError, ValidationError):
        return None


def _run_report(action: ActionView) -> str:
    """ "started <run link>" / "resumed <run link>" / "queued, starting..." after a decision."""
    from quoteflow.channel_feedback import start_report

    return start_report(action, wait_seconds=0)


def _gate_context(action: ActionView, url: str | None) -> dict[str, Any]:
    preview = QuotePreview.model_validate(action.payload["preview"])
    rows = [
        {
            **r,
            "code": line.item_code,
            "cost": ""
            if line.cost_basis is None
            else format_money(line.cost_basis, preview.currency),
            "priceable": line.resolved,
            "flagged": bool(line.flags),
        }
        for r, line in zip(preview_rows(preview), preview.lines, strict=True)
    ]
    context: dict[str, Any] = {
        "kind": "gate",
        "preview": preview,
        "rows": rows,
        "plain_warnings": plain_warnings(preview, get_settings().margin_floor_pct),
    }
    approved = approved_gate_preview(action)
    if approved is not None:
        context.update(
            approved=approved,
            compare=compare_rows(preview, approved),
            approved_warnings=plain_warnings(approved, get_settings().margin_floor_pct),
        )
    if action.status != ActionStatus.pending:
        from quoteflow.timeline import gate_outcome

        context.update(outcome=gate_outcome(action, run_url=url))
    return context


def action_page(
    request: Request,
    action: ActionView,
    *,
    status: int = 200,
    done: str | None = None,
    error: str | None = None,
    error_field: str | None = None,
    values: Mapping[str, str] | None = None,
    review: dict[str, Any] | None = None,
    link: str | None = None,
    seen_hash: str | None = None,
    locked: str | None = None,
) -> HTMLResponse:
    """Opened from a signed ``link``, the form posts back to it; ``locked`` says why no
    decision can be taken here."""
    url = run_url(action.flow_run_id)
    context: dict[str, Any] = {
        "a": action,
        "link": link,
        "seen_hash": seen_hash or action.payload_hash,
        "locked": locked,
        "hash_field": HASH_FIELD,
        "confirm_field": CONFIRM_FIELD,
        "review": review,
        "compare": None,
        "approved": None,
        "outcome": None,
        "price_prefix": PRICE_FIELD_PREFIX,
        "values": dict(values or {}),
        "error": error,
        "error_field": error_field,
        "done": done,
        "next_step": APPROVED_NEXT.get(action.action_type, ""),
        # Right after an approval: is its run there yet? (one look, no waiting)
        "run_report": _run_report(action) if done == ActionStatus.approved else "",
        "closed": window_closed(action),
        "run_url": url,
        "kind": "raw",
        "raw": json.dumps(action.payload, indent=2, sort_keys=True, default=str),
    }
    try:
        if action.action_type == ActionType.quote_gate:
            context.update(_gate_context(action, url))
        elif action.action_type == ActionType.send_quote:
            context.update(email_context(action))
        elif action.action_type == ActionType.quote_draft:
            context.update(draft_context(action))
    except (KeyError, TypeError, ValidationError) as exc:
        context.update(kind="raw", payload_problem=str(exc).splitlines()[0])
    context.setdefault("payload_problem", None)
    return render(request, "action.html", status, **context)
