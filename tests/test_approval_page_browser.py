"""Mike's approval page in a real browser (Debian's chromium driven by Playwright): approve
a waiting quote with a changed price through the review step, then read back what was
decided and what followed; every page at desktop size and on a 390x844 phone; a new quote
from the form; the login beyond loopback.

Screenshots go to $QUOTEFLOW_SCREENSHOT_DIR (default .var/screenshots): look at them."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from quoteflow.approval_page import create_app
from quoteflow.approvals import get_action
from quoteflow.settings import get_settings
from tests.fixtures.demo import DEMO_CUSTOMER_ID, DEMO_SCHOOL_YEAR, demo_request
from tests.fixtures.flow_runner import paused_quote
from tests.fixtures.page import KEY, link_for, served, staged_email, staged_gate

CHROMIUM = Path("/usr/bin/chromium")
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SHOTS = Path(
    os.environ.get("QUOTEFLOW_SCREENSHOT_DIR")
    or Path(__file__).resolve().parent.parent / ".var" / "screenshots"
)
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def page_url(stack, seeded_db, monkeypatch) -> Iterator[str]:
    """The approval page (links signed with the tests' key)."""
    monkeypatch.setenv("QUOTEFLOW_PAUSE_POLL_SECONDS", "0.2")
    get_settings.cache_clear()
    with served(create_app(link_key=KEY)) as url:
        yield url
    get_settings.cache_clear()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def assert_fits(phone) -> None:
    """Wide tables scroll inside their box; the page itself never scrolls sideways."""
    wide = phone.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
        " > 391 && !e.closest('.list')).map(e => e.tagName + '.' + e.className).slice(0, 5)"
    )
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390, (phone.url, wide)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.mark.usefixtures("demo_pricing_restored")
def test_decide_with_review_then_see_what_happened(page_url, browser):
    handle, _, gate = paused_quote(demo_request())

    phone = browser.new_page(viewport=PHONE)
    phone.goto(f"{page_url}/actions/{gate.id}")
    floor = f"{get_settings().margin_floor_pct:g}"
    warnings = phone.locator("#warnings").inner_text()
    assert re.search(
        rf"FS-1004 \(Cheese Pizza.*\) would earn [\d.]+%, under your {floor}% floor", warnings
    )
    assert phone.locator('input[name="price.FS-1004"]').is_visible()  # a card per line
    assert not phone.locator("#details dl").is_visible()  # ids and hashes behind Details
    shot(phone, "gate-pending-phone")
    assert_fits(phone)
    phone.click("#details summary")
    assert gate.payload_hash in phone.locator("#details dl").inner_text()
    assert_fits(phone)  # long ids and the hash wrap

    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{page_url}/actions/{gate.id}")
    shot(page, "gate-pending-desktop")
    page.fill('input[name="price.FS-1004"]', "80.00")
    page.fill("#notes", "lift FS-1004 over the floor")
    page.click("button.approve")
    review = page.locator("#review")
    review.wait_for()
    text = review.inner_text()
    assert "$75.59" in text and "$80.00" in text and "16.38%" in text  # (80 - 66.90) / 80
    assert get_action(gate.id).status == "pending"  # nothing decided before confirming
    assert page.input_value("#notes") == "lift FS-1004 over the floor"
    shot(page, "gate-review-desktop")
    page.click("text=Confirm approval")
    page.wait_for_url(re.compile(r"done=approved"))

    assert handle.join().is_completed()
    page.goto(f"{page_url}/actions/{gate.id}")
    approved = page.locator("#as-approved").inner_text()
    assert "$75.59" in approved and "$80.00" in approved and "16.38%" in approved
    assert "lift FS-1004 over the floor" in approved and "Approved subtotal" in approved
    # The floor warning the approved price fixed is no longer counted on the decided page (other
    # warnings, e.g. prices proposed by earlier quotes of the suite, may remain).
    summary = " ".join(page.locator("#summary").inner_text().split())
    left = re.search(r"Warnings left (\d+|none)", summary)
    proposed = re.search(r"Please check \((\d+)\)", page.locator("#warnings").inner_text())
    assert left and proposed, summary
    assert (0 if left.group(1) == "none" else int(left.group(1))) < int(proposed.group(1))
    timeline = page.locator("#timeline").inner_text()
    for expected in ("Decision", "Run", "done", "Quote", "PDF", "NetSuite estimate"):
        assert expected in timeline, expected
    assert "estimate id" in timeline and "Check: Quote saved" in timeline
    pdf_href = page.locator("#timeline a", has_text="quotes/").get_attribute("href")
    pdf = page.request.get(f"{page_url}{pdf_href}")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
    shot(page, "gate-decided-desktop")

    phone.goto(f"{page_url}/actions/{gate.id}")
    phone.locator("#timeline").wait_for()
    shot(phone, "gate-decided-phone")
    assert_fits(phone)
    phone.goto(page_url)
    # the approved gate sits under its quote's heading, with the email draft it made waiting
    quote_no = get_action(gate.id).payload["preview"]["quote_id"]
    group = phone.locator("#pending section.group", has_text=f"Quote {quote_no}").inner_text()
    assert "as approved" in group and "email to" in group

    # The quote it made: the list, the quote itself, the contract; on a phone.
    quote_id = get_action(gate.id).payload["preview"]["quote_id"]
    for path, name in (
        ("/quotes", "quotes"),
        (f"/quotes/{quote_id}", "quote"),
        ("/contract", "contract"),
    ):
        phone.goto(f"{page_url}{path}")
        shot(phone, f"{name}-phone")
        assert_fits(phone)
    page.goto(f"{page_url}/quotes/{quote_id}")
    shot(page, "quote-desktop")


