"""Proposed actions: staging them and deciding them. One implementation for every
channel (the flow's gate, the CLI, the approval page)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import sqlalchemy as sa
from prefect import get_client
from prefect.client.schemas.responses import SetStateStatus
from prefect.events import emit_event
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from quoteflow.db import session_scope
from quoteflow.models import ActionStatus, ProposedAction, utcnow
from quoteflow.quote import QuotePreview, QuoteRequest, apply_price_overrides, payload_hash

Decision = Literal["approve", "reject"]


class ApprovalError(Exception):
    """A decision that cannot be taken (not pending, expired, changed payload)."""


class ActionView(BaseModel):
    """A proposed action as flows, tasks and pages see it (never the table row)."""

    id: int
    action_type: str
    entity_ref: str
    status: str
    payload: dict[str, Any]
    payload_hash: str
    approver: str
    decision_notes: str | None
    decided_at: datetime | None
    approved_payload_hash: str | None
    flow_run_id: str | None
    expires_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: ProposedAction) -> ActionView:
        return cls.model_validate(row.model_dump())


def _find(session: Session, action_type: str, entity_ref: str) -> ProposedAction | None:
    stmt = sa.select(ProposedAction).where(
        ProposedAction.action_type == action_type, ProposedAction.entity_ref == entity_ref
    )
    return session.execute(stmt).scalars().first()


def stage_action(
    *,
    action_type: str,
    entity_ref: str,
    payload: dict[str, Any],
    approver: str = "mike",
    flow_run_id: str | None = None,
    expires_at: datetime | None = None,
    url: str | None = None,
) -> ActionView:
    """Get or create the action for (action_type, entity_ref): staging twice stages once."""
    with session_scope(url) as s:
        existing = _find(s, action_type, entity_ref)
        if existing is not None:
            return ActionView.of(existing)
        row = ProposedAction(
            action_type=action_type,
            entity_ref=entity_ref,
            payload=payload,
            payload_hash=payload_hash(payload),
            approver=approver,
            flow_run_id=flow_run_id,
            expires_at=expires_at,
        )
        s.add(row)
        try:
            s.flush()
        except IntegrityError:
            s.rollback()
            existing = _find(s, action_type, entity_ref)
            assert existing is not None
            return ActionView.of(existing)
        return ActionView.of(row)


def get_action(action_id: int, url: str | None = None) -> ActionView:
    with session_scope(url) as s:
        row = s.get(ProposedAction, action_id)
        if row is None:
            raise ApprovalError(f"proposed action {action_id} does not exist")
        return ActionView.of(row)


def find_action(action_type: str, entity_ref: str, url: str | None = None) -> ActionView | None:
    with session_scope(url) as s:
        row = _find(s, action_type, entity_ref)
        return ActionView.of(row) if row else None


def list_actions(
    *, status: str | None = None, action_type: str | None = None, url: str | None = None
) -> list[ActionView]:
    stmt = sa.select(ProposedAction).order_by(ProposedAction.created_at.desc())
    if status:
        stmt = stmt.where(ProposedAction.status == status)
    if action_type:
        stmt = stmt.where(ProposedAction.action_type == action_type)
    with session_scope(url) as s:
        return [ActionView.of(r) for r in s.execute(stmt).scalars().all()]


def decide(
    action_id: int,
    decision: Decision,
    *,
    approver: str = "mike",
    notes: str | None = None,
    expected_hash: str | None = None,
    now: datetime | None = None,
    allow_same: bool = False,
    url: str | None = None,
) -> ActionView:
    """Approve or reject a pending, unexpired action, recording who, when, notes and the
    payload hash approved. With ``allow_same``, repeating the decision already taken
    returns the action unchanged (a re-run of the flow that recorded it)."""
    now = now or utcnow()
    wanted = ActionStatus.approved if decision == "approve" else ActionStatus.rejected
    with session_scope(url) as s:
        stmt = sa.select(ProposedAction).where(ProposedAction.id == action_id).with_for_update()
        row = s.execute(stmt).scalars().first()
        if row is None:
            raise ApprovalError(f"proposed action {action_id} does not exist")
        if row.status != ActionStatus.pending:
            if allow_same and row.status == wanted:
                return ActionView.of(row)
            raise ApprovalError(
                f"proposed action {action_id} is already {row.status}"
                + (f" (decided {row.decided_at:%Y-%m-%d %H:%M} UTC)" if row.decided_at else "")
                + "; nothing changed"
            )
        if row.expires_at is not None and row.expires_at <= now:
            row.status = ActionStatus.expired
            s.commit()
            raise ApprovalError(
                f"proposed action {action_id} expired at {row.expires_at:%Y-%m-%d %H:%M} UTC; "
                "nothing was approved"
            )
        if expected_hash is not None and expected_hash != row.payload_hash:
            raise ApprovalError(
                f"proposed action {action_id} changed since it was shown (payload hash differs)"
            )
        row.status = wanted
        row.approver = approver
        row.decision_notes = notes or None
        row.decided_at = now
        if wanted == ActionStatus.approved:
            row.approved_payload_hash = row.payload_hash
        s.add(row)
        s.flush()
        return ActionView.of(row)


def expire(action_id: int, *, url: str | None = None) -> ActionView:
    """Mark a still-pending action expired (idempotent)."""
    with session_scope(url) as s:
        row = s.get(ProposedAction, action_id)
        if row is None:
            raise ApprovalError(f"proposed action {action_id} does not exist")
        if row.status == ActionStatus.pending:
            row.status = ActionStatus.expired
            row.decided_at = utcnow()
            s.add(row)
        return ActionView.of(row)


# ---------------------------------------------------------------- the approval path
# Every channel (CLI, approval page, Python) goes through approve()/reject() below:
# check, record, emit `proposed_action.<decision>`, and resume a waiting flow run.

QUOTE_DRAFT_ACTION_TYPE = "quote_draft"
GATE_ACTION_TYPE = "workflow_customer_quote"


def gate_entity_ref(flow_run_id: str) -> str:
    """The contract's entity_ref of a run's approval gate."""
    return f"workflow:customer_quote:run_{flow_run_id}"


def draft_quote(request: QuoteRequest, *, url: str | None = None) -> ActionView:
    """Stage a quote_draft proposed action (what the chat tool did). Approving it starts a
    customer-quote run through the deployment's event trigger."""
    return stage_action(
        action_type=QUOTE_DRAFT_ACTION_TYPE,
        entity_ref=f"draft:{uuid.uuid4().hex}",
        payload={"request": request.model_dump(mode="json")},
        url=url,
    )


