"""Every approved effect gets done once its service is back; one cause, one alert.

The SMTP relay is down when Mike approves the customer email: the send run fails, the
reconciler's pass re-drives it with the fan-out steps' policy (capped, spaced), and once
the relay is back the email goes out once, with no person and no alert. Still down past
the cap: the run is dead-lettered with one alert naming the command, which then works.
A permanent NetSuite refusal gives exactly one alert (the push's dead letter), not three.

The send runs are real runs of the send-quote-email deployment; the test plays the worker
(``prefect.flow_engine.run_flow`` on the same flow run, as a process worker executes it)
and drives the reconciler's pass itself, as the other fault tests do."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from prefect.deployments import run_deployment
from prefect.flow_engine import run_flow
from sqlmodel import select
from typer.testing import CliRunner

from blocks.smtp import email_server_credentials, load_email_server
from flows.customer_quote import customer_quote
from flows.send_quote_email import send_quote_email
from quoteflow import effect_recovery, recovery
from quoteflow.approvals import decide
from quoteflow.cli.app import app as cli
from quoteflow.mail import EmailDraft
from quoteflow.models import Event, NsPendingPush, Quote
from quoteflow.notices import alert_notice
from quoteflow.prefect_api import read_flow_run
from quoteflow.quote import QuoteRequest
from quoteflow.recovery import QUOTE_DEPLOYMENT, SEND_DEPLOYMENT, retryable_failures
from quoteflow.settings import get_settings
from tasks.recovery import recovery_policy
from tests.faults.conftest import netsuite
from tests.faults.invariants import run_log, session
from tests.fixtures.demo import DEMO_CUSTOMER_ID, DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR
from tests.fixtures.flow_runner import FlowRunHandle
from tests.fixtures.page import free_port
from tests.test_send_quote_email import (
    log_rows,
    make_quote,
    settled_messages_with,
    stage_email,
)


@pytest.fixture(scope="module")
def deployed(stack, seeded_db) -> None:
    """quoteflow's deployments on the session's Prefect server (no worker: the test is it)."""
    from deployments.deploy import deploy_all

    deploy_all()


@pytest.fixture
def relay(fault_env, monkeypatch):
    """Switch the SMTP relay down (a closed port) and back; re-drives not spaced out."""
    monkeypatch.setenv("QUOTEFLOW_REDRIVE_INTERVAL_MINUTES", "0")
    get_settings.cache_clear()
    working = load_email_server(get_settings().smtp_block)
    down = f"quoteflow-smtp-down-{uuid.uuid4().hex[:8]}"
    email_server_credentials(host="127.0.0.1", port=free_port(), tls_mode="none").save(
        down, overwrite=True
    )

    def switch(up: bool) -> None:
        if up:
            monkeypatch.delenv("QUOTEFLOW_SMTP_BLOCK", raising=False)
        else:
            monkeypatch.setenv("QUOTEFLOW_SMTP_BLOCK", down)
        get_settings.cache_clear()

    assert working is not None
    yield switch
    switch(True)


def approved_email() -> tuple[int, EmailDraft]:
    preview, key = make_quote()
    action = stage_email(preview, key)
    decide(action.id, "approve", notes="send it")
    return action.id, EmailDraft.model_validate(action.payload)


def send_run(action_id: int) -> str:
    """A run of the send-quote-email deployment for this action (what the trigger starts)."""
    run = run_deployment(
        SEND_DEPLOYMENT,
        parameters={"proposed_action_id": action_id},
        timeout=0,
        as_subflow=False,
    )
    return str(run.id)


def play_worker(run_id: str):
    run = read_flow_run(run_id)
    return run_flow(send_quote_email, flow_run=run, parameters=run.parameters, return_type="state")


def reconcile_pass(run_id: str) -> list[str]:
    """One pass of the reconciler's effects pass; what it did with this run."""
    done = effect_recovery.recover_effects(recovery_policy(), datetime.now(UTC))
    return [d.kind for d in done if d.run_id == run_id]


def alerts_of(run_id: str) -> list[Event]:
    with session() as s:
        return list(
            s.exec(select(Event).where(Event.run_id == run_id, Event.type == "alert")).all()
        )


