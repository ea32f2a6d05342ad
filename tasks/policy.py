"""Task options in one place (every preset a task uses): the fan-out retry policy
(contract section 9) and its final-failure alert, the short retry policy of every other
task that retries, and the throttled NetSuite client every push shares."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx
from botocore.exceptions import BotoCoreError, ClientError
from prefect import Task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.context import FlowRunContext
from prefect.runtime import task_run as current_task_run
from prefect.states import State
from sqlalchemy.exc import OperationalError

from quoteflow import ledger
from quoteflow.netsuite.errors import NetSuiteError
from quoteflow.run_rules import retry_delays
from quoteflow.settings import get_settings
from tasks.throttle import limit_slot

if TYPE_CHECKING:
    from blocks.netsuite import NetSuiteCredentials
    from quoteflow.netsuite.client import NetSuiteClient

logger = logging.getLogger("quoteflow.alerts")


class PermanentStepError(Exception):
    """A step failure that no retry can fix (bad data, a conflicting record)."""


def is_transient(exc: BaseException | None) -> bool:
    """Retry network, server and lock trouble; never retry what will fail the same way
    again (bad data, a refused record, a bug)."""
    if exc is None or isinstance(exc, PermanentStepError):
        return False
    if isinstance(exc, NetSuiteError):
        return exc.retryable
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return status >= 500 or status in (408, 429)
    return isinstance(
        exc,
        OSError  # sockets, timeouts, SMTP disconnects
        | smtplib.SMTPException
        | httpx.TransportError
        | BotoCoreError
        | OperationalError,  # database locked or connection lost
    )


def retry_if_transient(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    try:
        state.result()
    except Exception as exc:  # the state holds the task's exception; inspect it
        return is_transient(exc)
    return False


def is_retryable_failure(state: State[Any]) -> bool:
    """Whether a failed step's final state may succeed when re-driven later."""
    try:
        state.result()
    except Exception as exc:
        return is_transient(exc)
    return True


def alert_on_final_failure(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> None:
    """Runs once per failed step, after its retries are spent: error log, ledger alert,
    Prefect event."""
    flow_ctx = FlowRunContext.get()
    run_id = (
        str(flow_ctx.flow_run.id) if flow_ctx and flow_ctx.flow_run else str(task_run.flow_run_id)
    )
    message = state.message or "failed"
    if not alert_due(task.name, run_id, state, flow_ctx):
        return
    logger.error(
        "ALERT step %s of run %s failed after %s attempt(s): %s",
        task.name,
        run_id,
        task_run.run_count,
        message,
    )
    ledger.record_alert(run_id=run_id, step=task.name, attempts=task_run.run_count, error=message)


# Deployments whose failed runs the reconciler re-drives (quoteflow.recovery): a step
# that failed on a cause that may pass is alerted once, by the run's dead letter.
REDRIVEN_FLOWS = frozenset({"customer-quote", "send-quote-email"})


def alert_due(step: str, run_id: str, state: State[Any], flow_ctx: FlowRunContext | None) -> bool:
    """One cause, one alert: not when this run's step was already alerted (a dead-lettered
    NetSuite push, an email in doubt), nor when the failure may pass and the reconciler
    re-drives the run (its dead letter alerts once, naming the command)."""
    if step in ledger.alerted_steps(run_id):
        return False
    redriven = (
        flow_ctx is not None
        and flow_ctx.flow_run is not None
        and flow_ctx.flow_run.deployment_id is not None
        and flow_ctx.flow.name in REDRIVEN_FLOWS
    )
    if redriven and is_retryable_failure(state):
        logger.warning(
            "step %s of run %s failed on a cause that may pass: the reconciler re-drives "
            "the run (one alert if it is dead-lettered)",
            step,
            run_id,
        )
        return False
    return True


def short_retry_options() -> dict[str, Any]:
    """Retries of a task that is not a fan-out step (reads, bookkeeping): the attempts and
    backoff of the settings, without the fan-out's alert or retry condition."""
    settings = get_settings()
    return {
        "retries": settings.retry_attempts - 1,
        "retry_delay_seconds": retry_delays(
            settings.retry_attempts, settings.retry_base_seconds, settings.retry_max_seconds
        ),
    }


def transient_retry_options() -> dict[str, Any]:
    """The short retries, only for failures that may pass (network, server, locks)."""
    return {**short_retry_options(), "retry_condition_fn": retry_if_transient}


def read_options() -> dict[str, Any]:
    """A read whose result a resumed run reuses (the context it quoted from)."""
    return {**short_retry_options(), "persist_result": True}


def record_options() -> dict[str, Any]:
    """A keyed write that ends a run: never served from the cache, so a re-driven run (its
    process died, even between two of these) writes again and its records catch up with
    its real outcome; every write is keyed, so a repeat changes nothing else."""
    return {**short_retry_options(), "persist_result": True, "cache_policy": NO_CACHE}


def live_read_options() -> dict[str, Any]:
    """A read that must be asked again by a re-driven run (never cached or persisted), so no
    write ever follows an answer read before a crash."""
    return {**transient_retry_options(), "cache_policy": NO_CACHE, "persist_result": False}


def uncached_retry_options() -> dict[str, Any]:
    """The short retries for a task a re-driven run must run again (never cached)."""
    return {**short_retry_options(), "cache_policy": NO_CACHE}


def uncached_transient_options() -> dict[str, Any]:
    """The transient-only retries for a task a re-driven run must run again (never cached)."""
    return {**transient_retry_options(), "cache_policy": NO_CACHE}


# Housekeeping passes that a later scheduled run repeats anyway: one quick retry.
RETRY_ONCE_OPTIONS: dict[str, Any] = {"retries": 1, "retry_delay_seconds": 2}
# A reconcile pass: asked afresh each time, one quick retry on a failure that may pass.
PASS_OPTIONS: dict[str, Any] = {
    "cache_policy": NO_CACHE,
    **RETRY_ONCE_OPTIONS,
    "retry_condition_fn": retry_if_transient,
}


def fanout_task_options(*, persist_result: bool = True) -> dict[str, Any]:
    """Task keyword arguments shared by every fan-out step; ``persist_result`` False for a
    step whose result is only passed on (a PDF's bytes)."""
    return {
        **transient_retry_options(),
        "on_failure": [alert_on_final_failure],
        "persist_result": persist_result,
    }


def final_attempt() -> bool:
    """Whether the running task's attempt is its last (no retry follows a failure)."""
    return current_task_run.run_count >= get_settings().retry_attempts


@contextmanager
def throttled_netsuite(netsuite: NetSuiteCredentials) -> Iterator[NetSuiteClient]:
    """A NetSuite client inside one slot of the global concurrency limit that throttles
    every NetSuite writer (the customer-quote flow and ns-push-retry alike)."""
    settings = get_settings()
    with (
        limit_slot(settings.netsuite_concurrency_limit),
        netsuite.get_client() as client,
    ):
        yield client
