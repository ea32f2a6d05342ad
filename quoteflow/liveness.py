"""Is a run's process still there? The same rule the zombie-run Automation applies on the
server (deployments/automations.yaml), read back from Prefect for the operator and the
reconciler: a run that a process must hold (Pending, Running, or Paused hot) whose last
sign of life (its latest heartbeat or state change) is older than the zombie window is
stranded. A suspended run (Paused with a reschedule) holds no process and never is.

``silence`` is the pure rule; the rest reads Prefect through quoteflow.prefect_api.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from quoteflow import prefect_api
from quoteflow.settings import get_settings

WATCHED_TAG = "quoteflow"  # every quoteflow deployment's runs (prefect.yaml)
RECURRING_TAG = "recurring"  # the deployments that run on their own, listed with their last pass
RECONCILE_DEPLOYMENT = "reconcile/reconcile"


class Liveness(BaseModel):
    """What is known about one run's process."""

    run_id: str
    name: str
    deployment: str | None = None
    state: str
    last_sign: datetime
    silent_seconds: float
    bound_seconds: float

    @property
    def stranded(self) -> bool:
        return self.silent_seconds > self.bound_seconds

    def describe(self) -> str:
        """One line an operator reads."""
        seen = f"last heartbeat or state change {self.silent_seconds:.0f} s ago"
        if self.stranded:
            return (
                f"{self.state} with no process: {seen} (a run is taken for dead after "
                f"{self.bound_seconds:.0f} s)"
            )
        return f"{self.state} and alive: {seen} (taken for dead after {self.bound_seconds:.0f} s)"


def holds_process(state_type: str, *, pause_reschedule: bool) -> bool:
    """Whether a run in this state must have a live process."""
    if state_type == "PAUSED":
        return not pause_reschedule  # Paused hot keeps its process; Suspended has none
    return state_type in ("PENDING", "RUNNING")


def silence(state_timestamp: datetime, last_heartbeat: datetime | None, now: datetime) -> float:
    """Seconds since the run's last sign of life: its latest heartbeat or state change."""
    last = max(state_timestamp, last_heartbeat) if last_heartbeat else state_timestamp
    return max(0.0, (now - last).total_seconds())


def bound(state_type: str = "RUNNING") -> timedelta:
    """No sign of life for longer than this and the process is gone: the zombie window,
    or for a run its worker submitted (Pending) the longer submission window."""
    settings = get_settings()
    if state_type == "PENDING":
        return timedelta(seconds=settings.submission_within_seconds)
    return timedelta(seconds=settings.zombie_within_seconds)


def _liveness(run: Any, heartbeat: datetime | None, now: datetime) -> Liveness:
    state = run.state
    limit = bound(state.type.value)
    last = max(state.timestamp, heartbeat) if heartbeat else state.timestamp
    return Liveness(
        run_id=str(run.id),
        name=run.name,
        state=state.name,
        last_sign=last,
        silent_seconds=silence(state.timestamp, heartbeat, now),
        bound_seconds=limit.total_seconds(),
    )


def _held(run: Any) -> bool:
    state = run.state
    return state is not None and holds_process(
        state.type.value, pause_reschedule=bool(state.state_details.pause_reschedule)
    )


def liveness_of(run: Any, now: datetime) -> Liveness | None:
    """The liveness of one run, or None when no process has to hold it (it ended, is
    scheduled, or is suspended)."""
    if not _held(run):
        return None
    beats = prefect_api.last_process_events([str(run.id)], since=now - 2 * bound("PENDING"))
    return _liveness(run, beats.get(str(run.id)), now)


def watched_runs(now: datetime) -> list[Liveness]:
    """Every quoteflow run a process must hold now, with how long it has been silent."""
    runs = [r for r in prefect_api.unfinished_runs(WATCHED_TAG) if _held(r)]
    since = now - 2 * bound("PENDING")
    beats = prefect_api.last_process_events([str(r.id) for r in runs], since=since)
    return [_liveness(r, beats.get(str(r.id)), now) for r in runs]


def stranded_runs(now: datetime) -> list[Liveness]:
    """Runs that look stranded: held by no process for longer than the zombie window
    (the Automation marks them Crashed within seconds of this)."""
    return [run for run in watched_runs(now) if run.stranded]


def crash(run: Liveness, by: str) -> bool:
    """Mark a stranded run Crashed, saying who and why; False if it ended meanwhile."""
    return prefect_api.mark_crashed(
        run.run_id, f"{by}: no heartbeat or state change for {run.silent_seconds:.0f} s"
    )


class LastPass(BaseModel):
    """A recurring deployment's last successful run."""

    deployment: str
    run_id: str | None = None
    ended_at: datetime | None = None


def last_passes() -> list[LastPass]:
    """Each recurring deployment (tagged ``recurring``) and its last completed run."""
    out = []
    for name in prefect_api.deployments_tagged(RECURRING_TAG):
        run = prefect_api.last_completed_run(name)
        out.append(
            LastPass(
                deployment=name,
                run_id=str(run.id) if run else None,
                ended_at=(run.end_time or run.state.timestamp) if run else None,
            )
        )
    return out


def stale_reconciler_alert() -> tuple[str, dict[str, Any]]:
    """The key and payload of the "reconciler stopped" alert: one per last completed
    pass (a new outage, after a pass, is a new alert)."""
    last = next((p for p in last_passes() if p.deployment == RECONCILE_DEPLOYMENT), None)
    if last is None or last.run_id is None:
        return "reconcile-stale:never", {"last_pass_at": None}
    assert last.ended_at is not None
    return f"reconcile-stale:{last.run_id}", {
        "last_pass_at": last.ended_at.isoformat(),
        "last_run": last.run_id,
    }
