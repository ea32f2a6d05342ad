"""Recovery: the passes the reconciler makes every minute, over the Prefect gateway, so a
recorded approval always reaches its run and a stranded run heals itself.

- An approved quote or email draft no run has claimed -> start its deployment (the
  decision's event was lost: API down, approving process killed).
- A decided gate whose run is still paused or suspended -> resume it with the decision.
- A crashed run (Prefect's heartbeat Automation marks runs whose process died) or one
  stuck Pending -> post actions (crashed outcome), then reschedule it: it resumes from its
  persisted results, which is safe because every effect is keyed by the run.
- A partial or failed customer-quote run whose failed steps may succeed later -> re-drive
  it, at most ``redrive_max`` times; then (or at once for a permanent failure) it is
  dead-lettered with one alert.

The rules are in ``quoteflow.recovery_rules``, the SQL in ``quoteflow.recovery_store``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from quoteflow import ledger, prefect_api
from quoteflow.action_rules import gate_decision
from quoteflow.action_store import decided_gates
from quoteflow.models import ActionView, ProposedAction, RecoveryStatus, RunStatus
from quoteflow.outcome import stranded_reason
from quoteflow.outcome_records import record_crash
from quoteflow.prefect_api import flow_run_url
from quoteflow.presentation import format_when
from quoteflow.recovery_rules import (
    CLOCK_SKEW,
    DEPLOYMENT_OF_ACTION,
    GIVEN_UP,
    HEALED_DEPLOYMENTS,
    QUOTE_DEPLOYMENT,
    SEND_DEPLOYMENT,
    Recovered,
    RecoveryPolicy,
    redrive_decision,
    retryable_failures,
)
from quoteflow.recovery_store import (
    RecoveryView,
    actions_to_start,
    active_recoveries,
    count_redrive,
    lift_dead_letter,
    list_recoveries,
    mark_dead_letter,
    mark_healed_runs,
    recovery_of,
    run_log_of,
)

__all__ = [
    "QUOTE_DEPLOYMENT",
    "SEND_DEPLOYMENT",
    "RecoveryView",
    "Recovered",
    "RecoveryPolicy",
    "decided_gates",
    "flow_run_url",
    "list_recoveries",
    "record_crash",
    "retryable_failures",
]


def runs_for_action(action_id: int, deployment: str, *, since: datetime) -> list[Any]:
    """Flow runs of ``deployment`` created for this proposed action since ``since``."""
    runs = prefect_api.runs_of(deployment, since=since)
    return [r for r in runs if (r.parameters or {}).get("proposed_action_id") == action_id]


def start_action_run(action: ProposedAction, *, now: datetime) -> Recovered:
    """Start the deployment of an approved, unclaimed action, unless a run for it is
    already on its way (created by the trigger, not yet claimed)."""
    assert action.id is not None and action.decided_at is not None
    deployment = DEPLOYMENT_OF_ACTION[action.action_type]
    subject = f"proposed action {action.id} ({action.action_type})"
    waiting = [
        r
        for r in runs_for_action(action.id, deployment, since=action.decided_at - CLOCK_SKEW)
        if r.state is not None and not r.state.is_final()
    ]
    if waiting:
        return Recovered(
            kind="skipped",
            subject=subject,
            run_id=str(waiting[0].id),
            detail=f"run {waiting[0].id} is {waiting[0].state.name}, not started yet",
        )
    run = prefect_api.start_deployment(
        deployment,
        parameters={"proposed_action_id": action.id},
        tags=["reconciled"],
        # One reconciler start per action and minute: repeats within a tick collapse.
        idempotency_key=f"reconcile:{action.id}:{now:%Y%m%d%H%M}",
    )
    return Recovered(
        kind="started",
        subject=subject,
        run_id=str(run.id),
        detail=f"approved {format_when(action.decided_at)} but no run had claimed it; started {deployment}",
    )


def resume_gate(action: ActionView) -> Recovered | None:
    """Resume a decided gate's run if it is still paused or suspended."""
    assert action.flow_run_id
    waiting = prefect_api.waiting_state(action.flow_run_id)
    if waiting is None:
        return None
    answer = prefect_api.resume_gate(action.flow_run_id, gate_decision(action))
    subject = f"gate {action.id}"
    if not answer.accepted:
        return Recovered(
            kind="skipped",
            subject=subject,
            run_id=action.flow_run_id,
            detail=f"refused: {answer.reason}",
        )
    return Recovered(
        kind="resumed",
        subject=subject,
        run_id=action.flow_run_id,
        detail=f"{action.status} but its run was still {waiting}; resumed",
    )


