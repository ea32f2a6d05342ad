"""The one door to Prefect: every product module reaches the Prefect server through here.

Two halves. The settings: ``api_url()`` is the server this process talks to
(PREFECT_API_URL, None when unset) and ``pointed_at(url)`` the only way to switch a process
(and the processes it starts) to another server; without one Prefect silently starts an
ephemeral server of its own, whose runs nobody else sees, so processes quoteflow starts are
given ``require_api_url()``. The operations: named things the product asks of Prefect
(read a run, is it waiting, resume a gate, runs of a deployment, reschedule, force a state,
start a deployment, emit an event, a run's page). They go through one ``PrefectGateway``:
Prefect's client (``quoteflow.prefect_api.client``) unless ``use(gateway)`` selects
another, e.g. the in-memory one the tests decide gates with.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from quoteflow.prefect_api.answers import Answer, RunOrder

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun
    from prefect.states import State

    from quoteflow.decision import ApprovalDecision


class NoPrefectApi(RuntimeError):
    """No Prefect server configured: PREFECT_API_URL is not set."""


def api_url() -> str | None:
    """The Prefect API this process talks to (its settings context), or None."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def require_api_url() -> str:
    """``api_url()``, or NoPrefectApi: never let Prefect start an ephemeral server."""
    url = api_url()
    if not url:
        raise NoPrefectApi(
            "no Prefect server: set PREFECT_API_URL (or start the local dev stack, "
            "`quoteflow stack up`)"
        )
    return url


@contextmanager
def pointed_at(url: str) -> Iterator[None]:
    """This process (settings context) and its children (environment) use ``url``;
    ephemeral mode is off."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_ALLOW_EPHEMERAL_MODE,
        temporary_settings,
    )

    overrides = {"PREFECT_API_URL": url, "PREFECT_SERVER_EPHEMERAL_ENABLED": "false"}
    previous = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    try:
        with temporary_settings({PREFECT_API_URL: url, PREFECT_SERVER_ALLOW_EPHEMERAL_MODE: False}):
            yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class PrefectUnreachable(RuntimeError):
    """The Prefect API did not answer (stopped, unreachable, overloaded): nothing was asked
    of it, so nothing changed there."""

    MESSAGE = "Prefect is not reachable: nothing changed, try again"

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{self.MESSAGE} ({type(cause).__name__})")


def is_unreachable(exc: BaseException) -> bool:
    """Whether a failed Prefect call never reached the server (connection refused, DNS,
    connect timeout) or the server could not serve it (503): the request did nothing."""
    import httpx

    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return True
    from prefect.exceptions import PrefectHTTPStatusError

    return isinstance(exc, PrefectHTTPStatusError) and exc.response.status_code in (502, 503, 504)


# ---------------------------------------------------------------- the gateway


class PrefectGateway(Protocol):
    """What the product asks of a Prefect server."""

    def read_run(self, run_id: str) -> FlowRun | None:
        """The flow run, or None when the server has no such run."""
        ...

    def resume_run(self, run_id: str, run_input: dict[str, Any]) -> Answer: ...

    def set_state(self, run_id: str, state: State, *, force: bool = False) -> Answer: ...

    def runs_of(
        self,
        deployment: str,
        *,
        since: datetime | None = None,
        states: Sequence[str] | None = None,
        order: RunOrder = "expected_start",
        limit: int = 200,
    ) -> list[FlowRun]:
        """Runs of a deployment ('flow-name/deployment-name'), newest first (by expected
        start, or by end time), optionally expected to start since ``since`` and in one of
        the state types ``states`` (e.g. ["FAILED", "CANCELLED"])."""
        ...

    def start_deployment(
        self,
        deployment: str,
        *,
        parameters: dict[str, Any],
        tags: list[str],
        idempotency_key: str,
    ) -> FlowRun: ...

    def emit(
        self, event: str, *, resource: dict[str, str], payload: dict[str, Any], event_id: UUID
    ) -> None: ...

    def read_secret(self, name: str) -> str:
        """The value of the Secret block ``name`` (ValueError when there is none)."""
        ...


_selected: PrefectGateway | None = None


def gateway() -> PrefectGateway:
    """The gateway this process uses: Prefect's client unless ``use`` selected another."""
    if _selected is not None:
        return _selected
    from quoteflow.prefect_api.client import CLIENT_GATEWAY

    return CLIENT_GATEWAY


@contextmanager
def use(selected: PrefectGateway) -> Iterator[PrefectGateway]:
    """Every operation of this process goes through ``selected`` inside the block."""
    global _selected
    previous, _selected = _selected, selected
    try:
        yield selected
    finally:
        _selected = previous


# ---------------------------------------------------------------- named operations


def read_run(run_id: str | UUID) -> FlowRun | None:
    return gateway().read_run(str(run_id))


def is_waiting(run: FlowRun | None) -> bool:
    """Whether the run waits for an input (paused hot, or suspended)."""
    return run is not None and run.state is not None and run.state.is_paused()


def waiting_state(run_id: str | UUID) -> str | None:
    """The run's state name when it is waiting (paused/suspended); None otherwise."""
    run = read_run(run_id)
    return run.state.name if is_waiting(run) and run and run.state else None


# A gate handing over from its hot pause to a suspension is Running for a moment
# (flows/gate_wait.py): a resume arriving then is retried once, this long after.
HANDOVER_RETRY_SECONDS = 0.5


