"""send-quote-email on the real Prefect engine and the local stack: the approved email
lands in the SMTP sink once, with its PDF; a repeat or an unapproved action sends nothing."""

from __future__ import annotations

import smtplib
import socket
import socketserver
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from prefect import flow
from prefect_aws import S3Bucket
from sqlmodel import Session

from blocks.smtp import email_server_credentials, load_email_server
from flows.send_quote_email import send_quote_email
from quoteflow.approvals import decide, stage_action
from quoteflow.db import get_engine
from quoteflow.mail import EmailDraft, compose_quote_email
from quoteflow.models import (
    ActionType,
    ActionView,
    Event,
    OutboundEmailLog,
    Quote,
    utcnow,
)
from quoteflow.pdf import render_quote_pdf
from quoteflow.quote import QuoteContext, QuotePreview, QuoteRequest, build_preview, payload_hash
from quoteflow.sending import (
    SendRefusedError,
    delivery_after_failure,
    draft_to_send,
    is_permanent_refusal,
    may_mark_sent,
)
from quoteflow.settings import get_settings
from quoteflow.storage import pdf_key, put_pdf
from tasks.context import load_current_pricing, load_customer, resolve_items
from tasks.quotes import write_quote
from tasks.sending import SentEmail, deliver_quote_email
from tests.fixtures.demo import DEMO_CUSTOMER_ID, DEMO_SCHOOL_YEAR

ITEMS = ("FS-1001", "FS-1005")


# ---------------------------------------------------------------- pure rules (no Prefect)


def _action(**over: object) -> ActionView:
    draft = EmailDraft(
        quote_id="Q-1",
        to="a@example.org",
        to_name=None,
        subject="Quote Q-1",
        body="Hello",
        pdf_key=None,
        message_id="<quote-q-1@example.org>",
    ).model_dump(mode="json")
    data: dict[str, object] = {
        "id": 7,
        "action_type": ActionType.send_quote,
        "entity_ref": "quote:Q-1",
        "status": "approved",
        "payload": draft,
        "payload_hash": payload_hash(draft),
        "approver": "mike",
        "decision_notes": None,
        "decided_at": datetime.now(UTC),
        "approved_payload_hash": payload_hash(draft),
        "flow_run_id": None,
        "expires_at": None,
        "created_at": datetime.now(UTC),
    }
    data.update(over)
    return ActionView.model_validate(data)


def test_only_an_approved_unchanged_email_action_is_sendable() -> None:
    assert draft_to_send(_action()).message_id == "<quote-q-1@example.org>"
    with pytest.raises(SendRefusedError, match=r"proposed action 7 .* is pending, not approved"):
        draft_to_send(_action(status="pending", approved_payload_hash=None))
    with pytest.raises(SendRefusedError, match="is rejected"):
        draft_to_send(_action(status="rejected"))
    with pytest.raises(SendRefusedError, match="not a send_quote_to_customer action"):
        draft_to_send(_action(action_type="workflow_customer_quote"))
    changed = _action().payload | {"to": "someone-else@example.org"}
    with pytest.raises(SendRefusedError, match="changed after it was approved"):
        draft_to_send(_action(payload=changed))


def test_smtp_failures_are_classified_by_what_they_prove() -> None:
    refused = smtplib.SMTPRecipientsRefused({"a@example.org": (550, b"no such user")})
    busy = smtplib.SMTPRecipientsRefused({"a@example.org": (451, b"try later")})
    assert delivery_after_failure(ConnectionRefusedError()) == "not_sent"
    assert delivery_after_failure(refused) == "not_sent"
    assert delivery_after_failure(smtplib.SMTPDataError(554, b"rejected")) == "not_sent"
    # A timeout or a disconnect may come after the server accepted the data; so may a
    # bad reply to QUIT (the base SMTPResponseException).
    assert delivery_after_failure(TimeoutError()) == "in_doubt"
    assert delivery_after_failure(smtplib.SMTPServerDisconnected()) == "in_doubt"
    assert delivery_after_failure(smtplib.SMTPResponseException(421, b"bye")) == "in_doubt"
    assert is_permanent_refusal(refused) and not is_permanent_refusal(busy)
    assert not is_permanent_refusal(ConnectionRefusedError())
    assert may_mark_sent("draft") and may_mark_sent("proposed")
    assert not any(may_mark_sent(s) for s in ("sent", "accepted", "superseded", "expired"))


# ---------------------------------------------------------------- the flow, end to end


@pytest.fixture
def env(stack, seeded_db):
    get_settings.cache_clear()
    yield stack
    get_settings.cache_clear()


def _session() -> Session:
    return Session(get_engine(), expire_on_commit=False)


