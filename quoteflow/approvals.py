"""Proposed actions: staging them and deciding them. One implementation for every
channel (the flow's gate, the CLI, the approval page)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from quoteflow.db import session_scope
from quoteflow.models import ActionStatus, ProposedAction, utcnow
from quoteflow.quote import payload_hash

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