def test_relay_down_at_approval_then_back_the_email_goes_out_once(
    deployed, relay, smtp_messages
) -> None:
    relay(False)
    action_id, draft = approved_email()
    run_id = send_run(action_id)

    assert play_worker(run_id).is_failed()
    assert log_rows(draft.message_id) == []  # nothing was handed over: no claim kept
    assert alerts_of(run_id) == []  # it may pass: the reconciler owns it, no alert yet

    assert reconcile_pass(run_id) == ["redriven"]  # re-drive 1, relay still down
    assert read_flow_run(run_id).state.name == "Scheduled"
    assert play_worker(run_id).is_failed()

    relay(True)
    assert reconcile_pass(run_id) == ["redriven"]  # re-drive 2 of 3
    state = play_worker(run_id)
    assert state.is_completed(), state.message

    smtp_messages.wait_for(1)
    assert len(settled_messages_with(smtp_messages, draft.message_id)) == 1
    assert len(log_rows(draft.message_id)) == 1
    assert reconcile_pass(run_id) == []  # done: nothing more to do for it
    assert alerts_of(run_id) == []  # healed with no person: Mike was never bothered
    assert recovery.recovery_of(run_id).redrives == 2


def test_relay_down_past_the_cap_one_alert_names_the_command_that_works(
    deployed, relay, smtp_messages, monkeypatch
) -> None:
    monkeypatch.setenv("QUOTEFLOW_REDRIVE_MAX", "1")
    relay(False)
    action_id, draft = approved_email()
    run_id = send_run(action_id)
    assert play_worker(run_id).is_failed()
    assert reconcile_pass(run_id) == ["redriven"]
    assert play_worker(run_id).is_failed()

    assert reconcile_pass(run_id) == ["dead_letter"]
    assert reconcile_pass(run_id) == []  # left alone, not alerted again
    (alert,) = alerts_of(run_id)
    command = f"quoteflow recover redrive {run_id}"
    assert command in alert.payload["what_to_do"]
    notice = alert_notice("alert", alert.payload)
    assert notice.subject == "An approved customer email could not be sent"
    assert command in notice.body and "send-quote-email" not in notice.subject

    relay(True)
    result = CliRunner().invoke(cli, ["recover", "redrive", run_id])
    assert result.exit_code == 0, result.output
    assert play_worker(run_id).is_completed()
    smtp_messages.wait_for(1)
    assert len(settled_messages_with(smtp_messages, draft.message_id)) == 1
    assert len(alerts_of(run_id)) == 1


def test_a_permanent_netsuite_refusal_gives_exactly_one_alert(fault_env) -> None:
    netsuite(fault_env, "inject", mode="status", status=401, count=50)
    request = QuoteRequest(
        customer_id=DEMO_CUSTOMER_ID, item_codes=list(DEMO_ITEM_CODES), school_year=DEMO_SCHOOL_YEAR
    )
    handle = FlowRunHandle(customer_quote, request=request)
    handle.resume(decision="approve", notes="netsuite refuses")
    state = handle.join()
    run_id = handle.run_id
    assert state.is_failed() and state.name == "Partial", state
    log = run_log(run_id)
    retry, permanent = retryable_failures(log.summary_json)
    assert permanent == ["ns_push"] and retry == []

    # What the reconciler's redrive_incomplete does with it (a permanent failure).
    done = recovery._redrive_or_dead_letter(
        run_id,
        QUOTE_DEPLOYMENT,
        "incomplete steps: ns_push",
        retryable=False,
        policy=recovery_policy(),
        now=datetime.now(UTC),
    )
    assert done is not None and done.kind == "dead_letter"

    with session() as s:
        quote = s.exec(select(Quote).where(Quote.flow_run_id == run_id)).one()
        push = s.exec(select(NsPendingPush).where(NsPendingPush.quote_id == quote.id)).one()
        every_alert = list(
            s.exec(
                sa.select(Event).where(
                    Event.type == "alert",
                    sa.or_(
                        Event.run_id == run_id,
                        Event.idempotency_key.contains(push.external_id),
                    ),
                )
            ).scalars()
        )
    assert push.status == "dead_letter"
    assert [a.idempotency_key for a in every_alert] == [
        f"alert:ns-push-dead-letter:estimate:{push.external_id}"
    ]
    payload = every_alert[0].payload
    assert "401" in payload["error"] or "INVALID_LOGIN" in payload["error"]
    assert f"quoteflow recover redrive {run_id}" in payload["what_to_do"]

    # The command the alert names works once NetSuite accepts the credentials again.
    netsuite(fault_env, "reset")
    result = CliRunner().invoke(cli, ["recover", "redrive", run_id])
    assert result.exit_code == 0, result.output
    again = run_flow(customer_quote, flow_run=read_flow_run(run_id), return_type="state")
    assert again.is_completed(), again.message
    stored = netsuite(fault_env, "estimates")["estimates"]
    assert [e["external_id"] for e in stored].count(push.external_id) == 1
    assert len(alerts_of(run_id)) == 1
