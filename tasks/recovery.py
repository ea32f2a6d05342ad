"""The reconciler's tasks: each pass of quoteflow.recovery as one task (a failing pass
does not stop the others), and its report."""

from __future__ import annotations

from datetime import datetime, timedelta

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from quoteflow import recovery
from quoteflow.recovery import Recovered, RecoveryPolicy
from quoteflow.settings import get_settings
from tasks.policy import PASS_OPTIONS

RECONCILE_ARTIFACT_KEY = "reconcile"


def recovery_policy() -> RecoveryPolicy:
    s = get_settings()
    return RecoveryPolicy(
        start_grace=timedelta(seconds=s.reconcile_start_grace_seconds),
        stuck_pending=timedelta(seconds=s.stuck_pending_seconds),
        lookback=timedelta(hours=s.reconcile_lookback_hours),
        redrive_max=s.redrive_max,
        redrive_interval=timedelta(minutes=s.redrive_interval_minutes),
    )


@task(**PASS_OPTIONS)
def start_unclaimed_actions(now: datetime) -> list[Recovered]:
    """Start a run for every approved quote or email draft no run has claimed."""
    return recovery.start_unclaimed(recovery_policy(), now)


@task(**PASS_OPTIONS)
def resume_decided_gates(now: datetime) -> list[Recovered]:
    """Resume every decided gate whose run is still paused or suspended."""
    return recovery.resume_decided_gates(recovery_policy(), now)


@task(**PASS_OPTIONS)
def heal_stranded_runs(now: datetime) -> list[Recovered]:
    """Crashed runs: post actions and a bounded re-drive; stuck Pending runs: resubmit."""
    return recovery.heal_stranded(recovery_policy(), now)


@task(**PASS_OPTIONS)
def redrive_incomplete_runs(now: datetime) -> list[Recovered]:
    """Partial or failed customer-quote runs: re-drive their incomplete steps, capped."""
    return recovery.redrive_incomplete(recovery_policy(), now)


@task(cache_policy=NO_CACHE)
def publish_reconcile_report(done: list[Recovered], gate_problems: list[str]) -> None:
    """A table artifact of what this pass did and the expired gates it could not record
    (absent when there was neither)."""
    skipped = [
        {"did": "skipped", "what": p, "run": "", "why": "gate not recorded"} for p in gate_problems
    ]
    create_table_artifact(
        key=RECONCILE_ARTIFACT_KEY,
        table=[
            {"did": d.kind, "what": d.subject, "run": d.run_id or "", "why": d.detail} for d in done
        ]
        + skipped,
        description=f"reconcile: {len(done)} action(s), {len(gate_problems)} gate(s) skipped",
    )