def _emit_decision_event(action: ActionView) -> None:
    verb = "approved" if action.status == ActionStatus.approved else "rejected"
    emit_event(
        event=f"proposed_action.{verb}",
        resource={
            "prefect.resource.id": f"proposed-action.{action.id}",
            "prefect.resource.name": f"{action.action_type} {action.entity_ref}",
            "action_type": action.action_type,
            "entity_ref": action.entity_ref,
        },
        payload={
            **action.payload,
            "proposed_action_id": action.id,
            "decision_notes": action.decision_notes,
            "approver": action.approver,
        },
        # Repeats of one decision collapse; the creation time keeps ids unique should the
        # database be rebuilt while the Prefect server (and its event store) lives on.
        id=uuid.uuid5(
            uuid.NAMESPACE_URL,
            f"proposed-action/{action.id}/{action.created_at.isoformat()}/{verb}",
        ),
    )


def _resume_gate(action: ActionView, run_input: dict[str, Any]) -> None:
    """Resume the suspended (or paused) customer-quote run with Mike's typed input;
    the server's answer is checked: a rejected resume is an error."""
    if not action.flow_run_id:
        raise ApprovalError(f"proposed action {action.id} has no flow run to resume")
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(action.flow_run_id))
        if run.state is None or not run.state.is_paused():
            state = run.state.name if run.state else "unknown"
            raise ApprovalError(
                f"flow run {action.flow_run_id} is {state}, not waiting for a decision; nothing changed"
            )
        result = client.resume_flow_run(UUID(action.flow_run_id), run_input=run_input)
    if result.status != SetStateStatus.ACCEPT:
        reason = result.details.reason if result.details else str(result.status)
        raise ApprovalError(f"the Prefect server refused the decision: {reason}; nothing changed")


