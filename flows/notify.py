"""notify-mike (started by the Automation on alert / verify.failed / verify.timeout events)
and approval-reminders (every minute: missed notices, reminders, prompt expiry)."""

from __future__ import annotations

from typing import Any

from prefect import flow
from pydantic import BaseModel

from quoteflow.settings import get_settings
from tasks.approvals import expire_stale_gates
from tasks.notify import notify_alert, send_due_notices


@flow(name="notify-mike", description="Tell Mike about an alert or a failed verify check.")
def notify_mike(event_type: str, event_id: str, payload: dict[str, Any]) -> bool:
    """Send the alert notice for one event (a repeat of the event sends nothing)."""
    return notify_alert(event_type, event_id, payload)


class RemindersResult(BaseModel):
    """What one sweep did."""

    expired_runs: list[str]
    notices_sent: list[str]


@flow(
    name="approval-reminders",
    description="Every minute: expire gates whose window closed, remind Mike before a gate "
    "expires, and re-send notices that did not go out.",
)
def approval_reminders() -> RemindersResult:
    """Expiry first, so the same sweep tells Mike about it."""
    grace = get_settings().expiry_grace_seconds / 60
    expired = expire_stale_gates(grace_minutes=grace)
    return RemindersResult(expired_runs=expired, notices_sent=send_due_notices())
