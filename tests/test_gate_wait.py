"""The approval gate's hot -> cold hand-over through a real worker: an answer in the hot
phase is taken by the waiting process; after the hand-over the run is suspended (no
process) and the same resume brings it back; expiry in either phase ends the run."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from prefect import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.flow_runs import resume_flow_run
from prefect.input import keyset_from_paused_state
from prefect.input.actions import create_flow_run_input
from prefect.states import Paused

from deployments.deploy import ensure_concurrency_limit, ensure_work_pool
from deployments.worker import start_worker, stop_worker
from quoteflow.settings import PROJECT_ROOT
from tasks.throttle import limit_slot

POOL = "quoteflow-test-gate"
HOT_SECONDS = 3


@pytest.fixture(scope="module")
def gate_deployment(stack, tmp_path_factory):
    """The gate probe deployed on a pool of its own, a hot-gate limit of one slot, and a
    worker serving the pool. Each run gets its hot window and limit as job variables."""
    from tests.gate_probe import gate_probe

    limit = f"test-hot-gates-{uuid.uuid4().hex[:8]}"
    ensure_work_pool(POOL)
    ensure_concurrency_limit(limit, 1)
    deployment_id = gate_probe.from_source(
        source=str(PROJECT_ROOT), entrypoint="tests/gate_probe.py:gate_probe"
    ).deploy(
        name="gate-probe",
        work_pool_name=POOL,
        build=False,
        push=False,
        print_next_steps=False,
    )
    state_dir = tmp_path_factory.mktemp("gate-worker")
    start_worker(POOL, api_url=stack.prefect.api_url, state_dir=state_dir)
    yield deployment_id, limit
    stop_worker(state_dir)
    with get_client(sync_client=True) as client:
        client.delete_global_concurrency_limit_by_name(limit)


def _start(deployment, expires_in: float, hot_seconds: float = HOT_SECONDS) -> UUID:
    deployment_id, limit = deployment
    expires_at = datetime.now(UTC) + timedelta(seconds=expires_in)
    env = {"QUOTEFLOW_HOT_WINDOW_SECONDS": str(hot_seconds), "QUOTEFLOW_HOT_GATE_LIMIT": limit}
    with get_client(sync_client=True) as client:
        run = client.create_flow_run_from_deployment(
            deployment_id,
            parameters={"expires_at": expires_at.isoformat()},
            job_variables={"env": env},
        )
    return run.id


def _wait_for(run_id: UUID, what: str, ok, timeout: float = 90) -> FlowRun:
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(run_id)
            if ok(run):
                return run
            if run.state is not None and run.state.is_final() or time.monotonic() > deadline:
                raise AssertionError(f"{what}: run is {run.state!r}")
            time.sleep(0.25)


def _finished(run_id: UUID, timeout: float = 90) -> FlowRun:
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(run_id)
            if run.state is not None and run.state.is_final():
                return run
            assert time.monotonic() < deadline, f"run did not finish: {run.state!r}"
            time.sleep(0.25)


def _state_names(run_id: UUID) -> list[str]:
    with get_client(sync_client=True) as client:
        return [s.name for s in client.read_flow_run_states(run_id)]


def _answer(run: FlowRun) -> str | None:
    assert run.state is not None
    return run.state.message


def _processes_of(run_id: UUID) -> list[int]:
    marker = f"PREFECT__FLOW_RUN_ID={run_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _is(name: str):
    return lambda run: run.state is not None and run.state.name == name


def test_an_answer_in_the_hot_phase_is_taken_by_the_waiting_process(gate_deployment):
    # A hot window long enough that a loaded machine still answers inside it (an answer
    # landing in the hand-over is refused: Prefect's resume_flow_run ignores the refusal).
    run_id = _start(gate_deployment, expires_in=120, hot_seconds=60)
    _wait_for(run_id, "hot pause", _is("Paused"))
    assert _processes_of(run_id), "a hot gate keeps its process"
    resume_flow_run(run_id, run_input={"decision": "approve"})
    run = _finished(run_id)
    assert run.state.is_completed() and _answer(run) == "approve"
    assert "Suspended" not in _state_names(run_id)


def test_after_the_hand_over_the_run_is_suspended_and_the_same_resume_brings_it_back(
    gate_deployment,
):
    run_id = _start(gate_deployment, expires_in=120)
    _wait_for(run_id, "hot pause", _is("Paused"))
    suspended = _wait_for(run_id, "suspension", _is("Suspended"), timeout=HOT_SECONDS + 60)
    assert suspended.empirical_policy.pause_keys == {"gate-hot", "gate-cold"}
    deadline = time.monotonic() + 15
    while _processes_of(run_id) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert not _processes_of(run_id), "a suspended gate holds no process"
    resume_flow_run(run_id, run_input={"decision": "reject"})
    run = _finished(run_id)
    assert run.state.is_completed() and _answer(run) == "reject"


def test_an_answer_racing_the_hand_over_is_taken_before_suspending(gate_deployment):
    # The answer is stored for the hot pause but the run is still Paused when the hot
    # window ends: what a resume landing between the last poll and the self-resume leaves.
    run_id = _start(gate_deployment, expires_in=120, hot_seconds=20)
    _wait_for(run_id, "hot pause", _is("Paused"))
    hot_response = keyset_from_paused_state(Paused(pause_key="gate-hot"))["response"]
    create_flow_run_input(hot_response, {"decision": "approve"}, flow_run_id=run_id)
    run = _finished(run_id)
    assert run.state.is_completed() and _answer(run) == "approve"
    assert "Suspended" not in _state_names(run_id)


def test_expiry_after_the_hand_over_ends_the_suspended_run(gate_deployment):
    run_id = _start(gate_deployment, expires_in=45)
    _wait_for(run_id, "hot pause", _is("Paused"))
    _wait_for(run_id, "suspension", _is("Suspended"), timeout=HOT_SECONDS + 60)
    run = _finished(run_id)  # no process left to notice: the server fails the run
    assert run.state.is_failed() and "never resumed" in (run.state.message or "")
    assert run.empirical_policy.pause_keys == {"gate-hot", "gate-cold"}


def test_expiry_in_the_hot_phase_ends_the_run_without_suspending(gate_deployment):
    run_id = _start(gate_deployment, expires_in=20, hot_seconds=120)
    _wait_for(run_id, "hot pause", _is("Paused"))
    run = _finished(run_id)
    # Whichever sees the deadline first ends it: the server fails the timed-out pause, or
    # the run's own process finds its gate expired. Either way it never suspends.
    message = run.state.message or ""
    assert (run.state.is_failed() and "never resumed" in message) or (
        run.state.is_completed() and message == "expired"
    ), run.state
    assert "Suspended" not in _state_names(run_id)


def test_with_every_hot_slot_taken_the_gate_suspends_at_once_and_expires_there(
    gate_deployment,
):
    _, limit = gate_deployment
    with limit_slot(limit) as outcome:
        assert outcome == "held"  # the limit's only slot: no gate may wait hot
        run_id = _start(
            gate_deployment, expires_in=25, hot_seconds=120
        )  # a loaded machine starts runs slowly
        _wait_for(run_id, "suspension", _is("Suspended"))
    assert "Paused" not in _state_names(run_id)
    run = _finished(run_id)  # no process left to notice: the server fails the run
    assert run.state.is_failed() and "never resumed" in (run.state.message or "")
