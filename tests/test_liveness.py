"""The rules that say a run's process is gone, without a server: the zombie-run
Automation's shape (every sign of life arms its window, nothing that leaves a process
running closes it for good), the same rule as the operator reads it, and the alert Mike
gets when the reconciler stops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from deployments.automations import (
    AUTOMATIONS_YAML,
    RECONCILE_STALE,
    STUCK_SUBMISSIONS,
    ZOMBIE_RUNS,
    declared_automations,
)
from deployments.deploy import deployment_specs
from quoteflow.liveness import Liveness, holds_process, silence
from quoteflow.notices import alert_notice
from quoteflow.settings import get_settings

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _matches(pattern: str, event: str) -> bool:
    """Prefect's event-name match: a trailing ``*`` is a wildcard."""
    return event.startswith(pattern[:-1]) if pattern.endswith("*") else event == pattern


def _zombie():
    return {a.name: a for a in declared_automations()}[ZOMBIE_RUNS].trigger


def _submissions():
    return {a.name: a for a in declared_automations()}[STUCK_SUBMISSIONS].trigger


# The events a run emits in each phase, and whether a process must hold it afterwards.
LIFE = {
    "prefect.flow-run.Submitting": True,  # the worker submits it
    "prefect.flow-run.Pending": True,
    "prefect.flow-run.pull-step.executed": True,
    "prefect.flow-run.Running": True,  # a first start, a cold start, a hot resume
    "prefect.flow-run.heartbeat": True,
    "prefect.flow-run.Paused": True,  # a hot pause: its process waits
    "prefect.flow-run.Retrying": True,
    "prefect.flow-run.Suspended": False,
    "prefect.flow-run.Resuming": False,  # scheduled again after a suspension
    "prefect.flow-run.Scheduled": False,
    "prefect.flow-run.AwaitingConcurrencySlot": False,
    "prefect.flow-run.Completed": False,
    "prefect.flow-run.Partial": False,  # our own final state names count too
    "prefect.flow-run.NotApproved": False,
    "prefect.flow-run.Failed": False,
    "prefect.flow-run.Crashed": False,
    "prefect.flow-run.Cancelling": False,
}


@pytest.mark.parametrize(("event", "alive"), sorted(LIFE.items()))
def test_every_sign_of_life_arms_the_zombie_window_and_any_event_closes_it(event, alive):
    triggers = [_zombie(), _submissions()]
    # Closing without re-arming is only for events after which no process is needed:
    # the blind window after a hot resume came from Paused doing that.
    assert all(any(_matches(p, event) for p in t.expect) for t in triggers)
    armed = any(_matches(p, event) for t in triggers for p in t.after)
    assert armed is alive


def test_the_zombie_window_covers_every_deployment_and_meets_the_bound():
    trigger = _zombie()
    assert trigger.posture == "Proactive" and trigger.threshold == 1
    assert trigger.for_each == {"prefect.resource.id"}
    related = trigger.match_related.model_dump()
    assert related == {
        "prefect.resource.role": "tag",
        "prefect.resource.id": "prefect.tag.quoteflow",
    }
    # Heartbeats every 30 s; 90 s lets two go missing; detection <= 90 s + a 5 s tick.
    assert trigger.within == timedelta(seconds=get_settings().zombie_within_seconds)
    assert trigger.within == timedelta(seconds=90)
    # A worker that died submitting a run: its process never sends anything.
    submissions = _submissions()
    assert submissions.after == {"prefect.flow-run.Submitting", "prefect.flow-run.Pending"}
    assert submissions.within == timedelta(seconds=110)
    assert submissions.match_related == trigger.match_related
    specs = deployment_specs()
    assert all("quoteflow" in d["tags"] for d in specs)
    recurring = {d["name"] for d in specs if "recurring" in d["tags"]}
    assert recurring == {
        "reconcile",
        "verify-checks",
        "ns-push-retry",
        "quote-housekeeping",
        "notify-mike",
    }


def test_the_reconcile_stale_alert_runs_notify_mike_once_per_outage():
    stale = {a.name: a for a in declared_automations()}[RECONCILE_STALE]
    assert stale.trigger.after == stale.trigger.expect == {"prefect.flow-run.Completed"}
    assert stale.trigger.within == timedelta(minutes=10)
    (action,) = stale.actions
    assert action.type == "run-deployment"
    declared = yaml.safe_load(AUTOMATIONS_YAML.read_text())["automations"]
    (spec,) = [a for a in declared if a["name"] == RECONCILE_STALE]
    assert spec["actions"][0]["deployment"] == "notify-mike/notify-mike"
    # Static: a proactive firing may have no event to render a template from.
    assert action.parameters == {
        "event_type": "reconcile.stale",
        "event_id": "reconcile-stale",
        "payload": {},
    }


def test_the_stale_notice_says_when_and_what_to_do():
    notice = alert_notice(
        "reconcile.stale",
        {"last_pass_at": "2026-12-04 11:48:00.123+00:00"},
        "America/Chicago",
    )
    assert notice.subject == "The reconciler has stopped running"
    assert "Fri Dec 4, 2026, 5:48 AM CST" in notice.body
    assert "quoteflow recover list" in notice.body
    assert "reconcile.stale" not in notice.body and "flow run" not in notice.body


@pytest.mark.parametrize(
    ("state", "reschedule", "held"),
    [
        ("PENDING", False, True),
        ("RUNNING", False, True),
        ("PAUSED", False, True),  # hot
        ("PAUSED", True, False),  # suspended
        ("SCHEDULED", False, False),
        ("COMPLETED", False, False),
        ("CRASHED", False, False),
    ],
)
def test_which_states_need_a_live_process(state, reschedule, held):
    assert holds_process(state, pause_reschedule=reschedule) is held


def test_silence_counts_from_the_last_heartbeat_or_state_change():
    changed = NOW - timedelta(seconds=200)
    assert silence(changed, None, NOW) == 200
    assert silence(changed, NOW - timedelta(seconds=20), NOW) == 20
    # A state change after the last heartbeat (a hot resume) is the later sign of life.
    assert silence(NOW - timedelta(seconds=5), NOW - timedelta(seconds=40), NOW) == 5


def test_the_operator_reads_why_a_run_is_alive_or_stranded():
    dead = Liveness(
        run_id="r",
        name="n",
        state="Running",
        last_sign=NOW,
        silent_seconds=130,
        bound_seconds=90,
    )
    assert dead.stranded
    assert dead.describe() == (
        "Running with no process: last heartbeat or state change 130 s ago "
        "(a run is taken for dead after 90 s)"
    )
    alive = dead.model_copy(update={"silent_seconds": 12})
    assert not alive.stranded
    assert alive.describe().startswith("Running and alive: last heartbeat or state change 12 s")
