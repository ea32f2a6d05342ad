"""The operator's re-drive (`quoteflow recover redrive`): a person re-drives a run past
the automatic cap after fixing its cause."""

from __future__ import annotations

from typing import Any

from quoteflow import prefect_api
from quoteflow.models import utcnow
from quoteflow.outcome import stranded_reason
from quoteflow.outcome_records import record_crash
from quoteflow.recovery import _lift_and_redrive
from quoteflow.recovery_rules import QUOTE_TAG


def manual_redrive(run_id: str, *, reason: str = "re-driven by hand") -> int:
    """A person re-drives a run (past the cap, after fixing its cause): counted, the dead
    letter lifted, the run rescheduled. Returns the re-drive count."""
    run = _existing_run(run_id)
    if run.state is not None and not run.state.is_final() and not run.state.is_pending():
        raise ValueError(
            f"run {run_id} is {run.state.name}: only ended or stuck runs are re-driven"
        )
    from quoteflow.outbox import revive_dead_letters

    revive_dead_letters(run_id)  # a person fixed the cause: its refused pushes go again
    return _lift_and_redrive(run_id, "manual", reason)


def redrive_by_hand(run_id: str) -> tuple[int, str]:
    """``manual_redrive`` for the operator's command: a run still Running, Pending or
    Paused hot whose process is gone (silent past the zombie window) is marked Crashed
    first, its crashed outcome recorded; one whose process is alive is refused
    (ValueError saying why). Returns the re-drive count and what was done before it."""
    from quoteflow import liveness

    run = _existing_run(run_id)
    before = ""
    state = run.state
    if state is not None and (state.is_running() or state.is_pending() or state.is_paused()):
        alive = liveness.liveness_of(run, utcnow())
        if alive is None:
            raise ValueError(
                f"run {run_id} is {state.name}: it holds no process and waits for a "
                "decision; decide its gate instead"
            )
        if not alive.stranded:
            raise ValueError(f"run {run_id} is {alive.describe()}; not re-driven")
        if not liveness.crash(alive, "marked Crashed by `quoteflow recover redrive`"):
            raise ValueError(f"run {run_id} changed state meanwhile; look again")
        before = f"marked Crashed ({alive.describe()}); "
        if QUOTE_TAG in (run.tags or []):
            record_crash(run, stranded_reason("Crashed", utcnow(), "process gone"))
            before += "crashed outcome recorded; "
    return manual_redrive(run_id), before


def _existing_run(run_id: str) -> Any:
    run = prefect_api.read_run(run_id)
    if run is None:
        raise ValueError(f"run {run_id} is not on the Prefect server")
    return run
