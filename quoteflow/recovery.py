"""Recovery: what the reconciler does every minute so a recorded approval always reaches
its run and a stranded run heals itself.

- An approved quote or email draft no run has claimed -> start its deployment (the
  decision's event was lost: API down, approving process killed).
- A decided gate whose run is still paused or suspended -> resume it with the decision.
- A crashed run (Prefect's heartbeat Automation marks runs whose process died) or one
  stuck Pending -> post actions (crashed outcome), then reschedule it: it resumes from its
  persisted results, which is safe because every effect is keyed by the run.
- A partial or failed customer-quote run whose failed steps may succeed later -> re-drive
  it, at most ``redrive_max`` times; then (or at once for a permanent failure) it is
  dead-lettered with one alert.

Pure decisions (``redrive_decision``, ``gate_run_input``) sit beside thin I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import sqlalchemy as sa
from pydantic import BaseModel

from quoteflow import ledger
from quoteflow.approvals import (
    GATE_ACTION_TYPE,
    QUOTE_DRAFT_ACTION_TYPE,
    approved_gate_preview,
    expire,
    staged_preview,
)
from quoteflow.claims import unclaimed_approved
from quoteflow.db import session_scope
from quoteflow.mail import SEND_ACTION_TYPE
from quoteflow.models import (
    ActionStatus,
    ActionView,
    ProposedAction,
    RecoveryStatus,
    RunRecovery,
    RunStatus,
    WorkflowRunLog,
    utcnow,
)
from quoteflow.outcome import RunOutcome, RunSubject, stranded_reason

QUOTE_DEPLOYMENT = "customer-quote/customer-quote"
SEND_DEPLOYMENT = "send-quote-email/send-quote-email"
# The deployment an approved action starts (through its trigger, or the reconciler).
DEPLOYMENT_OF_ACTION = {
    QUOTE_DRAFT_ACTION_TYPE: QUOTE_DEPLOYMENT,
    SEND_ACTION_TYPE: SEND_DEPLOYMENT,
}
HEALED_DEPLOYMENTS = (QUOTE_DEPLOYMENT, SEND_DEPLOYMENT)
QUOTE_TAG = "customer_quote"  # the tag of every customer-quote run (prefect.yaml)
# A run for an action is created after its decision: looking only at runs created since
# then (less this margin) keeps runs of an older database's same action id out.
CLOCK_SKEW = timedelta(seconds=5)

Decision = Literal["redrive", "dead_letter", "wait"]


class Recovered(BaseModel):
    """One thing the reconciler did (or refused to do), for its report and logs."""

    kind: Literal["started", "resumed", "crashed", "redriven", "dead_letter", "skipped"]
    subject: str
    run_id: str | None = None
    detail: str


# ---------------------------------------------------------------- pure decisions


def redrive_decision(
    *,
    redrives: int,
    redrive_max: int,
    retryable: bool,
    last_redrive_at: datetime | None,
    now: datetime,
    min_interval: timedelta,
) -> Decision:
    """Re-drive while under the cap and the failure may pass; a permanent failure or the
    cap reached dead-letters the run; too soon after the last re-drive waits."""
    if not retryable or redrives >= redrive_max:
        return "dead_letter"
    if last_redrive_at is not None and now - last_redrive_at < min_interval:
        return "wait"
    return "redrive"


def gate_run_input(action: ActionView) -> dict[str, Any]:
    """The typed resume input of a decided gate, as the approval channels send it: the
    approved prices are the lines whose approved price differs from the staged one (the
    run executes the approved payload stored on the action in any case)."""
    overrides: list[dict[str, str]] = []
    approved = approved_gate_preview(action)
    if approved is not None:
        staged = {line.item_code: line.case_price for line in staged_preview(action).lines}
        overrides = [
            {"item_code": line.item_code, "case_price": str(line.case_price)}
            for line in approved.lines
            if line.case_price is not None and line.case_price != staged.get(line.item_code)
        ]
    return {
        "decision": "approve" if action.status == ActionStatus.approved else "reject",
        "notes": action.decision_notes or "",
        "approver": action.approver,
        "price_overrides": overrides,
        "confirm": bool(overrides),  # the approver confirmed them when deciding
    }


def retryable_failures(summary: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(retryable, permanent) failed step names of a run log summary. A step without a
    verdict counts as retryable: the cap bounds it."""
    retry, permanent = [], []
    for step in summary.get("steps") or []:
        if step.get("status") not in ("failed", "not_run"):
            continue
        if (step.get("detail") or {}).get("retryable") is False:
            permanent.append(step["name"])
        else:
            retry.append(step["name"])
    return retry, permanent