def test_every_page_on_a_phone_a_new_quote_and_the_login(page_url, browser, tmp_path):
    email = staged_email()
    gate = staged_gate(customer_name="Independent School District of the Very Long Name " * 2)
    phone = browser.new_page(viewport=PHONE)
    desktop = browser.new_page(viewport=DESKTOP)

    for page, size in ((desktop, "desktop"), (phone, "phone")):
        page.goto(page_url)
        assert page.locator('meta[http-equiv="refresh"]').count() == 1
        assert f"#{email.id}" in page.locator("#pending").inner_text()
        shot(page, f"index-{size}")
    assert_fits(phone)
    for path, name in (
        (f"/actions/{email.id}", "email"),
        (f"/actions/{gate.id}", "gate-long-name"),
        (link_for(email), "link"),
    ):
        phone.goto(f"{page_url}{path}")
        assert phone.locator("button.approve").is_visible()
        shot(phone, f"{name}-phone")
        assert_fits(phone)

    # A bad form at desktop size: the error names the field and its rule; nothing staged.
    desktop.goto(f"{page_url}/new-quote")
    desktop.fill("#customer", "Cedar Ridge")
    desktop.click("text=Create quote")
    error = desktop.locator("#form-error").inner_text()
    assert "Items: none picked; pick at least one item" in error
    shot(desktop, "new-quote-error-desktop")

    # On the phone: customer, prices for the year, two items, create.
    phone.goto(f"{page_url}/new-quote")
    phone.fill("#customer", f"Cedar Ridge Unified School District ({DEMO_CUSTOMER_ID})")
    phone.fill("#school_year", DEMO_SCHOOL_YEAR)
    phone.click("text=Show this customer's prices")
    legend = phone.locator("#items legend").inner_text()
    assert f"prices for Cedar Ridge Unified School District, {DEMO_SCHOOL_YEAR}" in legend
    phone.check('input[value="FS-1001"]')
    phone.check('input[value="FS-1004"]')
    shot(phone, "new-quote-phone")
    assert_fits(phone)
    phone.click("text=Create quote")
    phone.wait_for_url(re.compile(r"/actions/\d+"))
    draft = get_action(int(re.search(r"/actions/(\d+)", phone.url).group(1)))
    assert draft.action_type == "quote_draft" and draft.status == "approved"
    assert draft.payload["request"]["item_codes"] == ["FS-1001", "FS-1004"]
    assert draft.payload["request"]["customer_id"] == DEMO_CUSTOMER_ID
    assert "Cheese Pizza" in phone.locator("#draft-items").inner_text()
    shot(phone, "new-quote-draft-phone")
    assert_fits(phone)

    # Beyond loopback: the login first, then the page.
    from quoteflow.approval_page.auth import hash_password

    app = create_app(link_key=KEY, password_hash=hash_password("correct horse battery"))
    with served(app) as guarded:
        phone.goto(f"{guarded}/actions/{email.id}")
        phone.wait_for_url(re.compile(r"/login\?next="))
        phone.fill("#password", "guess")
        phone.click("#login button")
        assert "not right" in phone.locator(".notice.error").inner_text()
        shot(phone, "login-phone")
        assert_fits(phone)
        phone.fill("#password", "correct horse battery")
        phone.click("#login button")
        phone.wait_for_url(re.compile(rf"/actions/{email.id}$"))
        assert email.payload["subject"] in phone.content()
