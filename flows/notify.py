"""notify-mike: started by the Automation on alert / verify.failed / verify.timeout events.
(Waiting-action notices, reminders and prompt expiry run in the reconcile flow.)"""

from __future__ import annotations

from typing import Any

from prefect import flow

from tasks.notify import notify_alert


@flow(name="notify-mike", description="Tell Mike about an alert or a failed verify check.")
def notify_mike(event_type: str, event_id: str, payload: dict[str, Any]) -> bool:
    """Send the alert notice for one event (a repeat of the event sends nothing)."""
    return notify_alert(event_type, event_id, payload)
