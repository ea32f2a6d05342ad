"""A quote draft on the page: what it asks for, what would block it before Mike
approves, and how its run ended after."""

from __future__ import annotations

from typing import Any

from quoteflow import quotables
from quoteflow.attention import draft_blockers, draft_end
from quoteflow.models import ActionStatus, ActionView
from quoteflow.quote import QuoteRequest


def draft_context(action: ActionView) -> dict[str, Any]:
    """The template context of a quote draft (``kind="draft"``)."""
    request = QuoteRequest.model_validate(action.payload["request"])
    pending = action.status == ActionStatus.pending
    return {
        "kind": "draft",
        "request": request,
        "customer_name": quotables.customer_name(request.customer_id),
        "descriptions": quotables.item_descriptions(request.item_codes),
        "blockers": draft_blockers(request.customer_id) if pending else [],
        "draft_end": draft_end(action.id) if action.status == ActionStatus.approved else None,
    }
