"""reconcile: every minute, make sure nothing approved is lost and nothing stranded stays
stranded. Starts runs for approved drafts nobody claimed, resumes decided gates whose run
still waits, heals crashed or stuck runs and re-drives incomplete fan-outs (capped, then
one alert); then records gates whose window closed and tells Mike what waits, is about to
expire or expired. The flow only sequences tasks; the rules live in quoteflow.recovery and
quoteflow.notices.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.futures import wait
from pydantic import BaseModel, Field

from quoteflow.recovery import Recovered
from quoteflow.settings import get_settings
from tasks.approvals import expire_stale_gates
from tasks.effects import recover_approved_effects
from tasks.notify import refresh_slack_messages, send_due_notices
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
    expired_runs: list[str]
    gate_problems: list[str]
    notices_sent: list[str]
    failed_passes: list[str]


@flow(
    name="reconcile",
    description="Start approved drafts whose run never started, resume decided gates whose "
    "run still waits, heal crashed/stuck runs, re-drive incomplete fan-outs (capped), "
    "expire closed gates, send Mike's due notices and reminders, and bring Slack messages "
    "up to date.",
)
def reconcile(
    as_of: Annotated[
        datetime | None,
        Field(description="Reconcile as if it were this time (tests, catching up); default now."),
    ] = None,
) -> ReconcileResult:
    """One reconciliation pass over approvals and runs."""
    logger = get_run_logger()
    now = as_of or datetime.now(UTC)
    passes = {
        "start_unclaimed_actions": start_unclaimed_actions.submit(now),
        "resume_decided_gates": resume_decided_gates.submit(now),
        "heal_stranded_runs": heal_stranded_runs.submit(now),
        "redrive_incomplete_runs": redrive_incomplete_runs.submit(now),
        "recover_approved_effects": recover_approved_effects.submit(now),
    }
    # Expiry first, so this pass tells Mike about it.
    grace = get_settings().expiry_grace_seconds / 60
    passes["expire_stale_gates"] = expire_stale_gates.submit(grace_minutes=grace, now=now)
    passes["send_due_notices"] = send_due_notices.submit(wait_for=[passes["expire_stale_gates"]])
    passes["refresh_slack_messages"] = refresh_slack_messages.submit(
        wait_for=[passes["send_due_notices"]]
    )
    wait(list(passes.values()))
    done: list[Recovered] = []
    failed: list[str] = []
    lists: dict[str, Any] = {}
    for name, future in passes.items():
        if future.state.is_completed():
            lists[name] = future.result()
        else:
            failed.append(name)
            logger.error("Pass %s failed: %s", name, future.state.message)
    sweep = lists.pop("expire_stale_gates", None)
    expired = sweep.expired if sweep else []
    gate_problems = sweep.problems if sweep else []
    for problem in gate_problems:
        logger.warning("Gate not fully recorded: %s", problem)
    notices = lists.pop("send_due_notices", [])
    slack_updated = lists.pop("refresh_slack_messages", [])
    if slack_updated:
        logger.info("Updated the Slack message of action(s) %s", slack_updated)
    for found in lists.values():
        done.extend(found)
    for d in done:
        logger.info("%s %s (run %s): %s", d.kind, d.subject, d.run_id or "-", d.detail)
    if done or gate_problems:
        publish_reconcile_report(done, gate_problems)
    elif not expired and not notices:
        logger.info("Nothing to reconcile")
    if expired:
        logger.info("Recorded the expiry of %d gate(s): runs %s", len(expired), expired)
    if notices:
        logger.info("Sent %d notice(s) to Mike: %s", len(notices), notices)
    if failed:
        raise RuntimeError(f"reconcile passes failed: {', '.join(failed)}")
    return ReconcileResult(
        done=done,
        expired_runs=expired,
        gate_problems=gate_problems,
        notices_sent=notices,
        failed_passes=failed,
    )