# ---------------------------------------------------------------- Prefect I/O


def _client() -> Any:
    from prefect import get_client

    return get_client(sync_client=True)


def flow_run_url(run_id: str) -> str:
    """The run's page in the Prefect UI."""
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    base = settings.ui_url or (settings.api.url or "").removesuffix("/api")
    return f"{base.rstrip('/')}/runs/flow-run/{run_id}"


def runs_for_action(action_id: int, deployment: str, *, since: datetime) -> list[Any]:
    """Flow runs of ``deployment`` created for this proposed action since ``since``."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
    )

    dep_name = deployment.split("/")[1]
    with _client() as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[dep_name])),
            flow_run_filter=FlowRunFilter(
                expected_start_time=FlowRunFilterExpectedStartTime(after_=since)
            ),
            limit=200,
        )
    return [r for r in runs if (r.parameters or {}).get("proposed_action_id") == action_id]


def start_action_run(action: ProposedAction, *, now: datetime) -> Recovered:
    """Start the deployment of an approved, unclaimed action, unless a run for it is
    already on its way (created by the trigger, not yet claimed)."""
    from prefect.deployments import run_deployment

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
    run = run_deployment(
        deployment,
        parameters={"proposed_action_id": action.id},
        timeout=0,
        as_subflow=False,
        tags=["reconciled"],
        # One reconciler start per action and minute: repeats within a tick collapse.
        idempotency_key=f"reconcile:{action.id}:{now:%Y%m%d%H%M}",
    )
    return Recovered(
        kind="started",
        subject=subject,
        run_id=str(run.id),
        detail=f"approved {action.decided_at:%H:%M:%S}Z but no run had claimed it; started {deployment}",
    )


def resume_gate(action: ActionView) -> Recovered | None:
    """Resume a decided gate's run if it is still paused or suspended."""
    from prefect.client.schemas.responses import SetStateStatus

    assert action.flow_run_id
    with _client() as client:
        run = client.read_flow_run(UUID(action.flow_run_id))
        if run.state is None or not run.state.is_paused():
            return None
        result = client.resume_flow_run(UUID(action.flow_run_id), run_input=gate_run_input(action))
    subject = f"gate {action.id}"
    if result.status != SetStateStatus.ACCEPT:
        reason = result.details.reason if result.details else str(result.status)
        return Recovered(
            kind="skipped", subject=subject, run_id=action.flow_run_id, detail=f"refused: {reason}"
        )
    return Recovered(
        kind="resumed",
        subject=subject,
        run_id=action.flow_run_id,
        detail=f"{action.status} but its run was still {run.state.name}; resumed",
    )


