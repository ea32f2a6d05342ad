"""The one way a process points at a Prefect server.

Prefect reads PREFECT_API_URL when it is imported; without one a process silently starts
an ephemeral server of its own, whose runs nobody else sees. So: ``api_url()`` is the
server this process talks to (PREFECT_API_URL, None when unset) and ``pointed_at(url)``
is the only way to switch a process (and the processes it starts) to another server.
Processes quoteflow starts itself (worker, `prefect deploy`) are given ``require_api_url()``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun, TaskRun


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


def flow_runs_of(deployment: str, *, since: datetime | None = None) -> list[FlowRun]:
    """Flow runs of a deployment ('flow-name/deployment-name'), newest first."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name(deployment)
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id])),
            flow_run_filter=FlowRunFilter(
                expected_start_time=FlowRunFilterExpectedStartTime(after_=since) if since else None
            ),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        )
    return list(runs)


def wait_for_flow_run(
    find: Callable[[], FlowRun | None],
    until: Callable[[FlowRun], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 1.0,
) -> FlowRun:
    """Poll until ``find`` returns a run for which ``until`` holds; TimeoutError naming
    ``what`` (and the last state seen) otherwise."""
    deadline = time.monotonic() + timeout
    last: FlowRun | None = None
    while time.monotonic() < deadline:
        last = find()
        if last is not None and until(last):
            return last
        time.sleep(interval)
    seen = f"; last seen {last.name} in state {last.state.name}" if last and last.state else ""
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}{seen}")


def read_flow_run(flow_run_id: str) -> FlowRun:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(UUID(flow_run_id))


def task_runs_of(flow_run_id: str | UUID) -> list[TaskRun]:
    """Every task run of one flow run (retried and cached ones included), unordered."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        return client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(str(flow_run_id))]))
        )


def ended_runs_of(deployment: str, *, states: list[str], since: datetime) -> list[FlowRun]:
    """Runs of a deployment ('flow-name/deployment-name') expected to start since
    ``since`` whose state type is one of ``states`` (e.g. ["FAILED", "CANCELLED"])."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        return list(
            client.read_flow_runs(
                deployment_filter=DeploymentFilter(
                    name=DeploymentFilterName(any_=[deployment.split("/")[1]])
                ),
                flow_run_filter=FlowRunFilter(
                    expected_start_time=FlowRunFilterExpectedStartTime(after_=since),
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType(s) for s in states])
                    ),
                ),
                limit=200,
            )
        )


# Events that show a process holds a flow run (besides its state changes).
PROCESS_EVENTS = ("prefect.flow-run.heartbeat", "prefect.flow-run.pull-step.executed")


def last_process_events(flow_run_ids: list[str], *, since: datetime) -> dict[str, datetime]:
    """The latest heartbeat (or pull step) each of these runs sent since ``since``."""
    from prefect import get_client
    from prefect.events.filters import (
        EventFilter,
        EventNameFilter,
        EventOccurredFilter,
        EventResourceFilter,
    )

    if not flow_run_ids:
        return {}
    latest: dict[str, datetime] = {}
    event_filter = EventFilter(
        occurred=EventOccurredFilter(since=since),
        event=EventNameFilter(name=list(PROCESS_EVENTS)),
        resource=EventResourceFilter(id=[f"prefect.flow-run.{i}" for i in flow_run_ids]),
    )
    with get_client(sync_client=True) as client:
        page = client.read_events(filter=event_filter, limit=50)
        while True:
            for event in page.events:
                run_id = event.resource.id.removeprefix("prefect.flow-run.")
                if run_id not in latest or event.occurred > latest[run_id]:
                    latest[run_id] = event.occurred
            if not page.next_page:
                break
            page = client.read_events_page(page.next_page)
    return latest


def unfinished_runs(tag: str) -> list[FlowRun]:
    """Runs with this tag that a process should hold now: Pending, Running or Paused."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType

    states = [StateType.PENDING, StateType.RUNNING, StateType.PAUSED]
    with get_client(sync_client=True) as client:
        return list(
            client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    tags=FlowRunFilterTags(all_=[tag]),
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=states)),
                ),
                limit=200,
            )
        )


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


def deployments_tagged(tag: str) -> list[tuple[str, UUID]]:
    """('flow/deployment', id) of every deployment with this tag, by name."""
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    with get_client(sync_client=True) as client:
        deployments = client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[tag]))
        )
        flows = {f.id: f.name for f in client.read_flows()}
    return sorted((f"{flows.get(d.flow_id, '?')}/{d.name}", d.id) for d in deployments)


def last_completed_run(deployment_id: UUID) -> FlowRun | None:
    """The deployment's most recently ended Completed run."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED]))
            ),
            sort=FlowRunSort.END_TIME_DESC,
            limit=1,
        )
    return runs[0] if runs else None


def mark_crashed(flow_run_id: str, message: str) -> bool:
    """Set the run Crashed (as Prefect's zombie Automation does; frees its deployment
    concurrency slot). False when the server refused (the run ended meanwhile)."""
    from prefect import get_client
    from prefect.client.schemas.responses import SetStateStatus
    from prefect.states import Crashed

    with get_client(sync_client=True) as client:
        result = client.set_flow_run_state(UUID(flow_run_id), Crashed(message=message))
    return result.status == SetStateStatus.ACCEPT
