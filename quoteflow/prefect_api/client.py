"""The gateway over Prefect's client: the only module that opens ``get_client``. Besides
the ``PrefectGateway`` operations it holds the reads only a real server answers (task runs,
events, artifacts, block documents, run inputs), what a deploy creates (work pool,
concurrency limits, automations) and the polling helpers of the dev tools."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from quoteflow.prefect_api.answers import Answer, RunOrder

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import FlowRun, TaskRun
    from prefect.client.schemas.responses import OrchestrationResult
    from prefect.events.schemas.automations import AutomationCore
    from prefect.states import State


def _client() -> SyncPrefectClient:
    from prefect import get_client

    return get_client(sync_client=True)


def _answer(result: OrchestrationResult[Any]) -> Answer:
    from prefect.client.schemas.responses import SetStateStatus

    if result.status == SetStateStatus.ACCEPT:
        return Answer(True, state=result.state)
    reason = getattr(result.details, "reason", None) or str(result.status)
    return Answer(False, reason=reason, state=result.state)


class ClientGateway:
    """``PrefectGateway`` over the Prefect server this process points at."""

    def read_secret(self, name: str) -> str:
        from prefect.blocks.system import Secret

        # _sync: callers may run in a thread a running event loop started, where a bare
        # load() answers a coroutine (Prefect's sync/async dispatch).
        return str(Secret.load(name, _sync=True).get())

    def read_run(self, run_id: str) -> FlowRun | None:
        from prefect.exceptions import ObjectNotFound

        with _client() as client:
            try:
                return client.read_flow_run(UUID(run_id))
            except ObjectNotFound:
                return None

    def resume_run(self, run_id: str, run_input: dict[str, Any]) -> Answer:
        with _client() as client:
            return _answer(client.resume_flow_run(UUID(run_id), run_input=run_input))

    def set_state(self, run_id: str, state: State, *, force: bool = False) -> Answer:
        with _client() as client:
            return _answer(client.set_flow_run_state(UUID(run_id), state, force=force))

    def runs_of(
        self,
        deployment: str,
        *,
        since: datetime | None = None,
        states: Sequence[str] | None = None,
        order: RunOrder = "expected_start",
        limit: int = 200,
    ) -> list[FlowRun]:
        from prefect.client.schemas.filters import (
            DeploymentFilter,
            DeploymentFilterName,
            FlowFilter,
            FlowFilterName,
            FlowRunFilter,
            FlowRunFilterExpectedStartTime,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType
        from prefect.client.schemas.sorting import FlowRunSort

        flow_name, deployment_name = deployment.split("/", 1)
        run_filter = FlowRunFilter(
            expected_start_time=FlowRunFilterExpectedStartTime(after_=since) if since else None,
            state=FlowRunFilterState(
                type=FlowRunFilterStateType(any_=[StateType(s) for s in states])
            )
            if states
            else None,
        )
        with _client() as client:
            return list(
                client.read_flow_runs(
                    flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                    deployment_filter=DeploymentFilter(
                        name=DeploymentFilterName(any_=[deployment_name])
                    ),
                    flow_run_filter=run_filter,
                    sort=FlowRunSort.END_TIME_DESC
                    if order == "end_time"
                    else FlowRunSort.EXPECTED_START_TIME_DESC,
                    limit=limit,
                )
            )

    def start_deployment(
        self,
        deployment: str,
        *,
        parameters: dict[str, Any],
        tags: list[str],
        idempotency_key: str,
    ) -> FlowRun:
        from prefect.deployments import run_deployment

        return run_deployment(
            deployment,
            parameters=parameters,
            timeout=0,
            as_subflow=False,
            tags=tags,
            idempotency_key=idempotency_key,
        )

    def emit(
        self, event: str, *, resource: dict[str, str], payload: dict[str, Any], event_id: UUID
    ) -> None:
        from prefect.events import emit_event

        emit_event(event=event, resource=resource, payload=payload, id=event_id)


CLIENT_GATEWAY = ClientGateway()


# ---------------------------------------------------------------- reads of the real server


def read_flow_run(flow_run_id: str) -> FlowRun:
    with _client() as client:
        return client.read_flow_run(UUID(flow_run_id))


def read_task_run(task_run_id: str) -> TaskRun | None:
    from prefect.exceptions import ObjectNotFound

    with _client() as client:
        try:
            return client.read_task_run(UUID(task_run_id))
        except ObjectNotFound:
            return None


def task_runs_of(flow_run_id: str | UUID) -> list[TaskRun]:
    """Every task run of one flow run (retried and cached ones included), unordered."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with _client() as client:
        return client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(str(flow_run_id))]))
        )


