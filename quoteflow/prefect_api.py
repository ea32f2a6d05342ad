"""Pointing a process at one Prefect server. Prefect reads PREFECT_API_URL at import; a
process that starts the stack later must switch its settings context explicitly, or it
would silently start an ephemeral server nobody else can see."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun


@contextmanager
def pointed_at(api_url: str) -> Iterator[None]:
    """This process (settings context) and its children (environment) use ``api_url``;
    ephemeral mode is off."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_ALLOW_EPHEMERAL_MODE,
        temporary_settings,
    )

    overrides = {"PREFECT_API_URL": api_url, "PREFECT_SERVER_EPHEMERAL_ENABLED": "false"}
    previous = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    try:
        with temporary_settings(
            {PREFECT_API_URL: api_url, PREFECT_SERVER_ALLOW_EPHEMERAL_MODE: False}
        ):
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
