"""The reconciler's store: SQL only. What it re-drove or dead-lettered (run_recovery),
the run logs it reads, and the approved actions no run claimed."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel

from quoteflow.claims import unclaimed_approved
from quoteflow.db import get_or_create, session_scope
from quoteflow.models import (
    ProposedAction,
    RecoveryStatus,
    RunRecovery,
    WorkflowRunLog,
    utcnow,
)
from quoteflow.recovery_rules import DEPLOYMENT_OF_ACTION


def actions_to_start(*, decided_before: datetime, decided_after: datetime) -> list[ProposedAction]:
    return unclaimed_approved(
        list(DEPLOYMENT_OF_ACTION), decided_before=decided_before, decided_after=decided_after
    )


def recovery_of(run_id: str) -> RunRecovery | None:
    with session_scope() as s:
        return (
            s.execute(sa.select(RunRecovery).where(RunRecovery.run_id == run_id)).scalars().first()
        )


def count_redrive(run_id: str, deployment: str, reason: str) -> int:
    """Record one more re-drive of this run; returns the new count."""
    with session_scope() as s:
        row = get_or_create(s, RunRecovery(run_id=run_id, deployment=deployment), run_id=run_id)
        row.redrives += 1
        row.last_reason = reason
        row.updated_at = utcnow()
        s.add(row)
        s.flush()
        return row.redrives


def mark_dead_letter(run_id: str, deployment: str, reason: str) -> bool:
    """Mark the run dead-lettered; True when it was not already."""
    with session_scope() as s:
        row = get_or_create(s, RunRecovery(run_id=run_id, deployment=deployment), run_id=run_id)
        fresh = row.status != RecoveryStatus.dead_letter
        row.status = RecoveryStatus.dead_letter
        row.last_reason = reason
        row.updated_at = utcnow()
        s.add(row)
    return fresh


def lift_dead_letter(run_id: str) -> str | None:
    """Make the run's recovery active again; its deployment, None when it has no record."""
    with session_scope() as s:
        row = (
            s.execute(sa.select(RunRecovery).where(RunRecovery.run_id == run_id)).scalars().first()
        )
        if row is None:
            return None
        row.status = RecoveryStatus.active
        s.add(row)
        return row.deployment


def active_recoveries() -> list[str]:
    """Run ids the reconciler re-drove that have not healed yet."""
    with session_scope() as s:
        return list(
            s.execute(
                sa.select(RunRecovery.run_id).where(RunRecovery.status == RecoveryStatus.active)
            )
            .scalars()
            .all()
        )


def mark_healed_runs(run_ids: list[str]) -> None:
    with session_scope() as s:
        s.execute(
            sa.update(RunRecovery)
            .where(RunRecovery.run_id.in_(run_ids))
            .values(status=RecoveryStatus.healed, updated_at=utcnow())
        )


def run_log_of(run_id: str) -> WorkflowRunLog | None:
    with session_scope() as s:
        return (
            s.execute(sa.select(WorkflowRunLog).where(WorkflowRunLog.run_id == run_id))
            .scalars()
            .first()
        )


class RecoveryView(BaseModel):
    run_id: str
    deployment: str
    status: str
    redrives: int
    last_reason: str | None
    updated_at: datetime


def list_recoveries(*, status: str | None = None) -> list[RecoveryView]:
    """Runs the reconciler re-drove or dead-lettered, newest first."""
    stmt = sa.select(RunRecovery).order_by(RunRecovery.updated_at.desc())
    if status:
        stmt = stmt.where(RunRecovery.status == status)
    with session_scope() as s:
        return [
            RecoveryView.model_validate(r.model_dump()) for r in s.execute(stmt).scalars().all()
        ]