def read_run_input(flow_run_id: str | UUID, key: str) -> Any:
    """The value stored under ``key`` of the run's inputs, or None."""
    from prefect.input.actions import read_flow_run_input

    return read_flow_run_input(key, flow_run_id=UUID(str(flow_run_id)))


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


# Events that show a process holds a flow run (besides its state changes).
PROCESS_EVENTS = ("prefect.flow-run.heartbeat", "prefect.flow-run.pull-step.executed")


def last_process_events(flow_run_ids: list[str], *, since: datetime) -> dict[str, datetime]:
    """The latest heartbeat (or pull step) each of these runs sent since ``since``."""
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
    with _client() as client:
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
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType

    states = [StateType.PENDING, StateType.RUNNING, StateType.PAUSED]
    with _client() as client:
        return list(
            client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    tags=FlowRunFilterTags(all_=[tag]),
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=states)),
                ),
                limit=200,
            )
        )


def deployments_tagged(tag: str) -> list[str]:
    """'flow/deployment' of every deployment with this tag, by name."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    with _client() as client:
        deployments = client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[tag]))
        )
        flows = {f.id: f.name for f in client.read_flows()}
    return sorted(f"{flows.get(d.flow_id, '?')}/{d.name}" for d in deployments)


def sweep_artifact_rows(flow_run_id: Any, key: str) -> list[dict[str, str]]:
    """The rows of the run's table artifact ``key``, as the Prefect UI shows them."""
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    with _client() as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            )
        )
    if not artifacts:
        return []
    data = artifacts[0].data
    rows = json.loads(data) if isinstance(data, str) else data
    return list(rows or [])


def retire_block_document(name: str, block_type_slug: str) -> bool:
    """Delete the block document ``name`` of a block type, and the type once no document
    uses it. True if a document was deleted."""
    from prefect.exceptions import ObjectNotFound

    with _client() as client:
        try:
            document = client.read_block_document_by_name(
                name, block_type_slug, include_secrets=False
            )
        except ObjectNotFound:
            return False
        client.delete_block_document(document.id)
        try:
            block_type = client.read_block_type_by_slug(block_type_slug)
        except ObjectNotFound:
            return True
        if not client.read_block_documents_by_type(block_type_slug, include_secrets=False):
            client.delete_block_type(block_type.id)
    return True


# ---------------------------------------------------------------- what a deploy creates


def ensure_work_pool(name: str, pool_type: str = "process") -> None:
    """A work pool of this name (created once)."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with _client() as client:
        try:
            client.read_work_pool(name)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type=pool_type))


def ensure_concurrency_limit(name: str, limit: int) -> None:
    """A Prefect global concurrency limit of this name (created once)."""
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectNotFound

    with _client() as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=name, limit=limit, active=True)
            )


def deployment_ids(names: Iterable[str]) -> dict[str, str]:
    """The id of each 'flow/deployment' name."""
    with _client() as client:
        return {name: str(client.read_deployment_by_name(name).id) for name in names}


def put_automations(automations: Sequence[AutomationCore]) -> list[str]:
    """Create each automation, or update the one of that name (deleting any extra copies);
    returns a line per automation."""
    lines = []
    with _client() as client:
        for automation in automations:
            existing = client.read_automations_by_name(automation.name)
            if existing:
                keep, *extra = existing
                client.update_automation(keep.id, automation)
                for dup in extra:
                    client.delete_automation(dup.id)
                lines.append(f"automation {automation.name}: updated ({keep.id})")
            else:
                new_id = client.create_automation(automation)
                lines.append(f"automation {automation.name}: created ({new_id})")
    return lines
