"""Sections 2 and 3 through real deployments and a real process worker:

- a recorded approval whose event was lost (approving process killed, Prefect API down)
  still gets its run: the reconciler starts it; the CLI's report says so;
- the worker killed in the middle of the fan-out: Prefect's heartbeat Automation (created
  by `quoteflow deploy`) marks the run Crashed within 2 minutes, the reconciler records
  the crashed outcome and re-drives the run, which resumes from its persisted results and
  completes with one quote, one estimate and one ledger event per key.

Few real-worker runs: each case is one draft end to end."""

from __future__ import annotations

import os
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from prefect import get_client
from prefect.events import emit_event
from prefect.states import Pending
from sqlmodel import select

from deployments.automations import declared_automations
from deployments.deploy import deploy_all, work_pool_name
from deployments.worker import start_worker, stop_worker
from flows.ns_push_retry import ns_push_retry
from flows.reconcile import reconcile
from quoteflow import ledger, recovery
from quoteflow.approvals import (
    approve,
    decide,
    draft_quote,
    find_action,
    gate_entity_ref,
    get_action,
)
from quoteflow.channel_feedback import start_report
from quoteflow.models import ActionType, Event, NsPendingPush, ProposedAction
from quoteflow.prefect_api import read_flow_run, wait_for_flow_run
from quoteflow.quote import QuoteRequest
from quoteflow.recovery import QUOTE_DEPLOYMENT, runs_for_action
from quoteflow.settings import get_settings
from tasks.recovery import recovery_policy
from tests.faults.conftest import netsuite
from tests.faults.invariants import assert_one_clean_quote, quotes_of_runs, session
from tests.fixtures.demo import DEMO_CUSTOMER_ID, DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR
from tests.test_operator_day import _flow_run_processes

pytestmark = pytest.mark.usefixtures("fault_env")


@pytest.fixture(scope="module")
def worker(stack, seeded_db, tmp_path_factory):
    """Deployments and automations on the session's Prefect server, and a worker."""
    deploy_all()
    state_dir = tmp_path_factory.mktemp("fault-worker")

    def start():
        # Gates suspend at once (no hot window): the cases kill and re-drive processes.
        return start_worker(
            work_pool_name(),
            api_url=stack.prefect.api_url,
            state_dir=state_dir,
            extra_env={"QUOTEFLOW_HOT_WINDOW_SECONDS": "0"},
        )

    start()
    yield start, state_dir
    stop_worker(state_dir)


def new_request() -> QuoteRequest:
    return QuoteRequest(
        customer_id=DEMO_CUSTOMER_ID, item_codes=list(DEMO_ITEM_CODES), school_year=DEMO_SCHOOL_YEAR
    )


def quick_policy():
    return recovery_policy().model_copy(update={"start_grace": timedelta(0)})


def wait_state(run_id: str, until, what: str, timeout: float = 180):
    return wait_for_flow_run(lambda: read_flow_run(run_id), until, timeout=timeout, what=what)


def suspended_run_of(draft_id: int) -> str:
    """The run that claimed the draft, once it waits at its gate (found through the claim:
    a Prefect server kept across test sessions may hold older runs for the same id)."""
    deadline = time.monotonic() + 180
    while True:
        with session() as s:
            owner = s.get(ProposedAction, draft_id).claimed_by_run_id
        if owner:
            break
        assert time.monotonic() < deadline, f"no run claimed draft {draft_id}"
        time.sleep(0.5)
    wait_state(owner, lambda r: r.state.is_paused(), f"run {owner} to suspend at its gate")
    return owner


