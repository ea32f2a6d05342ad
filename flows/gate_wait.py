"""Waiting for Mike's answer at the approval gate: hot first, then cold.

Hot: the run is Paused and its process stays, asking the server every
``QUOTEFLOW_PAUSE_POLL_SECONDS`` (0.5 s) whether Mike has answered, so an answer is acted
on within a second. After ``QUOTEFLOW_HOT_WINDOW_SECONDS`` (10 min), or at once when
``QUOTEFLOW_HOT_GATE_CAP`` runs already wait hot, the run is Suspended: no process is
held, and Mike's answer reschedules it through the worker (a new process runs the flow
again: it claims its draft, finds the gate it staged and continues from there). Hot waits
are counted by a Prefect global concurrency limit (``QUOTEFLOW_HOT_GATE_LIMIT``): one slot
per hot wait, on a lease, so a process that dies frees its slot when the lease runs out;
without the limit nothing caps.

The hand-over. Prefect suspends only a Running run ("Cannot suspend flows that are not
currently running") and a pause key fires once per run. So at the end of the hot window
the run resumes itself (Paused -> Running, which the server allows while the pause has not
timed out: that is why the hot pause times out at the gate's expiry, not at the end of the
hot window), looks once more for an answer that raced it, and suspends under a second
key, ``<key>-cold``. Both waits carry the same form, and ``resume_flow_run`` (UI, CLI,
approval page) resumes a Paused and a Suspended run alike: every channel works in both
phases. Between the self-resume and the suspension (~0.1 s) the run is Running and a
resume is refused ("not paused"); the channel can say so and Mike tries again.

After a suspension the flow runs again from the top and comes back here: the run's fired
pause keys say which phases already happened.

While it waits hot the process is idle, so it loads what an approval runs next (the PDF
renderer and the S3 client, ~2 s of imports): the fan-out then starts warm. A run resumed
from the suspension has no idle time, but until its decision comes back it mostly waits
on the API and the database (the engine's calls, the claim, the gate lookup): loading
this module in a flow-run process starts a thread that, if the run was resumed from a
suspension, does the same warm-up in those waits (see ``warm_up_if_resumed``).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from uuid import UUID

from prefect import get_run_logger
from prefect.client.schemas.objects import FlowRun
from prefect.context import FlowRunContext
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput, keyset_from_paused_state
from prefect.states import Paused, Running

from quoteflow import prefect_api
from quoteflow.settings import get_settings
from tasks.throttle import limit_slot

R = TypeVar("R", bound=RunInput)


def await_decision_input(
    form: type[R], *, key: str, expires_at: datetime, in_deployment: bool
) -> R | None:
    """Wait for the form's input on this flow run until ``expires_at``: hot, then (in a
    deployment) suspended. Returns the input, or None when the gate expired. ``key``
    must be new for every wait of the run (pause keys fire once)."""
    settings = get_settings()
    hot_key, cold_key = f"{key}-hot", f"{key}-cold"
    fired = _this_run().empirical_policy.pause_keys or set()
    if cold_key in fired:  # resumed from the suspension: suspend_flow_run hands back the input
        return _suspend(form, cold_key, expires_at, fired=True)
    if hot_key in fired:  # a run started again (after an answer, a crash or the hand-over)
        earlier = _stored_input(form, hot_key)
        if earlier is not None or not in_deployment:
            return earlier
    elif not in_deployment:  # no deployment, no suspension: the whole window is hot
        return _wait_hot(form, hot_key, expires_at=expires_at, hot_until=expires_at)
    else:
        hot_until = min(expires_at, _now() + timedelta(seconds=settings.hot_window_seconds))
        if hot_until > _now():
            with _hot_slot(settings.hot_gate_limit) as hot:
                if hot:
                    answer = _wait_hot(form, hot_key, expires_at=expires_at, hot_until=hot_until)
                    if answer is not None or hot_until >= expires_at:
                        return answer
                    answer = _resume_self(form, hot_key)
                    if answer is not None:
                        return answer
    return _suspend(form, cold_key, expires_at, fired=False)


def _now() -> datetime:
    return datetime.now(UTC)


def _run_id() -> UUID:
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        raise RuntimeError("the approval gate waits only inside a flow run")
    return context.flow_run.id


def _this_run() -> FlowRun:
    run = prefect_api.read_run(_run_id())
    if run is None:
        raise RuntimeError(f"flow run {_run_id()} is not on the Prefect server")
    return run


@contextmanager
def _hot_slot(limit_name: str) -> Iterator[bool]:
    """One slot of the hot-gate limit, or False at once when every slot is taken."""
    with limit_slot(limit_name, wait=False) as outcome:
        if outcome == "full":
            get_run_logger().info("Hot approval waits at their cap: suspending at once.")
        yield outcome != "full"


def _wait_hot(
    form: type[R], pause_key: str, *, expires_at: datetime, hot_until: datetime
) -> R | None:
    """Pause (the process stays) until answered or ``hot_until``; the pause itself times
    out only at ``expires_at``. Returns the input, or None if unanswered."""
    poll = get_settings().pause_poll_seconds
    run_id = _run_id()
    paused = Paused(pause_expiration_time=expires_at, reschedule=False, pause_key=pause_key)
    keyset = keyset_from_paused_state(paused)
    paused.state_details.run_input_keyset = keyset
    answer = prefect_api.set_state(run_id, paused)
    if not answer.accepted:
        raise RuntimeError(f"the approval gate could not pause: {answer.reason}")
    # The form (schema and description) the UI and the channels read. Only after the
    # pause: the server deletes any input under a pause's keys when the pause fires.
    # Until it is saved a resume is refused ("Run input schema not found").
    form.save(keyset)
    threading.Thread(target=_warm_up_fanout, name="gate-warm-up", daemon=True).start()
    get_run_logger().info(
        "Waiting for the approval (hot until %s UTC, then suspended until %s UTC).",
        f"{hot_until:%H:%M:%S}",
        f"{expires_at:%H:%M:%S}",
    )
    while True:
        time.sleep(max(0.0, min(poll, (hot_until - _now()).total_seconds())))
        run = prefect_api.read_run(run_id)
        state = run.state if run else None
        if state is not None and state.is_running():
            return form.load(keyset)
        if not prefect_api.is_waiting(run):
            raise RuntimeError(f"the approval gate left its pause for {state!r}")
        if _now() >= hot_until:
            return None


def _warm_up_fanout() -> None:
    """Import the fan-out's heavy modules and render a one-line PDF (fonts, caches)."""
    try:
        import prefect_aws  # noqa: F401

        from quoteflow.pdf import html_to_pdf

        html_to_pdf("<p>warm-up</p>", label="warm-up")
    except Exception as exc:  # only an optimisation: the fan-out imports what it needs
        get_run_logger().debug("Warm-up failed: %s", exc)


