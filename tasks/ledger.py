"""Post actions (contract section 7) as tasks: run log, reflexion, ledger event, verify
rows. They run for every outcome: completed, partial, failed, blocked, rejected, expired."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import task

from quoteflow import ledger
from quoteflow.models import RunStatus, utcnow
from quoteflow.run_rules import verify_checks_for
from quoteflow.settings import get_settings
from tasks.policy import record_options

# The tag of the post actions that only end a run (a Prefect tag concurrency limit on it
# holds them: an operator's brake, and how the fault tests stop a run mid-way through).
POST_ACTIONS_TAG = "post-actions"


@task(**record_options())
def log_run(
    run_id: str,
    status: RunStatus,
    started_at: datetime | None = None,
    summary: dict[str, Any] | None = None,
) -> None:
    """INSERT or UPDATE the workflow_run_log row of this run."""
    ledger.upsert_run_log(run_id, status, started_at=started_at, summary=summary)


@task(**record_options(), tags=[POST_ACTIONS_TAG])
def write_reflexion(run_id: str, narrative: str, tags: list[str]) -> None:
    """INSERT (or refresh) the reflexion_log row of this run."""
    ledger.upsert_reflexion(run_id, narrative, tags)


@task(**record_options(), tags=[POST_ACTIONS_TAG])
def emit_workflow_event(event_type: str, run_id: str, payload: dict[str, Any]) -> bool:
    """workflow.completed | partial | failed: one event per run and outcome (a re-driven
    run that completes after a partial outcome records both, each under its own key)."""
    return ledger.record_outcome_event(run_id, event_type, payload)


@task(**record_options())
def stage_verify_checks(run_id: str, quote_id: str, pdf_key: str | None) -> int:
    """INSERT pending workflow_verify_results rows (once per run and check), due after
    each check's window and timing out after the verify deadline."""
    specs = verify_checks_for(
        quote_id=quote_id,
        pdf_key=pdf_key,
        finished_at=utcnow(),
        deadline_minutes=get_settings().verify_deadline_minutes,
    )
    return ledger.stage_verify_checks(run_id, specs)
