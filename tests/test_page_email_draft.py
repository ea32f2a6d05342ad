"""The customer email draft on Mike's page: Send / Don't send, the PDF the customer gets,
and afterwards when it was sent (read from the send log). No Prefect needed: the draft is
decided in the database as a decision would leave it."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from quoteflow.approval_page import create_app
from quoteflow.db import session_scope
from quoteflow.mail import EmailDraft
from quoteflow.models import ActionStatus, ProposedAction, utcnow
from quoteflow.presentation import format_when
from quoteflow.sending import deliver_once, read_sent_email
from quoteflow.settings import get_settings
from tests.fixtures.page import KEY, staged_email


@pytest.fixture
def client(seeded_db) -> Iterator[object]:
    from starlette.testclient import TestClient

    get_settings.cache_clear()
    with TestClient(create_app(link_key=KEY), base_url="http://127.0.0.1") as c:
        yield c


def _decide_in_db(action_id: int, status: ActionStatus) -> None:
    with session_scope() as s:
        row = s.get(ProposedAction, action_id)
        assert row is not None
        row.status, row.decided_at, row.approver = status, utcnow(), "mike"
        s.add(row)


class _Relay:
    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.sent.append(message)


def test_a_pending_email_offers_send_and_dont_send_and_its_pdf(client):
    email = staged_email()
    draft = EmailDraft.model_validate(email.payload)
    page = client.get(f"/actions/{email.id}").text
    assert ">Send</button>" in page and ">Don't send</button>" in page
    assert ">Approve</button>" not in page and ">Reject</button>" not in page
    assert f'href="/quotes/{draft.quote_id}/pdf"' in page and "Open the PDF" in page
    assert 'id="sent-at"' not in page


def test_a_sent_email_says_when_it_went_out_from_the_send_log(client):
    email = staged_email()
    draft = EmailDraft.model_validate(email.payload)
    _decide_in_db(email.id, ActionStatus.approved)
    before = client.get(f"/actions/{email.id}").text
    assert "Not sent yet" in before and 'data-status="sending"' in before

    relay = _Relay()
    message = EmailMessage()
    message["Message-ID"] = draft.message_id
    deliver_once(draft, message, relay, email.id)
    sent = read_sent_email(draft.message_id)
    assert sent is not None and sent.confirmed and len(relay.sent) == 1

    after = client.get(f"/actions/{email.id}").text
    assert f"Sent at {format_when(sent.sent_at)} to {draft.to}." in after
    assert 'data-status="sent"' in after and "<form" not in after.split('id="sent-at"')[1]


def test_an_email_mike_chose_not_to_send_says_so(client):
    email = staged_email()
    _decide_in_db(email.id, ActionStatus.rejected)
    page = client.get(f"/actions/{email.id}?done=rejected").text
    assert "Not sent." in page and "you chose not to send it" in page
    assert "not sent (your choice)" in page and ">rejected<" not in page
