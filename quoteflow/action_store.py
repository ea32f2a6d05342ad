"""The proposed-action store: SQL only. Staging (get or create), reads, and the
conditional writes a decision is made of (one ``UPDATE ... WHERE status = 'pending'``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from quoteflow.action_rules import SYSTEM_APPROVER, ApprovalError
from quoteflow.db import get_or_create, session_scope
from quoteflow.models import ActionStatus, ActionType, ActionView, ProposedAction
from quoteflow.quote import payload_hash
from quoteflow.settings import approver_or_default


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
    approver: str | None = None,
    flow_run_id: str | None = None,
    expires_at: datetime | None = None,
    url: str | None = None,
) -> ActionView:
    """Get or create the action for (action_type, entity_ref): staging twice stages once."""
    approver = approver_or_default(approver)
    with session_scope(url) as s:
        row = get_or_create(
            s,
            ProposedAction(
                action_type=action_type,
                entity_ref=entity_ref,
                payload=payload,
                payload_hash=payload_hash(payload),
                approver=approver,
                flow_run_id=flow_run_id,
                expires_at=expires_at,
            ),
            action_type=action_type,
            entity_ref=entity_ref,
        )
        return ActionView.of(row)


def get_action(action_id: int, url: str | None = None) -> ActionView:
    with session_scope(url) as s:
        row = s.get(ProposedAction, action_id)
        if row is None:
            raise ApprovalError(f"proposed action {action_id} does not exist")
        return ActionView.of(row)


def find_action(action_type: str, entity_ref: str) -> ActionView | None:
    with session_scope() as s:
        row = _find(s, action_type, entity_ref)
        return ActionView.of(row) if row else None


def list_actions(*, status: str | None = None, action_type: str | None = None) -> list[ActionView]:
    stmt = sa.select(ProposedAction).order_by(ProposedAction.created_at.desc())
    if status:
        stmt = stmt.where(ProposedAction.status == status)
    if action_type:
        stmt = stmt.where(ProposedAction.action_type == action_type)
    with session_scope() as s:
        return [ActionView.of(r) for r in s.execute(stmt).scalars().all()]


def claimed_by(action_id: int) -> str | None:
    """The run that claimed the action, if any."""
    with session_scope() as s:
        row = s.get(ProposedAction, action_id)
        return row.claimed_by_run_id if row else None


def mark_expired(action_id: int, now: datetime, url: str | None = None) -> None:
    """A still-pending action becomes expired (no-op otherwise)."""
    t = ProposedAction
    with session_scope(url) as s:
        s.execute(
            sa.update(t)
            .where(t.id == action_id, t.status == ActionStatus.pending.value)
            .values(status=ActionStatus.expired.value, decided_at=now, approver=SYSTEM_APPROVER)
            .execution_options(synchronize_session=False)
        )


def write_decision(
    action_id: int, staged_hash: str, values: dict[str, Any], url: str | None = None
) -> bool:
    """The one conditional write of a decision: True when this one won (the action was
    still pending with the staged payload)."""
    t = ProposedAction
    with session_scope(url) as s:
        won = s.execute(
            sa.update(t)
            .where(
                t.id == action_id,
                t.status == ActionStatus.pending.value,
                t.payload_hash == staged_hash,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
    return won == 1


def undo_decision(decided: ActionView, previous_approver: str) -> None:
    """Take back a decision nobody acted on, if it is still the one recorded."""
    t = ProposedAction
    with session_scope() as s:
        s.execute(
            sa.update(t)
            .where(
                t.id == decided.id,
                t.status == decided.status,
                t.decided_at == decided.decided_at,
            )
            .values(
                status=ActionStatus.pending.value,
                approver=previous_approver,
                decision_notes=None,
                decided_at=None,
                approved_payload=None,
                approved_payload_hash=None,
            )
            .execution_options(synchronize_session=False)
        )


def stale_gates(*, expired_before: datetime) -> list[ActionView]:
    """Quote gates still pending although their window closed before ``expired_before``.

    A suspended run holds no process, so nobody inside it records the expiry: the
    Prefect server fails the run and this finds what is left to record."""
    stmt = sa.select(ProposedAction).where(
        ProposedAction.action_type == ActionType.quote_gate,
        ProposedAction.status == ActionStatus.pending,
        ProposedAction.expires_at < expired_before,
    )
    with session_scope() as s:
        return [ActionView.of(r) for r in s.execute(stmt).scalars().all()]


def decided_gates(*, decided_after: datetime, decided_before: datetime) -> list[ActionView]:
    """Gates decided (approved or rejected) in the window, with their run."""
    stmt = sa.select(ProposedAction).where(
        ProposedAction.action_type == ActionType.quote_gate,
        ProposedAction.status.in_([ActionStatus.approved, ActionStatus.rejected]),
        ProposedAction.flow_run_id.is_not(None),
        ProposedAction.decided_at > decided_after,
        ProposedAction.decided_at < decided_before,
    )
    with session_scope() as s:
        return [ActionView.of(r) for r in s.execute(stmt).scalars().all()]