def make_quote(*, with_pdf: bool = True) -> tuple[QuotePreview, str | None]:
    """A proposed quote for the demo customer, priced and written by the workflow's own
    code (context reads, build_preview, write_quote), with its PDF at quotes/{id}.pdf."""
    quote_id = f"Q-MAIL-{uuid.uuid4().hex[:10].upper()}"
    request = QuoteRequest(
        customer_id=DEMO_CUSTOMER_ID, item_codes=list(ITEMS), school_year=DEMO_SCHOOL_YEAR
    )
    context = QuoteContext(
        customer=load_customer.fn(DEMO_CUSTOMER_ID),
        pricing=load_current_pricing.fn(DEMO_CUSTOMER_ID, list(ITEMS), DEMO_SCHOOL_YEAR),
        items=resolve_items.fn(list(ITEMS), None),
    )
    preview = build_preview(
        request,
        context,
        quote_id=quote_id,
        supersedes_quote_id=None,
        now=utcnow(),
        validity_days=30,
        margin_floor=get_settings().margin_floor_pct,
    )
    write_quote.fn(preview, str(uuid.uuid4()))
    key = pdf_key(quote_id) if with_pdf else None
    if key:
        with _session() as s:
            quote = s.get(Quote, quote_id)
            assert quote is not None
            quote.pdf_key = key
            s.add(quote)
            s.commit()
        data = render_quote_pdf(preview, company_name=get_settings().company_name)
        put_pdf(S3Bucket.load(get_settings().s3_bucket_block), key, data, {"quote-id": quote_id})
    return preview, key


def stage_email(preview: QuotePreview, key: str | None) -> ActionView:
    settings = get_settings()
    draft = compose_quote_email(
        preview, pdf_key=key, company_name=settings.company_name, domain=settings.mail_domain
    )
    return stage_action(
        action_type=ActionType.send_quote,
        entity_ref=f"quote:{preview.quote_id}",
        payload=draft.model_dump(mode="json"),
    )


def messages_with(mailbox, message_id: str) -> list:
    return [m for m in mailbox.new() if m["Message-ID"] == message_id]


def settled_messages_with(mailbox, message_id: str) -> list:
    """The messages with this id once the sink has provably stored everything sent before
    (a fence message arrived after the runs returned their final states): an empty answer
    means none was sent, not that it is still on its way."""
    mailbox.fence()
    return messages_with(mailbox, message_id)


def log_rows(message_id: str) -> list[OutboundEmailLog]:
    with _session() as s:
        stmt = sa.select(OutboundEmailLog).where(OutboundEmailLog.message_id == message_id)
        return list(s.execute(stmt).scalars())


def quote_status(quote_id: str) -> str:
    with _session() as s:
        quote = s.get(Quote, quote_id)
        assert quote is not None
        return quote.lifecycle_status


def test_approved_email_is_sent_once_with_its_pdf(env, smtp_messages) -> None:
    preview, key = make_quote()
    action = stage_email(preview, key)
    decide(action.id, "approve", notes="send it")
    draft = EmailDraft.model_validate(action.payload)

    result = send_quote_email(proposed_action_id=action.id)

    assert result.already_sent is False
    assert result.message_id == draft.message_id and result.to == preview.customer_email
    smtp_messages.wait_for(1)
    [msg] = messages_with(smtp_messages, draft.message_id)
    assert msg["Subject"] == draft.subject
    assert preview.quote_id in msg["Subject"]
    assert msg["To"].addresses[0].addr_spec == preview.customer_email
    assert msg["To"].addresses[0].display_name == preview.contact_name
    assert msg["X-RcptTo"] == preview.customer_email
    assert msg["From"].addresses[0].addr_spec == get_settings().mail_from
    assert msg["From"].addresses[0].display_name == get_settings().company_name
    assert msg["Reply-To"].addresses[0].addr_spec == get_settings().approver_email
    assert preview.quote_id in msg.get_body(preferencelist=("plain",)).get_content()
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"{preview.quote_id}.pdf"
    assert attachment.get_content().startswith(b"%PDF")

    [row] = log_rows(draft.message_id)
    assert row.related_quote_id == preview.quote_id
    assert row.proposed_action_id == action.id
    assert row.to_addr == preview.customer_email and row.subject == draft.subject
    assert abs(row.sent_at - result.sent_at) < timedelta(seconds=1)
    assert quote_status(preview.quote_id) == "sent"
    with _session() as s:
        sent_events = s.execute(
            sa.select(Event).where(Event.idempotency_key == f"email-sent:{draft.message_id}")
        ).scalars()
        assert [e.type for e in sent_events] == ["email.sent"]

    # The same approval again (a re-triggered deployment): a duplicate run, nothing more goes out.
    again = send_quote_email(proposed_action_id=action.id, return_state=True)
    assert again.is_completed() and again.name == "Duplicate", again
    assert "already claimed by run" in again.message
    # The delivery task itself, past the flow's check, is guarded by the claim too.
    assert deliver_again(draft, action.id).already_sent is True
    assert len(settled_messages_with(smtp_messages, draft.message_id)) == 1
    assert len(log_rows(draft.message_id)) == 1
    assert quote_status(preview.quote_id) == "sent"


def test_an_email_without_pdf_goes_without_attachment(env, smtp_messages) -> None:
    preview, key = make_quote(with_pdf=False)
    action = stage_email(preview, key)
    decide(action.id, "approve")

    result = send_quote_email(proposed_action_id=action.id)

    smtp_messages.wait_for(1)
    [msg] = messages_with(smtp_messages, result.message_id)
    assert list(msg.iter_attachments()) == []
    assert len(log_rows(result.message_id)) == 1


