"""Post-action records: the run log, the reflexion log, the event ledger (mirrored as
Prefect events), staged verify checks and their decisions. Every write is keyed (or
conditional), so repeats collapse."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from quoteflow import WORKFLOW_TYPE, prefect_api
from quoteflow.db import get_or_create, insert_once, session_scope
from quoteflow.models import (
    Event,
    ReflexionLog,
    RunStatus,
    VerifyStatus,
    WorkflowRunLog,
    WorkflowVerifyResult,
    utcnow,
)
from quoteflow.run_rules import VerifyCheckSpec
from quoteflow.verify import CheckVerdict

if TYPE_CHECKING:
    from quoteflow.outcome import RunOutcome

_EVENT_NAMESPACE = uuid.UUID("6f1d3c1e-4a57-4a8e-9d0a-2b7c0f5e9a11")
TERMINAL = {
    RunStatus.completed,
    RunStatus.partial,
    RunStatus.failed,
    RunStatus.blocked,
    RunStatus.rejected,
    RunStatus.expired,
    RunStatus.duplicate,
    RunStatus.not_approved,
}


def event_uuid(idempotency_key: str) -> uuid.UUID:
    """The Prefect event id for a ledger key: the same key always gives the same id."""
    return uuid.uuid5(_EVENT_NAMESPACE, idempotency_key)


def outcome_key(run_id: str) -> str:
    """The idempotency key of a run's first outcome event, whatever the outcome."""
    return f"workflow-outcome:{run_id}"


def later_outcome_key(run_id: str, event_type: str) -> str:
    """The key of a later, different outcome of the same run (a re-driven partial or
    crashed run that completed): ``workflow.completed`` after ``workflow.partial``."""
    return f"{outcome_key(run_id)}:{event_type}"


def record_outcome_event(run_id: str, event_type: str, payload: dict[str, Any]) -> bool:
    """A run's outcome event: the first under ``outcome_key``; a later outcome of another
    type under its own key; a repeat of an outcome already recorded collapses."""
    with session_scope() as s:
        seen = dict(
            s.execute(
                sa.select(Event.type, Event.idempotency_key).where(
                    Event.run_id == run_id,
                    Event.idempotency_key.startswith(outcome_key(run_id), autoescape=True),
                )
            ).all()
        )
    if event_type in seen:
        key = seen[event_type]
    elif not seen:
        key = outcome_key(run_id)
    else:
        key = later_outcome_key(run_id, event_type)
    return record_event(event_type, key, payload=payload, run_id=run_id)


def upsert_run_log(
    run_id: str,
    status: RunStatus,
    *,
    started_at: datetime | None = None,
    summary: dict[str, Any] | None = None,
    workflow_type: str = WORKFLOW_TYPE,
) -> None:
    """One workflow_run_log row per run: created on first call, updated after; started_at
    is kept from the first call, completed_at set when the status is terminal."""
    now = utcnow()
    first = WorkflowRunLog(
        run_id=run_id, workflow_type=workflow_type, status=status, started_at=started_at or now
    )
    with session_scope() as s:
        row = get_or_create(s, first, run_id=run_id)
        row.status = status
        row.completed_at = now if status in TERMINAL else None
        if summary is not None:
            row.summary_json = summary
        s.add(row)


def upsert_reflexion(run_id: str, narrative: str, tags: list[str]) -> None:
    first = ReflexionLog(run_id=run_id, workflow_type=WORKFLOW_TYPE, narrative=narrative)
    with session_scope() as s:
        row = get_or_create(s, first, run_id=run_id)
        row.narrative = narrative
        row.tags = tags
        s.add(row)


def record_event(
    event_type: str,
    idempotency_key: str,
    *,
    payload: dict[str, Any],
    run_id: str | None = None,
    resource_id: str | None = None,
) -> bool:
    """Write the ledger event once per key and mirror it as a Prefect event with a
    deterministic id (Prefect stores one event per id). True when newly recorded."""
    event = Event(type=event_type, idempotency_key=idempotency_key, run_id=run_id, payload=payload)
    with session_scope() as s:
        created = insert_once(s, event)
    resource = {
        "prefect.resource.id": resource_id or f"quoteflow.run.{run_id or idempotency_key}",
        "quoteflow.workflow_type": WORKFLOW_TYPE,
        "quoteflow.idempotency_key": idempotency_key,
    }
    prefect_api.emit(
        event_type, resource=resource, payload=payload, event_id=event_uuid(idempotency_key)
    )
    return created