def warm_up_if_resumed() -> threading.Thread | None:
    """In a flow-run process (``PREFECT__FLOW_RUN_ID`` set), start a daemon thread that,
    if the run was resumed from a cold suspension, warms up the fan-out (see
    ``_warm_up_fanout``). It starts importing only once the engine has loaded the results
    block (``prefect_aws``, which the main thread needs first): from then on the main
    thread mostly waits on the API and the thread's imports fill those waits."""
    run_id = os.environ.get("PREFECT__FLOW_RUN_ID")
    if not run_id:
        return None
    thread = threading.Thread(
        target=_warm_up_when_resumed, args=(run_id,), name="resume-warm-up", daemon=True
    )
    thread.start()
    return thread


def _warm_up_when_resumed(run_id: str, patience: float = 60.0) -> None:
    try:
        run = prefect_api.read_run(run_id)
        policy = run.empirical_policy if run else None
        if policy is None or not any(key.endswith("-cold") for key in policy.pause_keys or ()):
            return  # a first start: it stages the gate and waits; nothing to warm yet
        deadline = time.monotonic() + patience
        while not _loaded("prefect_aws") and time.monotonic() < deadline:
            time.sleep(0.05)
        _warm_up_fanout()
    except Exception:  # only an optimisation: the fan-out imports what it needs
        return


def _loaded(module: str) -> bool:
    """True once ``module`` is imported completely (not while another thread runs it)."""
    found = sys.modules.get(module)
    spec = getattr(found, "__spec__", None)
    return found is not None and not getattr(spec, "_initializing", False)


def _resume_self(form: type[R], hot_key: str) -> R | None:
    """Paused -> Running, so that the run may suspend; an answer that came in meanwhile
    is returned instead."""
    answer = prefect_api.set_state(_run_id(), Running(message="Approval gate: going cold"))
    if not answer.accepted and not (answer.state and answer.state.is_running()):
        raise RuntimeError(f"the approval gate could not hand over: {answer.reason}")
    return _stored_input(form, hot_key)


def _stored_input(form: type[R], pause_key: str) -> R | None:
    """The input given to this run's (hot) pause ``pause_key``, if any."""
    keyset = keyset_from_paused_state(Paused(pause_key=pause_key))
    if prefect_api.read_run_input(_run_id(), keyset["response"]) is None:
        return None
    return form.load(keyset, flow_run_id=_run_id())


def _suspend(form: type[R], cold_key: str, expires_at: datetime, *, fired: bool) -> R | None:
    """Suspend until ``expires_at`` (the process exits); on the run's next start (``fired``:
    the cold key already fired) this returns the input it was resumed with. No API call
    before the suspension: during the hand-over a resume is refused until it lands."""
    remaining = int((expires_at - _now()).total_seconds())
    if remaining < 1 and not fired:
        return None
    return suspend_flow_run(wait_for_input=form, timeout=max(remaining, 1), key=cold_key)


# Loaded by the flow module in every flow-run process: a resumed run warms up its fan-out.
warm_up_if_resumed()
