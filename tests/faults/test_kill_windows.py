"""Kill -9 in every window of a customer-quote run, through real workers, and no person
heals it: the flow-run process alone (its worker lives and reports the crash) or the
worker's whole process group (nobody reports anything: Prefect's zombie-run Automation,
server-side, marks the run Crashed). The reconciler's pass then re-drives it and the run
finishes from its approved gate with every record caught up.

Windows: hot pause, <= 1 s after a hot approval, mid-fan-out after a hot approval, during
the post actions, <= 1 s after a cold resume; plus a reconcile run killed while its worker
submits it (the healer healed: the next pass goes ahead once the Automation frees the
deployment's only slot).

To keep CI short, one module fixture does every kill first (process kills on one worker,
group kills one after another on a second worker that is started again after each),
waits once for all the crashes, heals them all with one reconciler pass and waits once
for the runs to finish; each row of the table then asserts its own case. The zombie
window is 45 s here (heartbeats every 30 s, Prefect's minimum); the product's is 90 s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from prefect import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from sqlmodel import select
from typer.testing import CliRunner

from deployments.deploy import deploy_all, ensure_concurrency_limit, work_pool_name
from deployments.worker import start_worker, stop_worker
from quoteflow import liveness, recovery
from quoteflow.approvals import (
    ApprovalError,
    approve,
    decide,
    draft_quote,
    find_action,
    gate_entity_ref,
    reject,
)
from quoteflow.ledger import TERMINAL
from quoteflow.models import ActionType, Event, NsPendingPush, ProposedAction, ReflexionLog
from quoteflow.prefect_api import read_flow_run, wait_for_flow_run
from quoteflow.quote import QuoteRequest
from quoteflow.recovery import QUOTE_DEPLOYMENT
from quoteflow.settings import get_settings
from tasks.ledger import POST_ACTIONS_TAG
from tasks.recovery import recovery_policy
from tests.faults.conftest import netsuite
from tests.faults.invariants import assert_one_clean_quote, run_log, session
from tests.fixtures.db import session_backend
from tests.fixtures.demo import DEMO_CUSTOMER_ID, DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR
from tests.test_operator_day import _flow_run_processes

ZOMBIE_WITHIN = 60
# What the operator's commands take for dead in the redrive test: shorter than the
# Automation's window, so that the person acts before the Automation does.
OPERATOR_WITHIN = 35
# Six runs submitted at once to one worker on a busy 2-core machine sat Pending for up
# to two minutes before their process started: here the submission window is wider than
# the product's 110 s (which a process starting normally, ~10 s, never comes near).
SUBMISSION_WITHIN = 240
HOT_GATE_LIMIT = "faults-hot-gates"
# Detection is bounded by the window after the last sign of life (at most the kill) plus
# the Automation service's 5 s evaluation tick; the rest is slack for a loaded machine.
DETECTION_BOUND = ZOMBIE_WITHIN + 30
# The post actions before the fan-out: a run killed mid-push holds a NetSuite slot until its
# lease runs out (60 s), which would hold the next run's push back.
ALL_PHASES = ["hot_pause", "after_hot_approval", "post_actions", "mid_fanout", "after_cold_resume"]
# PostgreSQL (CI runs the suite twice) repeats the rows whose records are written in the
# window, where the database's own locking and transactions matter; Prefect's side, the
# detection, is the same server either way.
PHASES = (
    ["after_hot_approval", "post_actions", "mid_fanout"]
    if session_backend() == "postgresql"
    else ALL_PHASES
)
KINDS = ["process", "group"]
PROC_QUEUE = "faults-process"  # one worker: only flow-run processes are killed on it


def group_queue(phase: str) -> str:
    """A queue, and a worker, per group kill: killing it takes no other case's run along."""
    return f"faults-group-{phase}"


RECONCILE_DEPLOYMENT = "reconcile/reconcile"


@dataclass
class Case:
    phase: str
    kind: str
    run_id: str = ""
    draft_id: int = 0
    killed_at: datetime | None = None
    kill_note: str = ""
    crashed_after: float | None = None
    crashed_message: str = ""
    healed_after: float | None = None
    final_state: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(UTC)


def _state(run_id: str):
    return read_flow_run(run_id).state


def _wait(run_id: str, until, what: str, timeout: float = 180, interval: float = 0.5):
    return wait_for_flow_run(
        lambda: read_flow_run(run_id), until, timeout=timeout, what=what, interval=interval
    )