def test_deploy_creates_the_automations_once(worker):
    deploy_all()  # a second deploy updates in place
    with get_client(sync_client=True) as client:
        found = {a.name: client.read_automations_by_name(a.name) for a in declared_automations()}
        notify = client.read_deployment_by_name("notify-mike/notify-mike")
    assert sorted(found) == [
        "quoteflow-reconcile-stale",
        "quoteflow-stuck-submissions",
        "quoteflow-zombie-runs",
    ]
    assert all(len(copies) == 1 for copies in found.values())
    ((zombie,), (stale,)) = found["quoteflow-zombie-runs"], found["quoteflow-reconcile-stale"]
    assert zombie.enabled and zombie.trigger.within == timedelta(seconds=90)
    # Every sign of a live process arms the window, a hot resume (Running) included.
    assert {"prefect.flow-run.heartbeat", "prefect.flow-run.Running"} <= zombie.trigger.after
    assert zombie.actions[0].type == "change-flow-run-state"
    assert stale.trigger.within == timedelta(minutes=10)
    assert stale.actions[0].deployment_id == notify.id
    with get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name("reconcile/reconcile")
    (schedule,) = dep.schedules
    assert schedule.schedule.interval == timedelta(minutes=1)
    assert schedule.active is False  # tests drive its passes; production deploys it active


def test_a_lost_approval_event_still_gets_its_run(worker, fault_env, monkeypatch):
    draft = draft_quote(new_request())
    # The decision committed, then the approving process died (or the Prefect API was
    # down): no event was ever sent.
    decide(draft.id, "approve", notes="event lost")
    decided = get_action(draft.id)
    assert start_report(decided, wait_seconds=0).startswith("queued, starting...")

    # The scheduled reconcile flow's pass (run here, without waiting for its schedule).
    monkeypatch.setenv("QUOTEFLOW_RECONCILE_START_GRACE_SECONDS", "0")
    get_settings.cache_clear()
    result = reconcile()
    assert result.failed_passes == []
    done = result.done
    assert [d.kind for d in done if f"proposed action {draft.id} " in d.subject] == ["started"]
    # A second pass while that run is on its way starts nothing more.
    again = recovery.start_unclaimed(quick_policy(), datetime.now(UTC))
    assert [d.kind for d in again if f"proposed action {draft.id} " in d.subject] in (
        [],
        ["skipped"],
    )

    run_id = suspended_run_of(draft.id)
    assert start_report(get_action(draft.id)).startswith("started http")
    gate = find_action(ActionType.quote_gate, gate_entity_ref(run_id))
    assert gate is not None
    approve(gate.id, notes="ok")
    run = wait_state(run_id, lambda r: r.state.is_final(), "the run to finish")
    assert run.state.is_completed(), run.state.message
    assert_one_clean_quote(fault_env, run_id)
    assert len(runs_for_action(draft.id, QUOTE_DEPLOYMENT, since=decided.decided_at)) == 1

    # The approval event replayed with a new id: the trigger starts another run, which
    # finds the draft claimed and ends at once.
    emit_event(
        event="proposed_action.approved",
        resource={
            "prefect.resource.id": f"proposed-action.{draft.id}",
            "action_type": "quote_draft",
            "entity_ref": decided.entity_ref,
        },
        payload={**decided.payload, "proposed_action_id": draft.id},
        id=uuid.uuid4(),
    )
    replay = wait_for_flow_run(
        lambda: next(
            (
                r
                for r in runs_for_action(draft.id, QUOTE_DEPLOYMENT, since=decided.decided_at)
                if str(r.id) != run_id
            ),
            None,
        ),
        lambda r: r.state is not None and r.state.is_final(),
        timeout=120,
        what="the replayed event's run to end",
    )
    assert replay.state.is_completed() and replay.state.name == "Duplicate"
    assert f"already claimed by run {run_id}" in replay.state.message
    assert_one_clean_quote(fault_env, run_id)
    assert quotes_of_runs([str(replay.id)]) == []


