"""Guardrails on Mike's page: the review step shows only what changed and drops a warning his
price fixed; "no price" warnings read as one sentence; a school year without a single price
is refused on the new quote form. No Prefect: nothing here decides."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from quoteflow.approval_page import create_app
from quoteflow.approval_page.forms import FormError
from quoteflow.approval_page.new_quote import request_from_form
from quoteflow.presentation import plain_warnings
from quoteflow.quote import QuoteLineView, QuoteWarning
from quoteflow.settings import get_settings
from tests.fixtures.demo import DEMO_CUSTOMER_ID, DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR
from tests.fixtures.page import KEY, hash_of, token_of
from tests.fixtures.previews import small_preview, stage_gate


@pytest.fixture
def client(seeded_db) -> Iterator[object]:
    from starlette.testclient import TestClient

    get_settings.cache_clear()
    with TestClient(create_app(link_key=KEY), base_url="http://127.0.0.1") as c:
        yield c


def _line(no: int, code: str, price: str | None, cost: str | None = "30.00") -> QuoteLineView:
    return QuoteLineView(
        line_no=no,
        item_code=code,
        description=f"Item {code}",
        case_price=Decimal(price) if price else None,
        line_total=Decimal(price) if price else None,
        cost_basis=Decimal(cost) if cost else None,
        price_source="pricing_master" if price else "none",
    )


def test_five_items_without_a_price_read_as_one_sentence():
    codes = ["FS-1", "FS-2", "FS-3", "FS-4", "FS-5"]
    preview = small_preview(
        warnings=[QuoteWarning(check="pricing_found", message="x", item_codes=codes)]
    )
    [sentence] = plain_warnings(preview, 15)
    assert sentence.startswith("5 items have no price for Maple Valley ISD in")
    assert "FS-1, FS-2, FS-3, FS-4 and FS-5" in sentence
    assert "left off unless you set a price" in sentence


def test_the_review_shows_only_the_changed_line_and_drops_the_warning_the_price_fixed(client):
    preview = small_preview(
        _line(1, "FS-1001", "41.50"),
        _line(2, "FS-1002", None),
        _line(3, "FS-1003", "50.00"),
        subtotal=Decimal("91.50"),
        warnings=[QuoteWarning(check="pricing_found", message="x", item_codes=["FS-1002"])],
    )
    gate = stage_gate(preview, ref="review")
    page = client.get(f"/actions/{gate.id}").text
    assert "FS-1002 (Item FS-1002) has no price" in page
    review = client.post(
        f"/actions/{gate.id}/approve",
        data={
            "csrf_token": token_of(page),
            "expect_hash": hash_of(page),
            "price.FS-1002": "44.00",
        },
    )
    assert review.status_code == 200 and "/review?" in str(review.url)
    text = review.text
    shown = text[text.index('id="review"') : text.index('id="original"')]
    assert "What you changed (1 of 3 lines)" in shown
    assert "FS-1002" in shown and "$44.00" in shown
    assert "FS-1001" not in shown and "FS-1003" not in shown  # unchanged lines stay below
    assert "No warnings left with your prices." in shown and "has no price" not in shown
    assert "Warnings<br><strong>none" in text  # the summary card agrees
    assert '<details class="card" id="original">' in text  # the full quote folded away
    assert text.index('id="review"') < text.index('id="original"') < text.index('id="actionbar"')


def test_a_school_year_without_any_price_is_refused_with_what_to_do(seeded_db):
    with pytest.raises(FormError) as refused:
        request_from_form(
            {
                "customer": [DEMO_CUSTOMER_ID],
                "item": list(DEMO_ITEM_CODES[:2]),
                "school_year": ["2030-31"],
            }
        )
    assert refused.value.field == "school_year"
    message = refused.value.message
    assert message.startswith("School year: there are no prices for 2030-31")
    assert f"Prices exist for {DEMO_SCHOOL_YEAR}" in message and "Prices page" in message
    ok = request_from_form(
        {
            "customer": [DEMO_CUSTOMER_ID],
            "item": [DEMO_ITEM_CODES[0]],
            "school_year": [DEMO_SCHOOL_YEAR],
        }
    )
    assert ok.school_year == DEMO_SCHOOL_YEAR
