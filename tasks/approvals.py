"""The HITL gate's writes: stage the workflow_customer_quote action, record Mike's
decision, or record that the window passed."""

from __future__ import annotations

from datetime import datetime, timedelta

from prefect import get_run_logger, task
from pydantic import BaseModel, Field

from quoteflow.approvals import (
    RecordedDecision,
    expire,
    find_action,
    gate_entity_ref,
    gate_payload,
    record_from_run,
    stage_action,
    stale_gates,
)
from quoteflow.decision import ApprovalDecision
from quoteflow.models import ActionType, ActionView, utcnow
from quoteflow.outcome_records import record_expiry
from quoteflow.prefect_api import mark_expired
from quoteflow.quote import QuotePreview
from tasks.policy import short_retry_options, uncached_retry_options


@task(persist_result=True, **short_retry_options())
def stage_gate_action(
    flow_run_id: str, preview: QuotePreview, window_minutes: float, now: datetime | None = None
) -> ActionView:
    """Stage the proposal envelope Mike decides on; a re-run finds it, never adds one."""
    expires_at = (now or utcnow()) + timedelta(minutes=window_minutes)
    return stage_action(
        action_type=ActionType.quote_gate,
        entity_ref=gate_entity_ref(flow_run_id),
        payload=gate_payload(preview),
        flow_run_id=flow_run_id,
        expires_at=expires_at,
    )


@task(**uncached_retry_options())
def find_staged_gate(flow_run_id: str) -> ActionView | None:
    """The gate this run staged on an earlier start (it was suspended, or its process
    died after staging), as it stands now; None on a first start."""
    return find_action(ActionType.quote_gate, gate_entity_ref(flow_run_id))


@task(persist_result=True)
def record_gate_decision(action_id: int, decision: ApprovalDecision) -> RecordedDecision:
    """Record a decision typed in the Prefect UI form on the gate action, with the rules
    every channel applies (or say why it is refused); when a channel already recorded it
    (and resumed this run), return that record: the run follows what is recorded."""
    return record_from_run(action_id, decision)


@task(persist_result=True)
def record_gate_expired(action_id: int) -> ActionView:
    """Mark the gate action expired: nobody decided within the approval window."""
    return expire(action_id)


@task
def name_run_expired(flow_run_id: str, reason: str) -> None:
    """Name the run's final state Expired."""
    mark_expired(flow_run_id, reason)


class StaleGateSweep(BaseModel):
    """What one housekeeping pass did: run ids recorded expired, and gates it could not
    fully record (reported, skipped; the sweep goes on)."""

    expired: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)


def _record_stale_gate(gate: ActionView) -> str:
    """Expire one stale gate, record its run's outcome and name the run's state Expired;
    returns the run id (ValueError for a malformed one: the gate is still expired)."""
    run_id, outcome = record_expiry(gate)
    mark_expired(run_id, outcome.final_state.message)
    return run_id


@task
def expire_stale_gates(grace_minutes: float, now: datetime | None = None) -> StaleGateSweep:
    """Record expiry for suspended runs whose approval window closed before ``now`` minus
    the grace: gate expired, run log and reflexion, the workflow.failed event, the run's
    state named Expired. A paused (not suspended) run records its own expiry; the grace
    leaves it the time to. One bad gate (a malformed or unknown run id) is reported and
    skipped; the others are still recorded."""
    logger = get_run_logger()
    done = StaleGateSweep()
    cutoff = (now or utcnow()) - timedelta(minutes=grace_minutes)
    for gate in stale_gates(expired_before=cutoff):
        try:
            done.expired.append(_record_stale_gate(gate))
        except Exception as exc:  # one bad row must not end the sweep
            problem = (
                str(exc)
                if isinstance(exc, ValueError)
                else (f"gate #{gate.id} ({gate.entity_ref}): {type(exc).__name__}: {exc}")
            )
            logger.warning("stale gate skipped: %s", problem)
            done.problems.append(problem)
    return done
