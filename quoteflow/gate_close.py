"""A gate whose run ended abnormally while the gate waited (the run failed or was
cancelled: nothing will act on a decision any more) is closed, not left pending: every
channel would otherwise keep offering a decision that goes nowhere. Closing is one
conditional write (pending -> expired, with the reason as its notes), one alert to Mike
that says what happened and how to quote again, and the expiry notice marked as covered
by that alert (one cause, one message)."""

from __future__ import annotations

import sqlalchemy as sa

from quoteflow import ledger
from quoteflow.approvals import find_action, gate_entity_ref
from quoteflow.db import session_scope
from quoteflow.models import ActionStatus, ActionType, ActionView, ProposedAction, utcnow
from quoteflow.notices import notice_key

CLOSED_BY = "quoteflow"


def gate_closed_key(action_id: int) -> str:
    """The ledger key of the one alert for a gate closed by its run's end."""
    return f"alert:gate-closed:{action_id}"


def close_abandoned_gate(run_id: str, reason: str) -> ActionView | None:
    """Close this run's gate if it is still pending; returns it closed, or None when
    there is none or it was already decided (a decision that won the race stands)."""
    gate = find_action(ActionType.quote_gate, gate_entity_ref(run_id))
    if gate is None or gate.status != ActionStatus.pending:
        return None
    t = ProposedAction
    notes = f"closed: its run ended before a decision ({reason})"[:2000]
    with session_scope() as s:
        won = s.execute(
            sa.update(t)
            .where(t.id == gate.id, t.status == ActionStatus.pending.value)
            .values(
                status=ActionStatus.expired.value,
                approver=CLOSED_BY,
                decision_notes=notes,
                decided_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        ).rowcount
    if won != 1:
        return None
    quote = (gate.payload.get("preview") or {}).get("quote_id", "?")
    customer = (gate.payload.get("preview") or {}).get("customer_name", "the customer")
    ledger.record_alert(
        run_id=run_id,
        step="approval_gate",
        attempts=1,
        error=f"The run that waited for your decision ended: {reason}. Nothing was sent to "
        "the customer or to NetSuite.",
        key=gate_closed_key(gate.id),
        headline=f"Quote {quote} for {customer} can no longer be approved",
        what_to_do=f"re-open it to quote again (approval page: Re-open, or "
        f"`quoteflow actions reopen {gate.id}`); the new quote comes back for approval.",
    )
    # The expiry sweep would tell Mike again ("no decision was made in time"): not so.
    ledger.record_event(
        "notice.sent",
        notice_key("expired", gate.id),
        payload={"covered_by": gate_closed_key(gate.id)},
        resource_id=f"quoteflow.notice.expired.{gate.id}",
    )
    with session_scope() as s:
        row = s.get(ProposedAction, gate.id)
        assert row is not None
        return ActionView.of(row)
