"""Telling Mike: signed links (pure), notice wording and timing (pure), and the notices
reaching the SMTP sink through the notification block, once each."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from itsdangerous import URLSafeSerializer

from quoteflow.links import (
    LinkClaims,
    LinkExpired,
    LinkInvalid,
    link_url,
    read_link,
    sign_link,
    signing_key,
)
from quoteflow.models import ActionType
from quoteflow.notices import (
    NoticeCandidate,
    alert_notice,
    due_notices,
    notice_key,
    waiting_notice,
)
from quoteflow.quote import QuoteLineView, QuotePreview, QuoteWarning
from tests.fixtures.previews import small_preview

KEY = "k" * 32
NOW = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


# ---------------------------------------------------------------- links


def test_a_link_reads_back_what_it_was_signed_for() -> None:
    claims = LinkClaims(7, "ab" * 32, NOW + timedelta(hours=1))
    token = sign_link(KEY, claims)
    assert read_link(KEY, token, now=NOW) == claims
    assert link_url("https://q.example/", token) == f"https://q.example/a/{token}"


def test_tampered_foreign_and_expired_links_are_refused_with_their_status() -> None:
    claims = LinkClaims(7, "ab" * 32, NOW + timedelta(hours=1))
    token = sign_link(KEY, claims)
    # another action id under the same signature
    forged = URLSafeSerializer("x" * 32, salt="quoteflow.action-link.v1").dumps(
        {"a": 8, "h": "ab" * 32, "e": int(claims.expires_at.timestamp())}
    )
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), forged, "", "a.b"):
        with pytest.raises(LinkInvalid) as err:
            read_link(KEY, bad, now=NOW)
        assert err.value.status_code == 403
    with pytest.raises(LinkExpired) as err:
        read_link(KEY, token, now=NOW + timedelta(hours=2))
    assert err.value.status_code == 410
    with pytest.raises(ValueError, match="at least 16"):
        sign_link("short", claims)


# ---------------------------------------------------------------- notices


def _preview() -> QuotePreview:
    return small_preview(
        QuoteLineView(
            line_no=1,
            item_code="FS-1001",
            description="Copy paper",
            case_price=Decimal("75.59"),
            cost_basis=Decimal("60.00"),
            margin_pct=Decimal("20.6"),
        ),
        QuoteLineView(line_no=2, item_code="FS-1009", description="Stapler"),
        quote_id="Q-2026-0042",
        customer_name="Cedar Falls USD",
        now=NOW,
        subtotal=Decimal("75.59"),
        margin_pct=Decimal("20.6"),
        warnings=[
            QuoteWarning(
                check="pricing_found", message="FS-1009 has no price", item_codes=["FS-1009"]
            )
        ],
    )


def test_the_waiting_notice_says_what_waits_in_plain_words() -> None:
    notice = waiting_notice(
        action_id=12,
        action_type="workflow_customer_quote",
        payload={"preview": _preview().model_dump(mode="json")},
        expires_at=NOW + timedelta(minutes=45),
        link="https://q.example/a/TOKEN",
        tz="America/Chicago",
        now=NOW,
    )
    assert notice.subject == "Quote Q-2026-0042 for Cedar Falls USD needs your approval"
    body = notice.body
    for expected in (
        "Cedar Falls USD (1107), school year 2026-27",
        "FS-1001 Copy paper: $75.59 per case, margin 20.6%",
        "FS-1009 Stapler: no price (left off the quote)",
        "Subtotal: $75.59, overall margin 20.6%",
        "Please check: FS-1009 (Stapler) has no price for Cedar Falls USD in 2026-27",
        "Decide by Fri Nov 27, 2026, 12:45 PM CST (in 45 min).",
        "unless you set a price",
        "https://q.example/a/TOKEN",
    ):
        assert expected in body, expected


def test_alert_notices_name_the_step_or_check() -> None:
    step = alert_notice("alert", {"run_id": "r1", "step": "ns_push", "attempts": 3, "error": "503"})
    assert step.subject == "A quote step failed: sending the estimate to NetSuite"
    assert "after 3 attempt(s): 503" in step.body and "ns_push" not in step.body
    check = alert_notice(
        "verify.timeout",
        {
            "run_id": "r1",
            "check": "email_sent",
            "quote_id": "Q-1",
            "detail": "not satisfied by the deadline Thu Dec 3, 2026, 6:19 PM CST: "
            "no outbound_email_log row for quote Q-1 yet",
        },
    )
    assert check.subject == "Check timed out for quote Q-1: “Email sent to the customer”"
    assert "Not done by Thu Dec 3, 2026, 6:19 PM CST: quote Q-1 is not emailed yet" in check.body
    assert "email_sent" not in check.body and "outbound_email_log" not in check.body


def test_each_notice_is_due_once_and_only_when_it_should_be() -> None:
    old = NOW - timedelta(minutes=5)
    actions = [
        NoticeCandidate(action_id=1, status="pending", created_at=NOW),  # just staged
        NoticeCandidate(action_id=2, status="pending", created_at=old),  # first notice lost
        NoticeCandidate(  # inside the reminder window
            action_id=3, status="pending", created_at=old, expires_at=NOW + timedelta(minutes=10)
        ),
        NoticeCandidate(  # outside it
            action_id=4, status="pending", created_at=old, expires_at=NOW + timedelta(minutes=40)
        ),
        NoticeCandidate(action_id=5, status="expired", created_at=old),
        NoticeCandidate(action_id=6, status="approved", created_at=old),
    ]
    sent = {notice_key("waiting", i) for i in (3, 4)}
    due = due_notices(actions, sent, now=NOW, reminder_minutes=15)
    assert due == [(2, "waiting"), (3, "reminder"), (5, "expired")]
    sent |= {notice_key(kind, i) for i, kind in due} | {notice_key("waiting", 2)}
    assert due_notices(actions, sent, now=NOW, reminder_minutes=15) == []


# ---------------------------------------------------------------- through the stack


@pytest.fixture
def gate(stack, seeded_db):
    from quoteflow.approvals import stage_action

    return stage_action(
        action_type=ActionType.quote_gate,
        entity_ref=f"workflow:customer_quote:run_{uuid.uuid4()}",
        payload={"preview": _preview().model_dump(mode="json")},
        expires_at=datetime.now(UTC) + timedelta(minutes=10),
    )


def _link_in(body: str) -> str:
    match = re.search(r"(http://\S+/a/(\S+))", body)
    assert match, body
    return match.group(2)


def test_mike_gets_one_notice_with_a_working_link_and_one_reminder(gate, smtp_messages) -> None:
    from quoteflow.approvals import expire
    from quoteflow.settings import get_settings
    from tasks.notify import send_due_notices, send_waiting_notice

    assert send_waiting_notice(gate.id) is True
    assert send_waiting_notice(gate.id) is False  # once
    [msg] = [m for m in smtp_messages.wait_for(1) if "Q-2026-0042" in m["Subject"]]
    assert msg["To"] == get_settings().approver_email
    assert msg["From"] == get_settings().mail_from
    claims = read_link(signing_key(), _link_in(msg.get_content()))
    assert claims.action_id == gate.id and claims.payload_hash == gate.payload_hash

    # 10 minutes left < the 15-minute reminder window: the sweep reminds once.
    sent = send_due_notices.fn()
    assert notice_key("reminder", gate.id) in sent
    assert notice_key("reminder", gate.id) not in send_due_notices.fn()
    expire(gate.id)
    assert notice_key("expired", gate.id) in send_due_notices.fn()
    subjects = [m["Subject"] for m in smtp_messages.wait_for(3) if "Q-2026-0042" in m["Subject"]]
    assert len(subjects) == 3
    assert subjects[1].startswith("[quoteflow] Reminder: Quote Q-2026-0042")
    assert subjects[2].startswith("[quoteflow] Expired: Quote Q-2026-0042")
