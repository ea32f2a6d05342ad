"""reconcile: every minute, make sure nothing approved is lost and nothing stranded stays
stranded. Starts runs for approved drafts nobody claimed, resumes decided gates whose run
still waits, heals crashed or stuck runs and re-drives incomplete fan-outs (capped, then
one alert). The flow only sequences tasks; the rules live in quoteflow.recovery.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.futures import wait
from pydantic import BaseModel

from quoteflow.recovery import Recovered
from tasks.recovery import (
    heal_stranded_runs,
    publish_reconcile_report,
    redrive_incomplete_runs,
    resume_decided_gates,
    start_unclaimed_actions,
)


class ReconcileResult(BaseModel):
    """What one pass did, and which passes failed (they run again next minute)."""

    done: list[Recovered]
    failed_passes: list[str]


@flow(
    name="reconcile",
    description="Start approved drafts whose run never started, resume decided gates whose "
    "run still waits, heal crashed/stuck runs, re-drive incomplete fan-outs (capped).",
)
def reconcile() -> ReconcileResult:
    """One reconciliation pass over approvals and runs."""
    logger = get_run_logger()
    now = datetime.now(UTC)
    passes = {
        "start_unclaimed_actions": start_unclaimed_actions.submit(now),
        "resume_decided_gates": resume_decided_gates.submit(now),
        "heal_stranded_runs": heal_stranded_runs.submit(now),
        "redrive_incomplete_runs": redrive_incomplete_runs.submit(now),
    }
    wait(list(passes.values()))
    done: list[Recovered] = []
    failed: list[str] = []
    for name, future in passes.items():
        if future.state.is_completed():
            done.extend(future.result())
        else:
            failed.append(name)
            logger.error("Pass %s failed: %s", name, future.state.message)
    for d in done:
        logger.info("%s %s (run %s): %s", d.kind, d.subject, d.run_id or "-", d.detail)
    if done:
        publish_reconcile_report(done)
    else:
        logger.info("Nothing to reconcile")
    if failed:
        raise RuntimeError(f"reconcile passes failed: {', '.join(failed)}")
    return ReconcileResult(done=done, failed_passes=failed)
