"""Tasks over quoteflow.effect_recovery and quoteflow.gate_close: the reconciler's pass
over approved effects, a gate closed by its run's end, an email in doubt alerted."""

from __future__ import annotations

from datetime import datetime

from prefect import task

from quoteflow import effect_recovery
from quoteflow.gate_close import close_abandoned_gate
from quoteflow.recovery import Recovered
from quoteflow.sending import SentEmail
from tasks.policy import PASS_OPTIONS
from tasks.recovery import recovery_policy


@task(**PASS_OPTIONS)
def recover_approved_effects(now: datetime) -> list[Recovered]:
    """Failed email sends re-driven (capped, then one alert) or, in doubt, put to Mike;
    gates whose run ended before a decision closed."""
    return effect_recovery.recover_effects(recovery_policy(), now)


@task(**PASS_OPTIONS)
def close_gate_of_ended_run(run_id: str, reason: str) -> bool:
    """Close this run's gate if it still waits (the run is ending abnormally); True if closed."""
    return close_abandoned_gate(run_id, reason) is not None


@task(**PASS_OPTIONS)
def alert_email_in_doubt(sent: SentEmail, run_id: str) -> bool:
    """Tell Mike once that this email may or may not have gone out, and what to check."""
    return effect_recovery.alert_email_in_doubt(sent, run_id)