def stranded_runs(*, since: datetime, pending_before: datetime) -> list[tuple[str, Any]]:
    """(deployment, run) of runs to heal: Crashed ones, and Pending ones older than
    ``pending_before`` (their worker died while submitting them)."""
    found: list[tuple[str, Any]] = []
    for deployment in HEALED_DEPLOYMENTS:
        for run in prefect_api.runs_of(deployment, since=since, states=["CRASHED", "PENDING"]):
            assert run.state is not None
            if run.state.is_pending() and run.state.timestamp > pending_before:
                continue
            found.append((deployment, run))
    return found


def failed_quote_runs(*, since: datetime) -> list[Any]:
    """customer-quote runs that ended Failed (partial or failed fan-out) since ``since``."""
    return prefect_api.ended_runs_of(QUOTE_DEPLOYMENT, states=["FAILED"], since=since)


def reschedule(run_id: str, reason: str) -> None:
    """Set the run Scheduled (forced): a worker picks it up and it resumes from its
    persisted results."""
    prefect_api.reschedule(run_id, f"re-driven by the reconciler: {reason}")


def dead_letter(
    run_id: str, deployment: str, reason: str, redrives: int, *, alert: bool = True
) -> bool:
    """Mark the run dead-lettered and alert once (unless its cause was already alerted:
    ``alert`` False); True when it was newly dead-lettered."""
    fresh = mark_dead_letter(run_id, deployment, reason)
    if alert:
        ledger.record_alert(
            run_id=run_id,
            step="redrive",
            attempts=redrives,
            error=reason,
            headline=GIVEN_UP.get(deployment, "An automatic re-drive was given up"),
            what_to_do=f"fix the cause, then `quoteflow recover redrive {run_id}` "
            f"(the run continues where it stopped; nothing done twice). {flow_run_url(run_id)}",
        )
    return fresh


# ---------------------------------------------------------------- the reconciler's passes


def start_unclaimed(policy: RecoveryPolicy, now: datetime) -> list[Recovered]:
    """Approved drafts whose run never started (or never claimed them) get one."""
    return [
        start_action_run(a, now=now)
        for a in actions_to_start(
            decided_before=now - policy.start_grace, decided_after=now - policy.lookback
        )
    ]


def resume_decided_gates(policy: RecoveryPolicy, now: datetime) -> list[Recovered]:
    """Decided gates whose run is still waiting for the decision get it."""
    # Only after the grace: the approving process resumes the run itself right after
    # committing the decision, and must not race us.
    gates = decided_gates(
        decided_after=now - policy.lookback, decided_before=now - policy.start_grace
    )
    done = [resume_gate(g) for g in gates]
    return [d for d in done if d is not None]


def _redrive_or_dead_letter(
    run_id: str,
    deployment: str,
    reason: str,
    *,
    retryable: bool,
    policy: RecoveryPolicy,
    now: datetime,
) -> Recovered | None:
    rec = recovery_of(run_id)
    if rec is not None and rec.status == RecoveryStatus.dead_letter:
        return None
    redrives = rec.redrives if rec else 0
    decision = redrive_decision(
        redrives=redrives,
        redrive_max=policy.redrive_max,
        retryable=retryable,
        last_redrive_at=rec.updated_at if rec and rec.redrives else None,
        now=now,
        min_interval=policy.redrive_interval,
    )
    if decision == "wait":
        return None
    if decision == "dead_letter":
        why = (
            f"{reason}; not re-driven: a permanent failure"
            if not retryable
            else f"{reason}; still not done after {redrives} automatic re-drive(s)"
        )
        # One cause, one alert: a permanent failure its step already alerted is not
        # alerted again by the run's dead letter.
        dead_letter(
            run_id, deployment, why, redrives, alert=retryable or not ledger.alerted_steps(run_id)
        )
        return Recovered(kind="dead_letter", subject=deployment, run_id=run_id, detail=why)
    count = count_redrive(run_id, deployment, reason)
    reschedule(run_id, f"{reason} (re-drive {count} of {policy.redrive_max})")
    return Recovered(
        kind="redriven",
        subject=deployment,
        run_id=run_id,
        detail=f"{reason}; re-drive {count} of {policy.redrive_max}",
    )