def stranded_runs(*, since: datetime, pending_before: datetime) -> list[tuple[str, Any]]:
    """(deployment, run) of runs to heal: Crashed ones, and Pending ones older than
    ``pending_before`` (their worker died while submitting them)."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    found: list[tuple[str, Any]] = []
    with _client() as client:
        for deployment in HEALED_DEPLOYMENTS:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(
                    name=DeploymentFilterName(any_=[deployment.split("/")[1]])
                ),
                flow_run_filter=FlowRunFilter(
                    expected_start_time=FlowRunFilterExpectedStartTime(after_=since),
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.CRASHED, StateType.PENDING])
                    ),
                ),
                limit=200,
            )
            for run in runs:
                assert run.state is not None
                if run.state.type == StateType.PENDING and run.state.timestamp > pending_before:
                    continue
                found.append((deployment, run))
    return found


def failed_quote_runs(*, since: datetime) -> list[Any]:
    """customer-quote runs that ended Failed (partial or failed fan-out) since ``since``."""
    from quoteflow.prefect_api import ended_runs_of

    return ended_runs_of(QUOTE_DEPLOYMENT, states=["FAILED"], since=since)


def reschedule(run_id: str, reason: str) -> None:
    """Set the run Scheduled (forced): a worker picks it up and it resumes from its
    persisted results."""
    from prefect.states import Scheduled

    with _client() as client:
        client.set_flow_run_state(
            UUID(run_id), Scheduled(message=f"re-driven by the reconciler: {reason}"), force=True
        )


# ---------------------------------------------------------------- database I/O


def decided_gates(*, decided_after: datetime, decided_before: datetime) -> list[ActionView]:
    """Gates decided (approved or rejected) in the window, with their run."""
    stmt = sa.select(ProposedAction).where(
        ProposedAction.action_type == GATE_ACTION_TYPE,
        ProposedAction.status.in_([ActionStatus.approved, ActionStatus.rejected]),
        ProposedAction.flow_run_id.is_not(None),
        ProposedAction.decided_at > decided_after,
        ProposedAction.decided_at < decided_before,
    )
    with session_scope() as s:
        return [ActionView.of(r) for r in s.execute(stmt).scalars().all()]


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
        row = (
            s.execute(sa.select(RunRecovery).where(RunRecovery.run_id == run_id)).scalars().first()
        )
        if row is None:
            row = RunRecovery(run_id=run_id, deployment=deployment)
        row.redrives += 1
        row.last_reason = reason
        row.updated_at = utcnow()
        s.add(row)
        s.flush()
        return row.redrives


# What Mike reads when the reconciler gives a run up (no flow or deployment names).
_GIVEN_UP = {
    QUOTE_DEPLOYMENT: "A quote could not be finished automatically",
    SEND_DEPLOYMENT: "An approved customer email could not be sent",
}


def dead_letter(
    run_id: str, deployment: str, reason: str, redrives: int, *, alert: bool = True
) -> bool:
    """Mark the run dead-lettered and alert once (unless its cause was already alerted:
    ``alert`` False); True when it was newly dead-lettered."""
    with session_scope() as s:
        row = (
            s.execute(sa.select(RunRecovery).where(RunRecovery.run_id == run_id)).scalars().first()
        )
        if row is None:
            row = RunRecovery(run_id=run_id, deployment=deployment)
        fresh = row.status != RecoveryStatus.dead_letter
        row.status = RecoveryStatus.dead_letter
        row.last_reason = reason
        row.updated_at = utcnow()
        s.add(row)
    if alert:
        ledger.record_alert(
            run_id=run_id,
            step="redrive",
            attempts=redrives,
            error=reason,
            headline=_GIVEN_UP.get(deployment, "An automatic re-drive was given up"),
            what_to_do=f"fix the cause, then `quoteflow recover redrive {run_id}` "
            f"(the run continues where it stopped; nothing done twice). {flow_run_url(run_id)}",
        )
    return fresh


def run_log_of(run_id: str) -> WorkflowRunLog | None:
    with session_scope() as s:
        return (
            s.execute(sa.select(WorkflowRunLog).where(WorkflowRunLog.run_id == run_id))
            .scalars()
            .first()
        )


def record_crash(run: Any, reason: str) -> RunOutcome:
    """A customer-quote run that ended abnormally (crashed, cancelled): its post actions,
    which its own process could not run, from what its run log said so far."""
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


# ---------------------------------------------------------------- the reconciler's passes


class RecoveryPolicy(BaseModel):
    """The reconciler's limits (from settings)."""

    start_grace: timedelta
    stuck_pending: timedelta
    lookback: timedelta
    redrive_max: int
    redrive_interval: timedelta


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
    with session_scope() as s:
        active = list(
            s.execute(
                sa.select(RunRecovery.run_id).where(RunRecovery.status == RecoveryStatus.active)
            )
            .scalars()
            .all()
        )
    if not active:
        return
    from prefect.exceptions import ObjectNotFound

    done = []
    with _client() as client:
        for run_id in active:
            try:
                state = client.read_flow_run(UUID(run_id)).state
            except ObjectNotFound:
                continue
            if state is not None and state.is_completed():
                done.append(run_id)
    if done:
        with session_scope() as s:
            s.execute(
                sa.update(RunRecovery)
                .where(RunRecovery.run_id.in_(done))
                .values(status=RecoveryStatus.healed, updated_at=utcnow())
            )


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


# ---------------------------------------------------------------- what a channel reports


def _claimed_by(action_id: int) -> str | None:
    with session_scope() as s:
        row = s.get(ProposedAction, action_id)
        return row.claimed_by_run_id if row else None