def _check_open(action: ActionView, now: datetime) -> None:
    if action.status != ActionStatus.pending:
        raise ApprovalError(
            f"proposed action {action.id} is already {action.status}; nothing changed"
        )
    if action.expires_at is not None and action.expires_at <= now:
        expire(action.id)
        raise ApprovalError(
            f"proposed action {action.id} expired at {action.expires_at:%Y-%m-%d %H:%M} UTC; "
            "nothing was approved"
        )


def _check_gate_approval(action: ActionView, price_overrides: dict[str, float]) -> None:
    """Refuse here what the flow would refuse after resuming (it would then ask again while
    this action already read approved)."""
    from quoteflow.settings import get_settings

    preview = QuotePreview.model_validate(action.payload["preview"])
    try:
        approved = apply_price_overrides(
            preview, price_overrides, margin_floor=get_settings().margin_floor_pct
        )
    except ValueError as exc:
        raise ApprovalError(f"{exc}; nothing changed") from exc
    if not approved.quotable_lines:
        raise ApprovalError(
            "nothing to quote: set a price for at least one item, or reject; nothing changed"
        )


def _settle(
    action_id: int,
    decision: Decision,
    *,
    approver: str,
    notes: str | None,
    price_overrides: dict[str, float] | None,
    url: str | None,
) -> ActionView:
    now = utcnow()
    action = get_action(action_id, url=url)
    _check_open(action, now)
    if price_overrides and action.action_type != GATE_ACTION_TYPE:
        raise ApprovalError("price overrides apply only to workflow_customer_quote actions")
    if action.action_type == GATE_ACTION_TYPE:
        if decision == "approve":
            _check_gate_approval(action, price_overrides or {})
        _resume_gate(
            action,
            {
                "decision": decision,
                "notes": notes or "",
                "approver": approver,
                "price_overrides": [
                    {"item_code": code, "case_price": price}
                    for code, price in (price_overrides or {}).items()
                ],
            },
        )
    # The resumed flow records the same decision; whichever lands first wins, the
    # other is a no-op (allow_same).
    decided = decide(
        action_id,
        decision,
        approver=approver,
        notes=notes,
        expected_hash=action.payload_hash,
        now=now,
        allow_same=action.action_type == GATE_ACTION_TYPE,
        url=url,
    )
    _emit_decision_event(decided)
    return decided


def approve(
    action_id: int,
    *,
    approver: str = "mike",
    notes: str | None = None,
    price_overrides: dict[str, float] | None = None,
    url: str | None = None,
) -> ActionView:
    """Approve a pending proposed action, from any channel."""
    return _settle(
        action_id,
        "approve",
        approver=approver,
        notes=notes,
        price_overrides=price_overrides,
        url=url,
    )


def reject(
    action_id: int, *, approver: str = "mike", notes: str | None = None, url: str | None = None
) -> ActionView:
    """Reject a pending proposed action, from any channel."""
    return _settle(
        action_id, "reject", approver=approver, notes=notes, price_overrides=None, url=url
    )


def stale_gates(*, expired_before: datetime, url: str | None = None) -> list[ActionView]:
    """Quote gates still pending although their window closed before ``expired_before``.

    A suspended run holds no process, so nobody inside it records the expiry: the
    Prefect server fails the run and this finds what is left to record."""
    stmt = sa.select(ProposedAction).where(
        ProposedAction.action_type == GATE_ACTION_TYPE,
        ProposedAction.status == ActionStatus.pending,
        ProposedAction.expires_at < expired_before,
    )
    with session_scope(url) as s:
        return [ActionView.of(r) for r in s.execute(stmt).scalars().all()]
