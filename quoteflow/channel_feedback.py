"""What a channel (the approval page, the CLI) tells the approver after a decision: the
run it started or resumed, once Prefect shows it."""

from __future__ import annotations

import time

from quoteflow.action_store import claimed_by
from quoteflow.models import ActionStatus, ActionType, ActionView
from quoteflow.prefect_api import flow_run_url, is_waiting, read_run
from quoteflow.recovery import runs_for_action
from quoteflow.recovery_rules import CLOCK_SKEW, DEPLOYMENT_OF_ACTION


def start_report(action: ActionView, *, wait_seconds: float = 10, poll: float = 1) -> str:
    """After a decision: "started <run link>" once Prefect shows the run, else "queued,
    starting..." (the reconciler starts it within a minute). Never raises."""
    if action.status != ActionStatus.approved and action.action_type != ActionType.quote_gate:
        return ""
    deadline = time.monotonic() + wait_seconds
    problem = ""
    while True:
        try:
            if action.action_type == ActionType.quote_gate:
                assert action.flow_run_id
                run = read_run(action.flow_run_id)
                if run is not None and run.state is not None and not is_waiting(run):
                    return f"resumed {flow_run_url(action.flow_run_id)}"
            elif action.action_type in DEPLOYMENT_OF_ACTION:
                assert action.decided_at is not None
                owner = claimed_by(action.id)
                if owner:
                    return f"started {flow_run_url(owner)}"
                runs = runs_for_action(
                    action.id,
                    DEPLOYMENT_OF_ACTION[action.action_type],
                    since=action.decided_at - CLOCK_SKEW,
                )
                if runs:
                    return f"started {flow_run_url(str(runs[-1].id))}"
            else:
                return ""
        except Exception as exc:  # the decision is committed; only the report is unsure
            problem = f"; Prefect not reachable ({type(exc).__name__})"
        if time.monotonic() >= deadline:
            break
        time.sleep(poll)
    gate = action.action_type == ActionType.quote_gate
    return (
        f"queued, {'resuming' if gate else 'starting'}... (the decision is recorded; the "
        f"reconcile deployment {'resumes' if gate else 'starts'} its run within a minute "
        f"if the event was lost{problem})"
    )
