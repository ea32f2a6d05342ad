"""Starting a quote from a request, the same for every channel that drafts (the approval
page's New quote, Slack): the customer must exist and not be blocked, then one quote_draft
is staged and approved, so one customer-quote run starts."""

from __future__ import annotations

import contextlib

from quoteflow import approvals, quotables
from quoteflow.models import ActionView
from quoteflow.quotables import CustomerEntry
from quoteflow.quote import CustomerRecord, QuoteContext, QuoteRequest, check_blocking


class DraftRefused(ValueError):
    """A request that cannot be quoted; the message names the customer and the reason."""


def customer_problem(customer: CustomerEntry) -> str | None:
    """Why this customer cannot be quoted (on hold, ...), or None."""
    blocked = check_blocking(QuoteContext(customer=CustomerRecord(**customer.model_dump())))
    return blocked[0].message if blocked else None


def start_quote(
    request: QuoteRequest, *, approver: str, notes: str, entity_ref: str | None = None
) -> ActionView:
    """Stage the quote_draft and approve it as ``approver``. The same ``entity_ref`` stages
    once (a double press gives the same draft). Should approving fail, the draft stays
    pending where Mike can decide it; the draft is returned either way."""
    customer = quotables.find_customer(request.customer_id)
    if customer is None or customer.id != request.customer_id:
        raise DraftRefused(f"customer {request.customer_id!r} does not exist")
    problem = customer_problem(customer)
    if problem:
        raise DraftRefused(f"customer {customer.label!r}: {problem}; it cannot be quoted")
    draft = approvals.draft_quote(request, entity_ref=entity_ref)
    if draft.status == "pending":
        with contextlib.suppress(approvals.ApprovalError):
            approvals.approve(
                draft.id, approver=approver, notes=notes, expected_hash=draft.payload_hash
            )
    return approvals.get_action(draft.id)