def test_unapproved_actions_are_refused_and_nothing_is_sent(env, smtp_messages) -> None:
    preview, key = make_quote()
    action = stage_email(preview, key)
    draft = EmailDraft.model_validate(action.payload)

    state = send_quote_email(proposed_action_id=action.id, return_state=True)

    # Not approved: the run ends at once, recorded, and writes nothing else.
    assert state.is_completed() and state.name == "NotApproved"
    assert f"proposed action {action.id}" in state.message
    assert "pending, not approved" in state.message
    decide(action.id, "reject", notes="not yet")
    rejected = send_quote_email(proposed_action_id=action.id, return_state=True)
    assert rejected.name == "NotApproved" and "is rejected, not approved" in rejected.message
    missing = send_quote_email(proposed_action_id=10**9, return_state=True)
    assert missing.is_failed() and f"proposed_action_id={10**9}: no such" in missing.message

    assert settled_messages_with(smtp_messages, draft.message_id) == []
    assert log_rows(draft.message_id) == []
    assert quote_status(preview.quote_id) == "proposed"


@flow(name="test-deliver-again")
def deliver_again(draft: EmailDraft, proposed_action_id: int) -> SentEmail:
    """The delivery task on its own, without send-quote-email's already-sent check."""
    smtp = load_email_server(get_settings().smtp_block)
    return deliver_quote_email(draft, None, smtp, proposed_action_id)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_smtp_down_logs_nothing_and_a_later_run_sends_once(env, smtp_messages, monkeypatch) -> None:
    preview, key = make_quote()
    action = stage_email(preview, key)
    decide(action.id, "approve")
    draft = EmailDraft.model_validate(action.payload)
    working = load_email_server(get_settings().smtp_block)
    down_name = f"quoteflow-smtp-down-{uuid.uuid4().hex[:8]}"
    email_server_credentials(
        host=str(working.smtp_server), port=_closed_port(), tls_mode="none"
    ).save(down_name, overwrite=True)
    monkeypatch.setenv("QUOTEFLOW_SMTP_BLOCK", down_name)
    get_settings.cache_clear()

    state = send_quote_email(proposed_action_id=action.id, return_state=True)

    assert state.is_failed()
    assert "refused" in state.message.lower()
    # Every attempt's claim was released: no log row says it was sent.
    assert log_rows(draft.message_id) == []
    assert quote_status(preview.quote_id) == "proposed"

    monkeypatch.delenv("QUOTEFLOW_SMTP_BLOCK")
    get_settings.cache_clear()
    result = send_quote_email(proposed_action_id=action.id)

    assert result.already_sent is False
    smtp_messages.wait_for(1)
    assert len(settled_messages_with(smtp_messages, draft.message_id)) == 1
    assert len(log_rows(draft.message_id)) == 1
    assert quote_status(preview.quote_id) == "sent"


class _DropsAfterData(socketserver.StreamRequestHandler):
    """An SMTP relay that reads the whole message, then dies before answering: the
    client cannot know whether the message was accepted."""

    def handle(self) -> None:
        self.wfile.write(b"220 flaky relay\r\n")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.wfile.write(b"250 flaky\r\n")
            elif verb == b"DATA":
                self.wfile.write(b"354 go ahead\r\n")
                while self.rfile.readline() not in (b".\r\n", b""):
                    pass
                self.server.messages += 1  # type: ignore[attr-defined]
                return  # connection closed, no reply to the data
            else:
                self.wfile.write(b"250 ok\r\n")


def test_delivery_in_doubt_is_never_retried_nor_repeated(env, monkeypatch) -> None:
    preview, key = make_quote()
    action = stage_email(preview, key)
    decide(action.id, "approve")
    draft = EmailDraft.model_validate(action.payload)
    relay = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _DropsAfterData)
    relay.messages = 0  # type: ignore[attr-defined]
    threading.Thread(target=relay.serve_forever, daemon=True).start()
    try:
        name = f"quoteflow-smtp-flaky-{uuid.uuid4().hex[:8]}"
        email_server_credentials(
            host="127.0.0.1", port=relay.server_address[1], tls_mode="none"
        ).save(name, overwrite=True)
        monkeypatch.setenv("QUOTEFLOW_SMTP_BLOCK", name)
        get_settings.cache_clear()

        state = send_quote_email(proposed_action_id=action.id, return_state=True)
        assert state.is_failed() and "in doubt" in state.message
        assert relay.messages == 1  # type: ignore[attr-defined]  # no retry after the data went out
        # The claim stays: the log keeps the message, so nothing can send it a second time.
        assert len(log_rows(draft.message_id)) == 1

        again = send_quote_email(proposed_action_id=action.id, return_state=True)
        assert again.is_failed() and "never confirmed" in again.message
        assert relay.messages == 1  # type: ignore[attr-defined]
        assert quote_status(preview.quote_id) == "proposed"
    finally:
        relay.shutdown()
        relay.server_close()