def _gate_of(run_id: str) -> int:
    deadline = time.monotonic() + 60
    while (gate := find_action(ActionType.quote_gate, gate_entity_ref(run_id))) is None:
        assert time.monotonic() < deadline, f"run {run_id} staged no gate"
        time.sleep(0.3)
    return gate.id


class Stack:
    """The module's two workers and how a case's run is started on one of them."""

    def __init__(self, api_url: str, tmp) -> None:
        self.api_url = api_url
        self.dirs = {
            queue: tmp / queue
            for queue in [PROC_QUEUE, group_queue("reconcile")] + [group_queue(p) for p in PHASES]
        }
        with get_client(sync_client=True) as client:
            dep = client.read_deployment_by_name(QUOTE_DEPLOYMENT)
        self.base_env = dict((dep.job_variables or {}).get("env") or {})

    def start(self, queue: str) -> int:
        self.dirs[queue].mkdir(exist_ok=True)
        return start_worker(
            work_pool_name(),
            api_url=self.api_url,
            state_dir=self.dirs[queue],
            work_queues=[queue],
        ).pid

    def stop(self) -> None:
        for d in self.dirs.values():
            stop_worker(d)

    def run(self, queue: str, *, cold: bool = False, deployment: str = QUOTE_DEPLOYMENT, **params):
        """A run of ``deployment`` on ``queue``; ``cold``: its gate suspends at once."""
        env = {
            **self.base_env,
            "QUOTEFLOW_HOT_WINDOW_SECONDS": "0" if cold else "900",
            # The table's own hot-gate limit: a killed hot wait keeps its slot until its
            # lease runs out (twice the hot window), which must not fill the product's cap.
            "QUOTEFLOW_HOT_GATE_LIMIT": HOT_GATE_LIMIT,
        }
        return run_deployment(
            deployment,
            parameters=params,
            timeout=0,
            as_subflow=False,
            work_queue_name=queue,
            job_variables={"env": env},
        )

    def quote_run(self, case: Case, queue: str, *, cold: bool = False) -> None:
        """An approved draft (its event left out: the run is started here, on ``queue``)."""
        draft = draft_quote(
            QuoteRequest(
                customer_id=DEMO_CUSTOMER_ID,
                item_codes=list(DEMO_ITEM_CODES),
                school_year=DEMO_SCHOOL_YEAR,
            )
        )
        decide(draft.id, "approve", notes=f"kill table: {case.phase}/{case.kind}")
        case.draft_id = draft.id
        case.run_id = str(self.run(queue, cold=cold, proposed_action_id=draft.id).id)

    def kill(self, case: Case, queue: str, note: str | None = None) -> None:
        """SIGKILL the run's process, or the worker's whole group and the run's process."""
        victims = _flow_run_processes(case.run_id)
        if case.kind == "group":
            os.killpg(int((self.dirs[queue] / "worker.pid").read_text()), signal.SIGKILL)
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        case.killed_at = _now()
        case.kill_note = note if note is not None else f"in state {_state(case.run_id).name}"
        if case.kind == "group":
            time.sleep(0.5)
            self.start(queue)  # the worker comes back (its supervisor restarts it)


def _hold_post_actions() -> None:
    """A full tag concurrency limit: every post-action task of that tag waits for a slot."""
    with get_client(sync_client=True) as client:
        _release_post_actions()
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=f"tag:{POST_ACTIONS_TAG}", limit=1, active_slots=1)
        )


def _release_post_actions() -> None:
    with get_client(sync_client=True) as client, contextlib.suppress(ObjectNotFound):
        client.delete_global_concurrency_limit_by_name(f"tag:{POST_ACTIONS_TAG}")


def _push_in_flight(run_id: str) -> bool:
    with session() as s:
        push = s.exec(select(NsPendingPush).where(NsPendingPush.run_id == run_id)).first()
    return push is not None and push.attempts >= 1 and push.status == "pending"


def _logged_final(run_id: str) -> bool:
    log = run_log(run_id)
    return log is not None and log.status in TERMINAL


