"""What the page says when a link or a decision can no longer be used: in Mike's words,
with times from the one formatter (quoteflow.presentation.format_when)."""

from __future__ import annotations

from datetime import UTC, datetime

from quoteflow.models import ActionStatus, ActionView, as_utc
from quoteflow.presentation import format_when


def window_closed(action: ActionView, now: datetime | None = None) -> bool:
    """Still pending, but its time to decide has ended."""
    return (
        action.status == ActionStatus.pending
        and action.expires_at is not None
        and as_utc(action.expires_at) <= (now or datetime.now(UTC))
    )


def link_spent(action: ActionView) -> str | None:
    """Why a link to this action can no longer be used (it was decided or it expired)."""
    if action.status == ActionStatus.pending:
        if window_closed(action):
            return f"This expired on {format_when(action.expires_at)}; nothing was decided."
        return None
    if action.status == ActionStatus.expired:
        return f"This expired on {format_when(action.decided_at)}; nothing was decided."
    notes = f' Notes: "{action.decision_notes}".' if action.decision_notes else ""
    return (
        f"This was already {action.status} by {action.approver} on "
        f"{format_when(action.decided_at)}.{notes}"
    )


def too_late(action: ActionView) -> str:
    """What a decision after the deadline tells Mike, in words (no run ids)."""
    when = format_when(action.expires_at) if action.expires_at else "its deadline"
    again = (
        " Re-open it below to quote the same items again."
        if action.action_type == ("workflow_customer_quote")
        else ""
    )
    return f"Too late: the time to decide ended on {when}, so nothing was decided.{again}"