def start_report(action: ActionView, *, wait_seconds: float = 10, poll: float = 1) -> str:
    """After a decision: "started <run link>" once Prefect shows the run, else "queued,
    starting..." (the reconciler starts it within a minute). Never raises."""
    import time

    if action.status != ActionStatus.approved and action.action_type != GATE_ACTION_TYPE:
        return ""
    deadline = time.monotonic() + wait_seconds
    problem = ""
    while True:
        try:
            if action.action_type == GATE_ACTION_TYPE:
                assert action.flow_run_id
                with _client() as client:
                    run = client.read_flow_run(UUID(action.flow_run_id))
                if run.state is not None and not run.state.is_paused():
                    return f"resumed {flow_run_url(action.flow_run_id)}"
            elif action.action_type in DEPLOYMENT_OF_ACTION:
                assert action.decided_at is not None
                owner = _claimed_by(action.id)
                if owner:
                    return f"started {flow_run_url(owner)}"
                runs = runs_for_action(
                    action.id,
                    DEPLOYMENT_OF_ACTION[action.action_type],
                    since=action.decided_at - CLOCK_SKEW,
                )
                if runs:
                    return f"started {flow_run_url(str(runs[-1].id))}"
            else:
                return ""
        except Exception as exc:  # the decision is committed; only the report is unsure
            problem = f"; Prefect not reachable ({type(exc).__name__})"
        if time.monotonic() >= deadline:
            break
        time.sleep(poll)
    gate = action.action_type == GATE_ACTION_TYPE
    return (
        f"queued, {'resuming' if gate else 'starting'}... (the decision is recorded; the "
        f"reconcile deployment {'resumes' if gate else 'starts'} its run within a minute "
        f"if the event was lost{problem})"
    )


# ---------------------------------------------------------------- operator commands


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


def manual_redrive(run_id: str, *, reason: str = "re-driven by hand") -> int:
    """A person re-drives a run (past the cap, after fixing its cause): counted, the dead
    letter lifted, the run rescheduled. Returns the re-drive count."""
    with _client() as client:
        run = client.read_flow_run(UUID(run_id))
    if run.state is not None and not run.state.is_final() and not run.state.is_pending():
        raise ValueError(
            f"run {run_id} is {run.state.name}: only ended or stuck runs are re-driven"
        )
    from quoteflow.outbox import revive_dead_letters

    revive_dead_letters(run_id)  # a person fixed the cause: its refused pushes go again
    return _lift_and_redrive(run_id, "manual", reason)


def redrive_by_hand(run_id: str) -> tuple[int, str]:
    """``manual_redrive`` for the operator's command: a run still Running, Pending or
    Paused hot whose process is gone (silent past the zombie window) is marked Crashed
    first, its crashed outcome recorded; one whose process is alive is refused
    (ValueError saying why). Returns the re-drive count and what was done before it."""
    from quoteflow import liveness

    with _client() as client:
        run = client.read_flow_run(UUID(run_id))
    before = ""
    state = run.state
    if state is not None and (state.is_running() or state.is_pending() or state.is_paused()):
        alive = liveness.liveness_of(run, utcnow())
        if alive is None:
            raise ValueError(
                f"run {run_id} is {state.name}: it holds no process and waits for a "
                "decision; decide its gate instead"
            )
        if not alive.stranded:
            raise ValueError(f"run {run_id} is {alive.describe()}; not re-driven")
        if not liveness.crash(alive, "marked Crashed by `quoteflow recover redrive`"):
            raise ValueError(f"run {run_id} changed state meanwhile; look again")
        before = f"marked Crashed ({alive.describe()}); "
        if QUOTE_TAG in (run.tags or []):
            record_crash(run, stranded_reason("Crashed", utcnow(), "process gone"))
            before += "crashed outcome recorded; "
    return manual_redrive(run_id), before


def _lift_and_redrive(run_id: str, deployment: str, reason: str) -> int:
    """Count a re-drive outside the automatic cap, lift any dead letter, reschedule."""
    with session_scope() as s:
        row = (
            s.execute(sa.select(RunRecovery).where(RunRecovery.run_id == run_id)).scalars().first()
        )
        if row is not None:
            deployment = row.deployment
            row.status = RecoveryStatus.active
            s.add(row)
    count = count_redrive(run_id, deployment, reason)
    reschedule(run_id, reason)
    return count


def refresh_after_late_success(run_ids: list[str], reason: str) -> list[Recovered]:
    """Partial or failed customer-quote runs one of whose steps succeeded later, outside
    the run (ns-push-retry applied its push): re-drive them, past the cap, so the replay
    records the run's new outcome (run log, ``workflow.completed`` under its own key)."""
    from prefect.exceptions import ObjectNotFound

    done: list[Recovered] = []
    for run_id in dict.fromkeys(run_ids):
        log = run_log_of(run_id)
        if log is None or log.status not in (RunStatus.partial, RunStatus.failed):
            continue
        try:
            with _client() as client:
                run = client.read_flow_run(UUID(run_id))
        except ObjectNotFound:
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
