"""The email in doubt: the process sending a customer email is killed (kill -9 of its
process group) after the relay received the message and before it answered. Whether it
went out is unknowable, so it is never sent again on its own: Mike gets one alert saying
exactly what to check, and `quoteflow recover release-email <quote> --sent|--not-sent`
settles it (--not-sent: sent once more; --sent: recorded as sent), both in the ledger."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from prefect import get_client
from prefect.flow_engine import run_flow
from prefect.states import Crashed
from sqlmodel import select
from typer.testing import CliRunner

from blocks.smtp import email_server_credentials
from flows.send_quote_email import send_quote_email
from quoteflow import recovery
from quoteflow.cli.app import app as cli
from quoteflow.effect_recovery import EMAIL_RELEASED_EVENT, in_doubt_key
from quoteflow.mail import EmailDraft
from quoteflow.models import Event, ProposedAction
from quoteflow.prefect_api import read_flow_run
from quoteflow.recovery import SEND_DEPLOYMENT
from quoteflow.sending import _claim, read_sent_email, sent_key
from tasks.recovery import recovery_policy
from tests.faults.invariants import session
from tests.test_input_and_relay_rules import _Relay
from tests.test_send_quote_email import (
    log_rows,
    make_quote,
    quote_status,
    settled_messages_with,
    stage_email,
)

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _approved_email() -> tuple[int, EmailDraft, str]:
    preview, key = make_quote()
    action = stage_email(preview, key)
    from quoteflow.approvals import decide

    decide(action.id, "approve")
    return action.id, EmailDraft.model_validate(action.payload), preview.quote_id


def _events(key_prefix: str) -> list[Event]:
    with session() as s:
        return list(
            s.exec(sa.select(Event).where(Event.idempotency_key.startswith(key_prefix))).scalars()
        )


def _claimed_by(action_id: int) -> str | None:
    with session() as s:
        row = s.get(ProposedAction, action_id)
        return row.claimed_by_run_id if row else None


def _send_in_a_process_killed_mid_send(action_id: int, relay: _Relay) -> str:
    """send-quote-email in its own process group, SIGKILLed once the relay has the data;
    returns the flow run id."""
    block = f"quoteflow-smtp-hangs-{uuid.uuid4().hex[:8]}"
    email_server_credentials(host="127.0.0.1", port=relay.port, tls_mode="none").save(
        block, overwrite=True
    )
    env = {
        **os.environ,
        "QUOTEFLOW_SMTP_BLOCK": block,
        "QUOTEFLOW_SMTP_READ_TIMEOUT_SECONDS": "300",  # still waiting when killed
    }
    code = (
        "from flows.send_quote_email import send_quote_email\n"
        f"send_quote_email(proposed_action_id={action_id})\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=PROJECT, env=env, start_new_session=True
    )
    try:
        assert relay.data_received.wait(120), "the send never reached the relay's DATA"
        time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    run_id = _claimed_by(action_id)
    assert run_id is not None
    return run_id


def test_killed_mid_send_alerts_what_to_check_and_release_not_sent_sends_once(
    fault_env, smtp_messages
) -> None:
    action_id, draft, quote_id = _approved_email()
    relay = _Relay(silent=False)
    try:
        run_id = _send_in_a_process_killed_mid_send(action_id, relay)
    finally:
        relay.close()
    # The claim stayed and was never confirmed: the delivery is in doubt.
    doubt = read_sent_email(draft.message_id)
    assert doubt is not None and not doubt.confirmed
    assert settled_messages_with(smtp_messages, draft.message_id) == []

    # The heartbeat Automation marks the dead run Crashed; the reconciler re-drives it
    # (both played here); the re-driven run refuses to send it again and tells Mike.
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run_id, Crashed(message="process gone"), force=True)
    done = recovery._redrive_or_dead_letter(
        run_id,
        SEND_DEPLOYMENT,
        "run Crashed",
        retryable=True,
        policy=recovery_policy(),
        now=datetime.now(UTC),
    )
    assert done is not None and done.kind == "redriven"
    again = run_flow(send_quote_email, flow_run=read_flow_run(run_id), return_type="state")
    assert again.is_failed() and "never confirmed" in again.message
    assert settled_messages_with(smtp_messages, draft.message_id) == []

    alerts = _events("alert:")
    mine = [a for a in alerts if a.run_id == run_id]
    assert [a.idempotency_key for a in mine] == [in_doubt_key(draft.message_id)]
    payload = mine[0].payload
    assert payload["headline"] == f"Check whether the quote {quote_id} email reached {draft.to}"
    todo = payload["what_to_do"]
    for needed in (
        draft.message_id,
        draft.to,
        f"quoteflow recover release-email {quote_id} --sent",
        f"quoteflow recover release-email {quote_id} --not-sent",
    ):
        assert needed in todo, needed

    # Mike checked his outbox: it did not go out.
    result = CliRunner().invoke(cli, ["recover", "release-email", quote_id, "--not-sent"])
    assert result.exit_code == 0, result.output
    assert "re-driven" in result.output
    assert read_flow_run(run_id).state.name == "Scheduled"
    state = run_flow(send_quote_email, flow_run=read_flow_run(run_id), return_type="state")
    assert state.is_completed(), state.message
    smtp_messages.wait_for(1)
    assert len(settled_messages_with(smtp_messages, draft.message_id)) == 1
    assert len(log_rows(draft.message_id)) == 1
    assert quote_status(quote_id) == "sent"
    (released,) = _events(f"email-released:{draft.message_id}")
    assert released.type == EMAIL_RELEASED_EVENT and released.payload["verdict"] == "not_sent"
    assert len(_events(sent_key(draft.message_id))) == 1
    # Nothing is in doubt any more: a second release is refused, nothing sent again.
    refused = CliRunner().invoke(cli, ["recover", "release-email", quote_id, "--not-sent"])
    assert refused.exit_code == 1 and "nothing is in doubt" in refused.output
    assert [a.run_id for a in _events("alert:") if a.run_id == run_id] == [run_id]


def test_release_sent_records_it_and_nothing_goes_out(fault_env, smtp_messages) -> None:
    action_id, draft, quote_id = _approved_email()
    assert _claim(draft, action_id)  # what a killed send leaves: a claim never confirmed

    result = CliRunner().invoke(cli, ["recover", "release-email", quote_id, "--sent"])
    assert result.exit_code == 0, result.output
    assert "recorded as sent" in result.output
    sent = read_sent_email(draft.message_id)
    assert sent is not None and sent.confirmed
    assert quote_status(quote_id) == "sent"
    (released,) = _events(f"email-released:{draft.message_id}")
    assert released.payload["verdict"] == "sent"

    answer = send_quote_email(proposed_action_id=action_id)  # any later run sends nothing
    assert answer.already_sent is True
    assert settled_messages_with(smtp_messages, draft.message_id) == []
    with session() as s:
        assert s.exec(
            select(Event).where(Event.idempotency_key == sent_key(draft.message_id))
        ).one()