def recorded_keys(keys: list[str]) -> set[str]:
    """Which of these idempotency keys the ledger already holds."""
    if not keys:
        return set()
    with session_scope() as s:
        stmt = sa.select(Event.idempotency_key).where(Event.idempotency_key.in_(keys))
        return set(s.execute(stmt).scalars())


def event_payload(idempotency_key: str) -> dict[str, Any] | None:
    """The payload recorded under a key, or None."""
    with session_scope() as s:
        stmt = sa.select(Event.payload).where(Event.idempotency_key == idempotency_key)
        return s.execute(stmt).scalars().first()


def run_events(run_id: str, event_type: str) -> list[dict[str, Any]]:
    """Payloads of one run's events of a type, oldest first."""
    with session_scope() as s:
        stmt = (
            sa.select(Event.payload)
            .where(Event.run_id == run_id, Event.type == event_type)
            .order_by(Event.id)
        )
        return list(s.execute(stmt).scalars())


def record_alert(
    *,
    run_id: str,
    step: str,
    attempts: int,
    error: str,
    key: str | None = None,
    headline: str | None = None,
    what_to_do: str | None = None,
) -> bool:
    """One alert per failed step per run (not per attempt), or per ``key`` when given (one
    cause, one key). ``headline`` and ``what_to_do`` are what Mike reads (the notice says
    what happened and the command or the check that gets him out)."""
    payload: dict[str, Any] = {"step": step, "attempts": attempts, "error": error, "run_id": run_id}
    if headline:
        payload["headline"] = headline
    if what_to_do:
        payload["what_to_do"] = what_to_do
    return record_event("alert", key or f"alert:{run_id}:{step}", payload=payload, run_id=run_id)


def alerted_steps(run_id: str) -> set[str]:
    """The steps of this run an alert already told Mike about (whatever its key)."""
    with session_scope() as s:
        payloads = s.execute(
            sa.select(Event.payload).where(Event.run_id == run_id, Event.type == "alert")
        ).scalars()
        return {str((p or {}).get("step")) for p in payloads}


def stage_verify_checks(run_id: str, specs: list[VerifyCheckSpec]) -> int:
    """Insert the pending verify rows this run has not staged yet; returns how many."""
    added = 0
    with session_scope() as s:
        existing = set(
            s.execute(
                sa.select(WorkflowVerifyResult.check_name).where(
                    WorkflowVerifyResult.run_id == run_id
                )
            ).scalars()
        )
        for spec in specs:
            if spec.check_name in existing:
                continue
            s.add(
                WorkflowVerifyResult(
                    run_id=run_id,
                    workflow_type=WORKFLOW_TYPE,
                    check_name=spec.check_name,
                    params=spec.params,
                    due_at=spec.due_at,
                    deadline=spec.deadline,
                )
            )
            added += 1
    return added


def record_verify_decision(check_id: int, decision: CheckVerdict, now: datetime) -> bool:
    """Write a verify check's decision if the row is still pending; True when this call
    wrote it (of two overlapping sweeps, only the first decision is written)."""
    t = WorkflowVerifyResult
    with session_scope() as s:
        result = s.execute(
            sa.update(t)
            .where(t.id == check_id, t.status == VerifyStatus.pending.value)
            .values(
                status=decision.status.value,
                detail=decision.detail,
                checked_at=now,
                attempts=t.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)


def record_run_outcome(run_id: str, outcome: RunOutcome) -> None:
    """The three post-action records of a run that could not record them as tasks (a
    crashed run, a suspended run whose window closed): run log, reflexion, outcome event."""
    summary = outcome.summary
    upsert_run_log(run_id, outcome.status, summary=summary)
    upsert_reflexion(run_id, outcome.narrative, outcome.tags)
    record_outcome_event(run_id, outcome.event_type, summary)
