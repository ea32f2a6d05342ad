"""Claiming the approved proposed action a run acts on (quoteflow.claims), and the
record a run leaves when it ends at its claim."""

from __future__ import annotations

from prefect import task

from quoteflow import ledger, prefect_api
from quoteflow.claims import Claim, claim_action
from tasks.policy import uncached_retry_options, uncached_transient_options


def _ended_unfinished(run_id: str) -> bool:
    """The owner run ended without finishing (failed, crashed, cancelled) or is gone."""
    run = prefect_api.read_run(run_id)
    if run is None:
        return True
    return run.state is not None and run.state.is_final() and not run.state.is_completed()


# Never cached: a re-driven run must ask the database again (the answer is "mine").
@task(**uncached_transient_options())
def claim_proposed_action(
    proposed_action_id: int, run_id: str, action_type: str, allow_take_over: bool = False
) -> Claim:
    """Claim the approved action for this run (one conditional UPDATE). With
    ``allow_take_over`` a run may replace an owner that ended unfinished."""
    return claim_action(
        proposed_action_id,
        run_id,
        action_type=action_type,
        may_take_over=_ended_unfinished if allow_take_over else None,
    )


@task(**uncached_retry_options())
def log_claim_refused(run_id: str, claim: Claim, workflow_type: str) -> None:
    """The run log row of a run that ended at its claim (duplicate or not approved)."""
    ledger.upsert_run_log(
        run_id, claim.run_status, summary=claim.summary(), workflow_type=workflow_type
    )
