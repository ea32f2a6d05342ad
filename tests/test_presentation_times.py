"""One time-and-date format for everything Mike or a customer reads, in Mike's time zone."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta

import pytest

from quoteflow.approval_page.countdown import COUNTDOWN_JS
from quoteflow.approval_page.time_filters import expires
from quoteflow.approval_page.wording import link_spent
from quoteflow.cli.actions import _line
from quoteflow.links import LinkClaims, LinkExpired, read_link, sign_link
from quoteflow.models import ActionView
from quoteflow.notices import local_time, waiting_notice
from quoteflow.pdf.render import _format_date
from quoteflow.presentation import format_day, format_when, span, time_left

CHICAGO = "America/Chicago"
LATE = datetime(2026, 12, 4, 2, 30, tzinfo=UTC)  # still Thursday Dec 3 in Chicago


def _action(**fields) -> ActionView:
    defaults = {
        "id": 1,
        "action_type": "x",
        "entity_ref": "x",
        "payload": {},
        "payload_hash": "h",
        "decision_notes": None,
        "decided_at": None,
        "approved_payload_hash": None,
        "flow_run_id": None,
        "expires_at": LATE,
        "created_at": LATE,
    }
    return ActionView(**(defaults | fields))


def test_one_format_in_mikes_time_zone():
    assert format_when(LATE, CHICAGO) == "Thu Dec 3, 2026, 8:30 PM CST"
    assert format_day(LATE, CHICAGO) == "Thu Dec 3, 2026"  # the local day, not the UTC one
    assert format_day(date(2027, 1, 3)) == "Sun Jan 3, 2027"
    assert local_time(LATE, CHICAGO) == format_when(LATE, CHICAGO)


def test_pdf_pages_and_links_use_it(monkeypatch):
    from quoteflow.settings import get_settings

    monkeypatch.setenv("QUOTEFLOW_LOCAL_TIMEZONE", CHICAGO)
    get_settings.cache_clear()
    try:
        assert _format_date(LATE) == "Thu Dec 3, 2026"
        claims = LinkClaims(1, "h" * 64, LATE)
        key = "k" * 20
        try:
            read_link(key, sign_link(key, claims), now=LATE + timedelta(minutes=1))
        except LinkExpired as exc:
            assert str(exc) == "This link expired on Thu Dec 3, 2026, 8:30 PM CST."
            assert "UTC" not in str(exc)
        expired = _action(status="expired", approver="system", decided_at=LATE)
        said = link_spent(expired)
        assert said == "This expired on Thu Dec 3, 2026, 8:30 PM CST; nothing was decided."
    finally:
        get_settings.cache_clear()


def test_one_time_left_text_on_the_page_in_notices_and_slack():
    deadline = LATE + timedelta(hours=48)
    assert time_left(deadline, LATE) == "2 days"
    assert time_left(LATE + timedelta(minutes=150), LATE) == "2 h 30 min"
    assert time_left(LATE + timedelta(minutes=45), LATE) == "45 min"
    assert time_left(LATE - timedelta(minutes=5), LATE) == "less than a minute"
    assert time_left(deadline.replace(tzinfo=None), LATE) == "2 days"  # naive is UTC
    assert span(-300) == "5 min"
    assert expires(deadline, now=LATE) == "expires in 2 days"
    notice = waiting_notice(
        action_id=1,
        action_type="x",
        payload={},
        expires_at=deadline,
        link="https://q.example/a/T",
        tz=CHICAGO,
        now=LATE,
    )
    assert "Decide by Sat Dec 5, 2026, 8:30 PM CST (in 2 days)." in notice.body


def test_the_pages_live_countdown_says_it_the_same_way():
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node to run the page's script")
    f = re.search(r"function f\(l\)\{.*?\}(?=function t\()", COUNTDOWN_JS)
    assert f is not None
    minutes = [48 * 60, 150, 45]
    script = f.group(0) + "".join(f"console.log(f({m * 60000}));" for m in minutes)
    said = subprocess.run([node, "-e", script], capture_output=True, text=True, check=True)
    assert said.stdout.splitlines() == [
        time_left(LATE + timedelta(minutes=m), LATE) for m in minutes
    ]


def test_the_cli_shows_times_in_the_one_format(monkeypatch):
    from quoteflow.settings import get_settings

    monkeypatch.setenv("QUOTEFLOW_LOCAL_TIMEZONE", CHICAGO)
    get_settings.cache_clear()
    try:
        action = _action(id=7, entity_ref="Q1", status="pending", approver="mike")
        assert _line(action).endswith("Q1 expires Thu Dec 3, 2026, 8:30 PM CST")
    finally:
        get_settings.cache_clear()


def test_the_prefect_ui_form_is_short_plain_and_leads_with_the_refusal():
    from decimal import Decimal

    from quoteflow.presentation import resume_description
    from quoteflow.quote import QuoteLineView, QuoteWarning
    from tests.fixtures.previews import small_preview

    preview = small_preview(
        QuoteLineView(
            line_no=1,
            item_code="FS-1004",
            description="Cheese Pizza",
            case_price=Decimal("75.59"),
            cost_basis=Decimal("66.90"),
            margin_pct=Decimal("11.50"),
            price_source="pricing_master",
            flags=["below_margin_floor"],
        ),
        QuoteLineView(line_no=2, item_code="FS-1009", description="Tray", flags=["no_pricing"]),
        subtotal=Decimal("75.59"),
    )
    preview = preview.model_copy(
        update={
            "warnings": [
                QuoteWarning(check="margin_floor", message="m", item_codes=["FS-1004"]),
                QuoteWarning(check="pricing_found", message="p", item_codes=["FS-1009"]),
            ]
        }
    )
    text = resume_description(
        preview,
        page_url="https://q.example/actions/7",
        decide_by=LATE,
        margin_floor=15,
        problem="FS-1004: $1.00 is below its cost $66.90; tick confirm to approve it anyway",
    )
    assert text.startswith("**Not done, please decide again:** FS-1004: $1.00 is below")
    assert "subtotal **$75.59**" in text
    assert "- FS-1004 (Cheese Pizza) would earn 11.5%, under your 15% floor." in text
    assert "[Open it on your approval page](https://q.example/actions/7)" in text
    for raw in ("no_pricing", "n/a%", "pricing_found", "unless Mike", "|---"):
        assert raw not in text, raw
    assert len(text) < 900  # a short description, not the whole table