def crash_silent_runs(now: datetime) -> list[Recovered]:
    """Second line behind the zombie-run Automation: a run silent for a minute past its
    window (the Automation missed it: an event lost, its service down) is marked Crashed
    here, and healed below like any crashed run."""
    from quoteflow import liveness

    margin = timedelta(seconds=60).total_seconds()
    out = []
    for run in liveness.stranded_runs(now):
        if run.silent_seconds > run.bound_seconds + margin and liveness.crash(
            run, "marked Crashed by the reconciler"
        ):
            out.append(
                Recovered(
                    kind="crashed", subject=run.name, run_id=run.run_id, detail=run.describe()
                )
            )
    return out


def heal_stranded(policy: RecoveryPolicy, now: datetime) -> list[Recovered]:
    """Crashed runs get their post actions and a bounded re-drive; runs stuck Pending
    (their worker died) are re-submitted."""
    out: list[Recovered] = crash_silent_runs(now)
    for deployment, run in stranded_runs(
        since=now - policy.lookback, pending_before=now - policy.stuck_pending
    ):
        state = run.state
        reason = stranded_reason(state.name, state.timestamp, state.message)
        if state.is_crashed() and deployment == QUOTE_DEPLOYMENT:
            record_crash(run, reason)
        done = _redrive_or_dead_letter(
            str(run.id), deployment, reason, retryable=True, policy=policy, now=now
        )
        if done is not None:
            out.append(done)
    mark_healed()
    return out


def mark_healed() -> None:
    """Re-driven runs that have since completed are healed (kept for the record)."""
    done = []
    for run_id in active_recoveries():
        run = prefect_api.read_run(run_id)
        if run is not None and run.state is not None and run.state.is_completed():
            done.append(run_id)
    if done:
        mark_healed_runs(done)


def redrive_incomplete(policy: RecoveryPolicy, now: datetime) -> list[Recovered]:
    """customer-quote runs that ended partial or failed with failed fan-out steps: re-drive
    them while a failed step may still succeed (PDF, email draft, AR touch, NetSuite)."""
    out: list[Recovered] = []
    for run in failed_quote_runs(since=now - policy.lookback):
        log = run_log_of(str(run.id))
        if log is None or log.status not in (RunStatus.partial, RunStatus.failed):
            continue
        retry, permanent = retryable_failures(log.summary_json)
        if not retry and not permanent:
            continue  # failed before the fan-out: nothing keyed to resume
        reason = "incomplete steps: " + ", ".join(retry + permanent)
        done = _redrive_or_dead_letter(
            str(run.id),
            QUOTE_DEPLOYMENT,
            reason,
            retryable=bool(retry),
            policy=policy,
            now=now,
        )
        if done is not None:
            out.append(done)
    return out


# ---------------------------------------------------------------- re-drives outside the cap


def _lift_and_redrive(run_id: str, deployment: str, reason: str) -> int:
    """Count a re-drive outside the automatic cap, lift any dead letter, reschedule."""
    deployment = lift_dead_letter(run_id) or deployment
    count = count_redrive(run_id, deployment, reason)
    reschedule(run_id, reason)
    return count


def refresh_after_late_success(run_ids: list[str], reason: str) -> list[Recovered]:
    """Partial or failed customer-quote runs one of whose steps succeeded later, outside
    the run (ns-push-retry applied its push): re-drive them, past the cap, so the replay
    records the run's new outcome (run log, ``workflow.completed`` under its own key)."""
    done: list[Recovered] = []
    for run_id in dict.fromkeys(run_ids):
        log = run_log_of(run_id)
        if log is None or log.status not in (RunStatus.partial, RunStatus.failed):
            continue
        run = prefect_api.read_run(run_id)
        if run is None:
            continue
        # Only deployment runs can be picked up again by a worker.
        if run.deployment_id is None or run.state is None or not run.state.is_final():
            continue
        count = _lift_and_redrive(run_id, QUOTE_DEPLOYMENT, reason)
        done.append(
            Recovered(
                kind="redriven",
                subject=QUOTE_DEPLOYMENT,
                run_id=run_id,
                detail=f"{reason}; re-drive {count}",
            )
        )
    return done
