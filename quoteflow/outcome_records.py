"""The outcomes a run could not record itself: a run that crashed (its process died) and
a gate whose window closed while its run was suspended. Beside ``quoteflow.outcome``,
whose ``RunOutcome`` they record."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from quoteflow import ledger
from quoteflow.models import ActionView
from quoteflow.outcome import RunOutcome, RunSubject


def record_crash(run: Any, reason: str) -> RunOutcome:
    """A customer-quote run that ended abnormally (crashed, cancelled): its post actions,
    which its own process could not run, from what its run log said so far."""
    from quoteflow.recovery_store import run_log_of

    run_id = str(run.id)
    log = run_log_of(run_id)
    outcome = RunOutcome.crashed(
        reason,
        previous=log.summary_json if log else None,
        request=(run.parameters or {}).get("request"),
    )
    ledger.record_run_outcome(run_id, outcome)
    return outcome


def record_expiry(gate: ActionView) -> tuple[str, RunOutcome]:
    """Expire a gate whose window closed unanswered and record its run's expired outcome
    (the same record a paused run makes for itself); returns the run id and the outcome.
    ValueError for a gate whose run id is malformed (the gate is expired all the same)."""
    from quoteflow.action_record import expire

    expire(gate.id)
    run_id = gate.flow_run_id or gate.entity_ref.rsplit("run_", 1)[-1]
    try:
        UUID(run_id)
    except ValueError:
        raise ValueError(
            f"gate #{gate.id} ({gate.entity_ref}): run id {run_id!r} is not a flow run id; "
            "gate marked expired, no run to record"
        ) from None
    outcome = RunOutcome.expired(RunSubject.of_gate_payload(gate.payload), gate)
    ledger.record_run_outcome(run_id, outcome)
    return run_id, outcome
