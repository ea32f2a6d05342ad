"""One time-and-date format for everything Mike or a customer reads, in Mike's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from quoteflow.approval_page.wording import link_spent
from quoteflow.links import LinkClaims, LinkExpired, read_link, sign_link
from quoteflow.models import ActionView
from quoteflow.notices import local_time
from quoteflow.pdf.render import _format_date
from quoteflow.presentation import format_day, format_when

CHICAGO = "America/Chicago"
LATE = datetime(2026, 12, 4, 2, 30, tzinfo=UTC)  # still Thursday Dec 3 in Chicago


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
        expired = ActionView(
            id=1,
            action_type="x",
            entity_ref="x",
            status="expired",
            payload={},
            payload_hash="h",
            approver="system",
            decision_notes=None,
            decided_at=LATE,
            approved_payload_hash=None,
            flow_run_id=None,
            expires_at=LATE,
            created_at=LATE,
        )
        said = link_spent(expired)
        assert said == "This expired on Thu Dec 3, 2026, 8:30 PM CST; nothing was decided."
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
