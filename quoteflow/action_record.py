"""Recording a decision on a proposed action: the checks, then ONE conditional write.
No Prefect: the approval service (quoteflow.approvals) resumes runs and emits events."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from quoteflow.action_rules import already_decided, check_binding, expired_error
from quoteflow.action_store import get_action, mark_expired, write_decision
from quoteflow.models import ActionStatus, ActionView, utcnow
from quoteflow.quote import payload_hash
from quoteflow.settings import approver_or_default

ApprovalVerb = Literal["approve", "reject"]


def decide(
    action_id: int,
    decision: ApprovalVerb,
    *,
    approver: str | None = None,
    notes: str | None = None,
    expected_hash: str | None = None,
    approved_payload: dict[str, Any] | None = None,
    now: datetime | None = None,
    allow_same: bool = False,
    url: str | None = None,
) -> ActionView:
    """Approve or reject a pending, unexpired action in ONE conditional write, recording
    who, when, notes and what was approved (``approved_payload``, default the staged
    payload, and its hash). Of racing decisions exactly one wins; the others get an
    ApprovalError naming the winner. With ``allow_same``, the decision already taken is
    returned unchanged (a re-run of the flow that recorded it)."""
    approver = approver_or_default(approver)
    now = now or utcnow()
    wanted = ActionStatus.approved if decision == "approve" else ActionStatus.rejected
    # Checks read in their own short transaction; the write below is a single statement
    # (on SQLite a read transaction upgraded to a write can fail instead of waiting).
    action = get_action(action_id, url)
    if action.status != ActionStatus.pending:
        if allow_same and action.status == wanted:
            return action
        raise already_decided(action)
    if action.expires_at is not None and action.expires_at <= now:
        mark_expired(action_id, now, url)
        raise expired_error(action_id, action.expires_at)
    check_binding(action, expected_hash)
    values: dict[str, Any] = {
        "status": wanted.value,
        "approver": approver,
        "decision_notes": notes or None,
        "decided_at": now,
    }
    if wanted == ActionStatus.approved:
        approved = approved_payload if approved_payload is not None else action.payload
        values.update(approved_payload=approved, approved_payload_hash=payload_hash(approved))
    won = write_decision(action_id, action.payload_hash, values, url)
    after = get_action(action_id, url)
    if not won:
        if allow_same and after.status == wanted:
            return after
        raise already_decided(after)
    return after


def expire(action_id: int) -> ActionView:
    """Mark a still-pending action expired (idempotent)."""
    get_action(action_id)
    mark_expired(action_id, utcnow())
    return get_action(action_id)