# Detection alone takes up to ~2 min (30 s heartbeats, a 90 s window): more than the
# suite's 300 s default leaves no margin on a loaded 2-core CI machine.
@pytest.mark.timeout(600)
def test_worker_killed_mid_fanout_heals_without_a_person(worker, fault_env):
    start, state_dir = worker
    draft = draft_quote(new_request())
    approve(draft.id, notes="kill the worker during the fan-out")
    run_id = suspended_run_of(draft.id)
    gate = find_action(ActionType.quote_gate, gate_entity_ref(run_id))
    assert gate is not None
    netsuite(fault_env, "inject", mode="slow", delay=15, count=1)
    approve(gate.id, notes="ok")

    def push_in_flight() -> bool:
        with session() as s:
            push = s.exec(select(NsPendingPush).where(NsPendingPush.run_id == run_id)).first()
        return push is not None and push.attempts >= 1 and push.status == "pending"

    deadline = time.monotonic() + 180
    while not push_in_flight():
        assert time.monotonic() < deadline, "the fan-out never reached NetSuite"
        time.sleep(0.5)

    # Kill the worker and the flow-run process: nobody is left to report anything.
    pid = int((state_dir / "worker.pid").read_text())
    for victim in _flow_run_processes(run_id):
        os.kill(victim, signal.SIGKILL)
    os.killpg(pid, signal.SIGKILL)
    assert read_flow_run(run_id).state.is_running()

    # Prefect's heartbeat Automation marks it Crashed (heartbeats every 30 s, 90 s window).
    crashed = wait_state(
        run_id, lambda r: r.state.is_crashed(), "the Automation to mark it Crashed", timeout=240
    )
    assert "heartbeat" in (crashed.state.message or "")
    start()  # the worker comes back (a person restarts it, or its supervisor does)

    done = recovery.heal_stranded(quick_policy(), datetime.now(UTC))
    assert [d.kind for d in done if d.run_id == run_id] == ["redriven"]
    with session() as s:
        first = s.exec(
            sa.select(Event.type).where(Event.idempotency_key == ledger.outcome_key(run_id))
        ).scalar_one()
    assert first == "workflow.failed"  # the crashed outcome, recorded for the dead process

    run = wait_state(run_id, lambda r: r.state.is_final(), "the re-driven run to finish")
    assert run.state.is_completed(), run.state.message
    assert_one_clean_quote(fault_env, run_id)
    with session() as s:
        later = s.exec(
            sa.select(Event.type).where(
                Event.idempotency_key == ledger.later_outcome_key(run_id, "workflow.completed")
            )
        ).scalar_one()
    assert later == "workflow.completed"
    recovery.mark_healed()
    (rec,) = [r for r in recovery.list_recoveries() if r.run_id == run_id]
    assert rec.status == "healed" and rec.redrives == 1


def test_a_run_stuck_pending_after_its_worker_died_is_resubmitted(worker, fault_env):
    draft = draft_quote(new_request())  # left pending: its run ends NotApproved at once
    with get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name(QUOTE_DEPLOYMENT)
        # What a worker that died while submitting leaves behind: Pending, nobody on it.
        run = client.create_flow_run_from_deployment(
            dep.id, parameters={"proposed_action_id": draft.id}, state=Pending()
        )
    policy = quick_policy().model_copy(update={"stuck_pending": timedelta(0)})

    done = recovery.heal_stranded(policy, datetime.now(UTC))

    assert [d.kind for d in done if d.run_id == str(run.id)] == ["redriven"]
    ended = wait_state(str(run.id), lambda r: r.state.is_final(), "the resubmitted run to end")
    assert ended.state.is_completed() and ended.state.name == "NotApproved"


def test_netsuite_down_then_ns_push_retry_brings_the_run_outcome_up_to_date(worker, fault_env):
    draft = draft_quote(new_request())
    approve(draft.id, notes="NetSuite is down")
    run_id = suspended_run_of(draft.id)
    gate = find_action(ActionType.quote_gate, gate_entity_ref(run_id))
    assert gate is not None
    netsuite(fault_env, "inject", mode="status", status=503, count=1000)
    approve(gate.id, notes="ok")
    run = wait_state(run_id, lambda r: r.state.is_final(), "the run to end partial")
    assert run.state.name == "Partial", run.state
    netsuite(fault_env, "reset")

    result = ns_push_retry(older_than_minutes=0, limit=1000)

    assert any(p.run_id == run_id and p.status == "applied" for p in result.pushes)
    run = wait_state(run_id, lambda r: r.state.is_completed(), "the re-driven run to complete")
    assert_one_clean_quote(fault_env, run_id)
    with session() as s:
        outcomes = dict(
            s.exec(sa.select(Event.idempotency_key, Event.type).where(Event.run_id == run_id)).all()
        )
    assert outcomes[ledger.outcome_key(run_id)] == "workflow.partial"
    assert outcomes[ledger.later_outcome_key(run_id, "workflow.completed")] == (
        "workflow.completed"
    )
