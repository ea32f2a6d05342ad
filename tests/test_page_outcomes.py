"""Every outcome reaches Mike: a quote draft for a customer on hold is flagged before he
approves it, and after its run ends blocked the draft, the inbox and a notice say so."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from quoteflow.approval_page import create_app
from quoteflow.approvals import approve, draft_quote
from quoteflow.settings import get_settings
from tests.fixtures.demo import DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR, ON_HOLD_CUSTOMER_ID
from tests.fixtures.page import KEY

pytestmark = pytest.mark.stack
JARGON = (
    "customer-quote run",
    "deployment",
    "customer_not_on_hold",
    "pricing_master",
    "spec_items",
)


@pytest.fixture
def client(stack, seeded_db) -> Iterator[object]:
    from starlette.testclient import TestClient

    get_settings.cache_clear()
    with TestClient(create_app(link_key=KEY), base_url="http://127.0.0.1") as c:
        yield c


def test_a_blocked_draft_is_warned_before_and_reaches_mike_after(client, smtp_messages):
    from flows.customer_quote import customer_quote
    from quoteflow.quote import QuoteRequest

    draft = draft_quote(
        QuoteRequest(
            customer_id=ON_HOLD_CUSTOMER_ID,
            item_codes=list(DEMO_ITEM_CODES[:2]),
            school_year=DEMO_SCHOOL_YEAR,
        )
    )
    before = client.get(f"/actions/{draft.id}").text
    assert 'id="draft-blockers"' in before and "is on hold" in before

    approve(draft.id, expected_hash=draft.payload_hash)
    state = customer_quote(proposed_action_id=draft.id, return_state=True)
    assert state.name == "Blocked"

    after = client.get(f"/actions/{draft.id}").text
    assert 'id="draft-end"' in after and "Not quoted" in after and "is on hold" in after
    assert "What you can do" in after
    inbox = client.get("/").text
    attention = inbox[inbox.index('id="attention"') : inbox.index('id="pending"')]
    assert f'href="/actions/{draft.id}"' in attention and "needs attention" in attention

    mike = get_settings().approver_email
    (notice,) = [m for m in smtp_messages.wait_for(1, to=mike) if "Not quoted" in m["Subject"]]
    body = notice.get_content() if not notice.is_multipart() else notice.get_body().get_content()
    assert "is on hold" in body and "What you can do" in body
    assert f"/actions/{draft.id}" in body
    for page in (before, after, inbox, body):
        for word in JARGON:
            assert word not in page, word


def test_an_expiry_is_recorded_as_the_system_not_mike(client):
    from quoteflow.approvals import expire
    from tests.fixtures.page import staged_email

    email = staged_email()
    expired = expire(email.id)
    assert expired.status == "expired" and expired.approver == "system"
    page = client.get(f"/actions/{email.id}").text
    assert "nobody decided in time" in page and "by mike" not in page


def test_approving_too_late_says_so_plainly_and_offers_re_open(client):
    import re
    from datetime import timedelta
    from decimal import Decimal

    from quoteflow.quote import QuoteLineView
    from tests.fixtures.page import hash_of, token_of
    from tests.fixtures.previews import small_preview, stage_gate

    line = QuoteLineView(
        line_no=1,
        item_code="FS-1001",
        description="Napkins",
        case_price=Decimal("41.50"),
        cost_basis=Decimal("30.00"),
        margin_pct=Decimal("27.71"),
        price_source="pricing_master",
    )
    gate = stage_gate(small_preview(line), ref="late", expires_in=timedelta(seconds=2))
    page = client.get(f"/actions/{gate.id}").text
    assert f'data-deadline="{gate.expires_at.isoformat()}"' in page  # counts down live
    form = {"csrf_token": token_of(page), "expect_hash": hash_of(page)}
    import time

    time.sleep(2.5)
    shown = client.get(f"/actions/{gate.id}").text
    assert 'data-status="expired"' in shown  # the badge follows the deadline at once
    late = client.post(f"/actions/{gate.id}/approve", data=form, follow_redirects=False)
    assert late.status_code == 409
    assert re.search(r"Too late: the time to decide ended on \w{3} \w{3} \d+, \d{4}", late.text)
    assert "flow run" not in late.text and "not waiting" not in late.text
    assert 'id="reopen"' in late.text and 'data-status="expired"' in late.text


def test_status_badges_come_from_one_mapping():
    from quoteflow.approval_page.badges import badge

    assert str(badge("not sent")) == (
        '<span class="badge tone-wait" data-status="not sent">not sent</span>'
    )
    assert 'tone-wait" data-status="proposed">waiting for the customer' in str(
        badge("proposed", quote=True)
    )
    assert ">declined<" in str(badge("rejected", quote=True))
    assert 'class="badge tone-neutral" data-status="&lt;b&gt;"' in str(badge("<b>"))


def test_inbox_puts_the_soonest_deadline_first_and_review_flags_unknown_cost(client):
    from datetime import timedelta
    from decimal import Decimal

    from quoteflow.quote import QuoteLineView
    from tests.fixtures.page import hash_of, staged_email, token_of
    from tests.fixtures.previews import small_preview, stage_gate

    no_deadline = staged_email()
    later = stage_gate(small_preview(), ref="later", expires_in=timedelta(hours=5))
    sooner = stage_gate(small_preview(), ref="sooner", expires_in=timedelta(minutes=20))
    html = client.get("/").text
    at = {a.id: html.index(f'href="/actions/{a.id}"') for a in (no_deadline, later, sooner)}
    assert at[sooner.id] < at[later.id] < at[no_deadline.id]

    unknown = QuoteLineView(
        line_no=1,
        item_code="FS-2000",
        description="Mystery",
        case_price=Decimal("10.00"),
        cost_basis=None,
        price_source="pricing_master",
    )
    gate = stage_gate(small_preview(unknown), ref="nocost")
    page = client.get(f"/actions/{gate.id}").text
    form = {"csrf_token": token_of(page), "expect_hash": hash_of(page), "price.FS-2000": "12.00"}
    review = client.post(f"/actions/{gate.id}/approve", data=form).text  # follows the PRG
    assert "FS-2000: its cost is unknown, so the margin of $12.00 cannot be checked." in review
    assert "$0.00" not in review.split('id="review"')[1].split("</section>")[0]


def test_a_used_link_says_so_in_words_and_offers_a_way_forward(client):
    from quoteflow.approvals import expire
    from tests.fixtures.page import link_for, staged_email

    email = staged_email()
    expire(email.id)
    spent = client.get(link_for(email))
    assert spent.status_code == 410
    assert "<h1>Already decided or expired</h1>" in spent.text and "Error 410" not in spent.text
    assert f'href="/actions/{email.id}"' in spent.text and "UTC" not in spent.text
