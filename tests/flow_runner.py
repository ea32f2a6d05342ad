"""Run a flow in a background thread of the test process and drive its pauses, the way
Mike would from the Prefect UI (resume with typed input)."""

from __future__ import annotations

import contextvars
import threading
import time
import uuid
from typing import Any

from prefect import get_client, tags
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.client.schemas.objects import FlowRun
from prefect.flow_runs import resume_flow_run
from prefect.states import State


class FlowRunHandle:
    def __init__(self, fn: Any, **kwargs: Any) -> None:
        self.tag = f"test-{uuid.uuid4().hex[:10]}"
        self.state: State[Any] | None = None
        self.error: BaseException | None = None

        def target() -> None:
            try:
                with tags(self.tag):
                    self.state = fn(**kwargs, return_state=True)
            except BaseException as exc:  # surfaced by join()
                self.error = exc

        # Prefect's settings (the API URL) live in context variables, which a new thread
        # does not inherit: run the flow in a copy of this context.
        context = contextvars.copy_context()
        self.thread = threading.Thread(target=context.run, args=(target,), daemon=True)
        self.thread.start()

    def flow_run(self) -> FlowRun | None:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[self.tag]))
            )
        return runs[0] if runs else None

    def wait_paused(self, timeout: float = 90) -> FlowRun:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.flow_run()
            if run and run.state and run.state.is_paused():
                return run
            if not self.thread.is_alive():
                raise AssertionError(f"flow ended before pausing: {self.state or self.error}")
            time.sleep(0.25)
        raise AssertionError("flow did not pause in time")

    def resume(self, **run_input: Any) -> None:
        run = self.wait_paused()
        resume_flow_run(run.id, run_input=run_input)

    def join(self, timeout: float = 120) -> State[Any]:
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError("flow did not finish in time")
        if self.error is not None:
            raise self.error
        assert self.state is not None
        return self.state

    @property
    def run_id(self) -> str:
        run = self.flow_run()
        assert run is not None
        return str(run.id)
