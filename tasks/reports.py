"""What a person looks at in the Prefect UI: the quote preview, and the run's outcome."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.futures import PrefectFuture
from pydantic import BaseModel

from quoteflow.prefect_api import read_task_run
from quoteflow.presentation import preview_markdown, preview_rows
from quoteflow.quote import QuotePreview
from quoteflow.run_rules import FANOUT_STEPS, StepOutcome
from quoteflow.settings import get_settings
from tasks.policy import is_retryable_failure


def _artifact_key(prefix: str, quote_id: str) -> str:
    return f"{prefix}-{quote_id.lower().replace('_', '-')}"


@task
def publish_preview(preview: QuotePreview) -> None:
    """A table artifact of the quote preview for the person deciding."""
    create_table_artifact(
        key=_artifact_key("quote-preview", preview.quote_id),
        table=preview_rows(preview),
        description=preview_markdown(preview, tz=get_settings().local_timezone).split("\n| #")[0]
        + "\n\n"
        + "\n".join(f"- {w.check}: {w.message}" for w in preview.warnings),
    )


class StepState(BaseModel):
    """What the flow saw of one fan-out future: enough to judge the step without the API."""

    task_run_id: str
    completed: bool
    name: str
    message: str | None = None
    # A failure a later re-drive may fix (an outage), not one that fails the same way.
    retryable: bool = True


def step_states(futures: Mapping[str, PrefectFuture[Any]]) -> dict[str, StepState | None]:
    """What the flow sees of each fan-out step's (finished) future; None: never submitted."""
    seen: dict[str, StepState | None] = {}
    for name in FANOUT_STEPS:
        future = futures.get(name)
        if future is None:
            seen[name] = None
            continue
        state = future.state
        seen[name] = StepState(
            task_run_id=str(future.task_run_id),
            completed=state.is_completed(),
            name=state.name,
            message=state.message,
            retryable=state.is_completed() or is_retryable_failure(state),
        )
    return seen


def _read_settled_task_run(task_run_id: str, timeout: float) -> TaskRun | None:
    """Task runs reach the API through events, a moment after they ran: wait for it."""
    deadline = time.monotonic() + timeout
    while True:
        tr = read_task_run(task_run_id)
        if tr is not None and tr.state is not None and tr.state.is_final():
            return tr
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.25)


@task(cache_policy=NO_CACHE)
def collect_step_outcomes(
    steps: dict[str, StepState | None], skipped: dict[str, str]
) -> list[StepOutcome]:
    """Each fan-out step's status and error (as the flow saw it), with attempts and
    duration read from Prefect."""
    outcomes: list[StepOutcome] = []
    for name, seen in steps.items():
        if name in skipped:
            outcomes.append(StepOutcome(name=name, status="skipped", error=skipped[name]))
            continue
        if seen is None:
            outcomes.append(StepOutcome(name=name, status="not_run", error="not started"))
            continue
        if not seen.completed and seen.name in ("NotReady", "Pending"):
            outcomes.append(
                StepOutcome(name=name, status="not_run", error="an upstream step failed")
            )
            continue
        tr = _read_settled_task_run(seen.task_run_id, timeout=15)
        outcomes.append(
            StepOutcome(
                name=name,
                status="completed" if seen.completed else "failed",
                attempts=tr.run_count if tr else 0,
                duration_seconds=round(tr.total_run_time.total_seconds(), 3) if tr else None,
                error=None if seen.completed else seen.message,
                detail={"state": seen.name}
                if seen.completed
                else {"state": seen.name, "retryable": seen.retryable},
            )
        )
    return outcomes


@task
def publish_run_summary(
    quote_id: str | None, status: str, steps: list[StepOutcome], headline: str
) -> None:
    """A markdown artifact: the run's outcome and every step."""
    rows = "\n".join(
        f"| {s.name} | {s.status} | {s.attempts} | "
        f"{'' if s.duration_seconds is None else f'{s.duration_seconds:.2f}s'} | {s.error or ''} |"
        for s in steps
    )
    table = (
        f"| step | status | attempts | duration | error |\n|---|---|---|---|---|\n{rows}\n"
        if steps
        else ""
    )
    create_markdown_artifact(
        key=_artifact_key("quote-run", quote_id or "none"),
        markdown=f"## customer-quote: {status}\n\n{headline}\n\n{table}",
        description=f"Outcome of the customer-quote run ({status})",
    )