def resume_gate(run_id: str, decision: ApprovalDecision) -> Answer:
    """Resume a waiting gate's run with the decision as its typed input; a refusal is
    tried once more across the hot-to-cold hand-over."""
    run_input = decision.model_dump(mode="json")
    answer = gateway().resume_run(run_id, run_input)
    if not answer.accepted:
        time.sleep(HANDOVER_RETRY_SECONDS)
        answer = gateway().resume_run(run_id, run_input)
    return answer


def runs_of(
    deployment: str,
    *,
    since: datetime | None = None,
    states: Sequence[str] | None = None,
    order: RunOrder = "expected_start",
    limit: int = 200,
) -> list[FlowRun]:
    """See ``PrefectGateway.runs_of``."""
    return gateway().runs_of(deployment, since=since, states=states, order=order, limit=limit)


def flow_runs_of(deployment: str, *, since: datetime | None = None) -> list[FlowRun]:
    """Flow runs of a deployment ('flow-name/deployment-name'), newest first."""
    return runs_of(deployment, since=since)


def ended_runs_of(deployment: str, *, states: list[str], since: datetime) -> list[FlowRun]:
    """Runs of a deployment expected to start since ``since`` whose state type is one of
    ``states`` (e.g. ["FAILED", "CANCELLED"])."""
    return runs_of(deployment, since=since, states=states)


def last_completed_run(deployment: str) -> FlowRun | None:
    """The deployment's most recently ended Completed run."""
    runs = runs_of(deployment, states=["COMPLETED"], order="end_time", limit=1)
    return runs[0] if runs else None


def set_state(run_id: str | UUID, state: State, *, force: bool = False) -> Answer:
    return gateway().set_state(str(run_id), state, force=force)


def reschedule(run_id: str, message: str) -> None:
    """Set the run Scheduled (forced): a worker picks it up and it resumes from its
    persisted results."""
    from prefect.states import Scheduled

    set_state(run_id, Scheduled(message=message), force=True)


def mark_crashed(flow_run_id: str, message: str) -> bool:
    """Set the run Crashed (as Prefect's zombie Automation does; frees its deployment
    concurrency slot). False when the server refused (the run ended meanwhile)."""
    from prefect.states import Crashed

    return set_state(flow_run_id, Crashed(message=message)).accepted


def mark_expired(flow_run_id: str, reason: str) -> None:
    """Name the run's final state Expired. The server fails a run whose pause timed out (as
    plain 'Failed'); only a forced state gives it the name operators look for."""
    from prefect.states import Failed

    run = read_run(flow_run_id)
    if run is None:
        raise LookupError(f"flow run {flow_run_id} does not exist")
    if run.state is None or run.state.name != "Expired":
        set_state(flow_run_id, Failed(name="Expired", message=reason), force=True)


def start_deployment(
    deployment: str, *, parameters: dict[str, Any], tags: list[str], idempotency_key: str
) -> FlowRun:
    """Create a run of the deployment (returns at once; a worker runs it)."""
    return gateway().start_deployment(
        deployment, parameters=parameters, tags=tags, idempotency_key=idempotency_key
    )


def emit(event: str, *, resource: dict[str, str], payload: dict[str, Any], event_id: UUID) -> None:
    """A Prefect event (Prefect stores one event per id: repeats collapse)."""
    gateway().emit(event, resource=resource, payload=payload, event_id=event_id)


def flow_run_url(run_id: str) -> str:
    """The run's page in the Prefect UI (the UI's URL, else the API's without ``/api``)."""
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    base = settings.ui_url or (settings.api.url or "").removesuffix("/api")
    return f"{base.rstrip('/')}/runs/flow-run/{run_id}"


# Reads only the real server answers (the runs' task runs, events, artifacts, blocks) and
# what a deploy creates there.
from quoteflow.prefect_api.client import (  # noqa: E402
    PROCESS_EVENTS,
    deployment_ids,
    deployments_tagged,
    ensure_concurrency_limit,
    ensure_work_pool,
    last_process_events,
    put_automations,
    read_flow_run,
    read_run_input,
    read_task_run,
    retire_block_document,
    sweep_artifact_rows,
    task_runs_of,
    unfinished_runs,
    wait_for_flow_run,
)

__all__ = [
    "PROCESS_EVENTS",
    "Answer",
    "NoPrefectApi",
    "PrefectGateway",
    "PrefectUnreachable",
    "api_url",
    "deployment_ids",
    "deployments_tagged",
    "emit",
    "ended_runs_of",
    "ensure_concurrency_limit",
    "ensure_work_pool",
    "flow_run_url",
    "flow_runs_of",
    "gateway",
    "is_unreachable",
    "is_waiting",
    "last_completed_run",
    "last_process_events",
    "mark_crashed",
    "mark_expired",
    "pointed_at",
    "put_automations",
    "read_flow_run",
    "read_run",
    "read_run_input",
    "read_task_run",
    "require_api_url",
    "reschedule",
    "resume_gate",
    "retire_block_document",
    "runs_of",
    "set_state",
    "start_deployment",
    "sweep_artifact_rows",
    "task_runs_of",
    "unfinished_runs",
    "use",
    "wait_for_flow_run",
    "waiting_state",
]