def _until(predicate, what: str, timeout: float = 120, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def _drive_and_kill(stack: Stack, case: Case, queue: str, fault_stack) -> None:
    """Bring the case's run to its window and kill it there."""
    phase = case.phase
    if phase == "after_cold_resume":
        _wait(case.run_id, lambda r: r.state.name == "Suspended", "the gate to suspend")
    else:
        _wait(case.run_id, lambda r: r.state.name == "Paused", "the gate to wait hot")
    gate_id = _gate_of(case.run_id)
    if phase == "hot_pause":
        stack.kill(case, queue)
        return
    if phase == "mid_fanout":
        netsuite(fault_stack, "inject", mode="slow", delay=20, count=1)
    approve(gate_id, notes="ok")  # returns once the run is resumed (Running)
    if phase == "after_hot_approval":
        stack.kill(case, queue, "")
        running = read_flow_run(case.run_id).state
        assert running.is_running() or running.is_crashed(), running
        after = (case.killed_at - running.timestamp).total_seconds()
        case.kill_note = f"{after:.2f} s after the hot resume"
        return
    if phase == "mid_fanout":
        _until(lambda: _push_in_flight(case.run_id), "the NetSuite push to start")
        note = "NetSuite push in flight"
    elif phase == "post_actions":
        _until(lambda: _logged_final(case.run_id), "the run log's final status")
        note = "run log final, reflexion and outcome event held"
    else:  # after_cold_resume: a new process picks the run up
        run = _wait(
            case.run_id,
            lambda r: r.state.is_running() and _flow_run_processes(case.run_id),
            "the resumed run's new process",
            interval=0.02,
        )
        note = f"{(_now() - run.state.timestamp).total_seconds():.2f} s after Running, new process"
    stack.kill(case, queue, note)


@pytest.fixture(scope="module")
def kill_table(stack, seeded_db, tmp_path_factory):
    windows = {
        "QUOTEFLOW_ZOMBIE_WITHIN_SECONDS": str(ZOMBIE_WITHIN),
        "QUOTEFLOW_SUBMISSION_WITHIN_SECONDS": str(SUBMISSION_WITHIN),
    }
    saved = {key: os.environ.get(key) for key in windows}
    os.environ.update(windows)
    get_settings.cache_clear()
    deploy_all()
    ensure_concurrency_limit(HOT_GATE_LIMIT, 100)
    netsuite(stack, "reset")
    workers = Stack(stack.prefect.api_url, tmp_path_factory.mktemp("kill-table"))
    for queue in workers.dirs:
        workers.start(queue)
    cases = {(p, k): Case(p, k) for p in PHASES for k in KINDS}
    started = time.monotonic()
    try:
        # The healer's own run, killed with its worker while the worker submits it: it
        # holds the reconcile deployment's only concurrency slot.
        stuck = Case("reconcile_submitting", "group")
        queue = group_queue("reconcile")
        stuck.run_id = str(workers.run(queue, deployment=RECONCILE_DEPLOYMENT).id)
        _wait(stuck.run_id, lambda r: r.state.is_pending(), "the worker to submit", interval=0.02)
        workers.kill(stuck, queue)
        # A live gate waiting hot all along, which must never be taken for dead.
        control = Case("live_hot_gate", "none")
        workers.quote_run(control, PROC_QUEUE)
        # Every case's run at once, each on its own worker for a group kill.
        for (phase, kind), case in cases.items():
            queue = PROC_QUEUE if kind == "process" else group_queue(phase)
            workers.quote_run(case, queue, cold=phase == "after_cold_resume")
        for phase in PHASES:
            if phase == "post_actions":
                _hold_post_actions()
            try:
                # The group kill first: the Automation's window runs while the rest goes on.
                _drive_and_kill(workers, cases[(phase, "group")], group_queue(phase), stack)
                _drive_and_kill(workers, cases[(phase, "process")], PROC_QUEUE, stack)
            finally:
                if phase == "post_actions":
                    _release_post_actions()
        netsuite(stack, "reset")
        kills_done = time.monotonic()

        # Nobody acts but Prefect: the worker reports a process it lost, the zombie-run
        # Automation every run whose worker went with it.
        for case in [stuck, *cases.values()]:
            crashed = _wait(
                case.run_id,
                lambda r: r.state.is_crashed(),
                f"{case.phase}/{case.kind} to be marked Crashed",
                timeout=SUBMISSION_WITHIN + 90,
            )
            case.crashed_after = (crashed.state.timestamp - case.killed_at).total_seconds()
            case.crashed_message = crashed.state.message or ""
        detected = time.monotonic()

        # The next scheduled reconcile pass (started here: tests keep its schedule off)
        # gets the slot the crash freed and re-drives every crashed quote run.
        next_pass = workers.run(PROC_QUEUE, deployment=RECONCILE_DEPLOYMENT)
        nxt = _wait(
            str(next_pass.id), lambda r: r.state.is_final(), "the next reconcile pass", timeout=240
        )
        stuck.final_state = nxt.state.name
        # A gate killed before its answer waits again (suspended): Mike approves it then.
        for case in [c for c in cases.values() if c.phase == "hot_pause"]:
            _wait(case.run_id, lambda r: r.state.name == "Suspended", "the re-driven gate")
            approve(_gate_of(case.run_id), notes="ok, after the crash")
        for case in cases.values():
            _wait(case.run_id, lambda r: r.state.is_final(), "the re-driven run to end")
        # A step that failed after the heal (the loaded Prefect server answering 503, say)
        # leaves the run partial: the reconciler's next pass re-drives it (spaced by
        # QUOTEFLOW_REDRIVE_INTERVAL_MINUTES in production; at once here).
        quick = recovery_policy().model_copy(update={"redrive_interval": timedelta(0)})
        recovery.redrive_incomplete(quick, _now())
        for case in cases.values():
            ended = _wait(case.run_id, lambda r: r.state.is_final(), "the re-driven run to end")
            case.final_state = ended.state.name
            case.healed_after = (ended.state.timestamp - case.killed_at).total_seconds()
            rec = recovery.recovery_of(case.run_id)
            case.extra["redrives"] = rec.redrives if rec else 0
        control.final_state = _state(control.run_id).name
        control.extra["liveness"] = liveness.liveness_of(read_flow_run(control.run_id), _now())
        timing = {
            "kills_s": round(kills_done - started),
            "detection_wait_s": round(detected - kills_done),
            "heal_s": round(time.monotonic() - detected),
        }
        _report(cases, stuck, timing)
        yield {
            "cases": cases,
            "stuck": stuck,
            "next_pass": nxt,
            "control": control,
            "workers": workers,
        }
        with contextlib.suppress(ApprovalError):
            reject(_gate_of(control.run_id), notes="kill table: control gate closed")
    finally:
        _release_post_actions()
        workers.stop()
        with get_client(sync_client=True) as client:
            client.delete_global_concurrency_limit_by_name(HOT_GATE_LIMIT)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        deploy_all()  # the product's windows again


def _report(cases: dict, stuck: Case, timing: dict) -> None:
    def secs(value: float | None) -> str:
        return "-" if value is None else f"{value:6.1f} s"

    lines = [f"kill table ({timing})"]
    for c in [*cases.values(), stuck]:
        lines.append(
            f"  {c.phase:<22} {c.kind:<8} killed {c.kill_note:<48} crashed after "
            f"{secs(c.crashed_after)}, ended {c.final_state} after {secs(c.healed_after)}"
        )
    print("\n".join(lines))
    out = os.environ.get("QUOTEFLOW_KILL_TABLE_REPORT")
    if out:
        with open(out, "a") as f:
            f.write("\n".join(lines) + "\n")


@pytest.mark.timeout(900)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("phase", PHASES)
def test_a_run_killed_in_this_window_heals_without_a_person(kill_table, stack, phase, kind):
    case = kill_table["cases"][(phase, kind)]
    # Detected: marked Crashed within the bound (by the worker at once for a process kill).
    assert case.crashed_after is not None and case.crashed_after <= DETECTION_BOUND, case
    if kind == "group":
        assert "zombie window" in case.crashed_message, case.crashed_message
    # Re-driven by the reconciler's pass (once more if a step failed after it), finished
    # from its approved gate.
    assert 1 <= case.extra["redrives"] <= 2, case
    assert case.final_state == "Completed", case
    # One quote row, one estimate with the approved lines, at most one email draft and one
    # email, each ledger key once, run log completed, verify checks staged.
    assert_one_clean_quote(stack, case.run_id)
    with session() as s:
        outcomes = s.exec(
            select(Event.type).where(
                Event.run_id == case.run_id, Event.type == "workflow.completed"
            )
        ).all()
        reflexion = s.exec(select(ReflexionLog).where(ReflexionLog.run_id == case.run_id)).one()
        claims = s.exec(
            select(sa.func.count())
            .select_from(ProposedAction)
            .where(
                ProposedAction.id == case.draft_id, ProposedAction.claimed_by_run_id == case.run_id
            )
        ).one()
    assert outcomes == ["workflow.completed"]
    assert "ended abnormally" not in reflexion.narrative
    assert claims == 1


def test_the_reconcilers_own_run_killed_while_submitted_frees_its_slot(kill_table):
    stuck, nxt = kill_table["stuck"], kill_table["next_pass"]
    # The stuck run was crashed server-side (nobody else was left to) ...
    assert stuck.crashed_after is not None and stuck.crashed_after <= SUBMISSION_WITHIN + 30
    assert read_flow_run(stuck.run_id).state.is_crashed()
    # ... which freed reconcile's only concurrency slot: the next pass ran to the end.
    assert nxt.state.is_completed(), nxt.state


def test_a_live_hot_gate_is_never_taken_for_dead(kill_table):
    control = kill_table["control"]
    # Waiting hot through the whole table (minutes, several windows): still Paused, its
    # heartbeats keep it alive in the Automation's eyes and in the operator's.
    assert control.final_state == "Paused"
    alive = control.extra["liveness"]
    assert alive is not None and not alive.stranded, alive


@pytest.mark.timeout(400)
def test_the_operator_redrives_a_dead_running_run_and_is_refused_a_live_one(
    kill_table, stack, monkeypatch
):
    """Before the Automation acts (here: the commands take a run for dead sooner than the
    deployed window; in life an event lost or its service down), the worker's group was
    killed right after a hot approval and the run stays Running. `recover list` shows it
    stranded; `recover redrive` marks it Crashed and re-drives it, and the run finishes;
    on the live gate it refuses and says why."""
    from quoteflow.cli.recover import app as recover_cli

    monkeypatch.setenv("QUOTEFLOW_ZOMBIE_WITHIN_SECONDS", str(OPERATOR_WITHIN))
    get_settings.cache_clear()
    workers, live = kill_table["workers"], kill_table["control"]
    dead = Case("after_hot_approval", "group")
    queue = group_queue("after_hot_approval")
    workers.quote_run(dead, queue)
    _drive_and_kill(workers, dead, queue, stack)
    _until(
        lambda: liveness.liveness_of(read_flow_run(dead.run_id), _now()).stranded,
        "the dead run to look stranded",
        timeout=ZOMBIE_WITHIN,
        interval=1,
    )
    runner = CliRunner()
    done = runner.invoke(recover_cli, ["redrive", dead.run_id])
    refused = runner.invoke(recover_cli, ["redrive", live.run_id])
    listed = runner.invoke(recover_cli, ["list"])
    get_settings.cache_clear()

    assert done.exit_code == 0, done.output
    assert "marked Crashed (Running with no process" in done.output
    assert "re-driven (#1)" in done.output
    assert refused.exit_code == 1
    assert "Paused and alive: last heartbeat" in refused.output, refused.output
    assert _state(live.run_id).name == "Paused"
    assert listed.exit_code == 0, listed.output
    assert "last successful pass" in listed.output
    passes = listed.output.split("last successful pass")[1].splitlines()
    (reconcile_line,) = [line for line in passes if "reconcile/reconcile" in line]
    assert " ago), run" in reconcile_line  # the table's last pass
    ended = _wait(dead.run_id, lambda r: r.state.is_final(), "the re-driven run to end")
    assert ended.state.is_completed(), ended.state
    assert_one_clean_quote(stack, dead.run_id)


def test_mike_is_told_once_per_outage_when_the_reconciler_stops(kill_table, smtp_messages):
    """What the stale-reconciler Automation starts (notify-mike with its static
    parameters; the Automation's firing itself is Prefect's): Mike reads when the last
    pass completed and what to do, once for that pass however often it fires."""
    from flows.notify import notify_mike

    assert notify_mike("reconcile.stale", "reconcile-stale", {}) is True
    assert notify_mike("reconcile.stale", "reconcile-stale", {}) is False
    (mail,) = smtp_messages.wait_for(1, to=get_settings().approver_email)
    assert mail["Subject"].endswith("The reconciler has stopped running")
    body = mail.get_content()
    assert "last completed pass was at" in body and "unknown time" not in body
    assert "quoteflow recover list" in body
