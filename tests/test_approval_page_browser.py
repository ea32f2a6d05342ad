"""Mike's approval page in a real browser (Debian's chromium driven by Playwright): approve
a waiting quote with a changed price through the review step, then read back what was
decided and what followed, at desktop size and on a 390x844 phone."""

from __future__ import annotations

import contextvars
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from flows.customer_quote import customer_quote
from quoteflow.approval_page import create_app
from quoteflow.approvals import GATE_ACTION_TYPE, find_action, gate_entity_ref, get_action
from quoteflow.quote import QuoteRequest
from quoteflow.seed import DEMO_CUSTOMER_ID, DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR
from quoteflow.settings import get_settings
from tests.flow_runner import FlowRunHandle

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
SHOTS = Path(__file__).resolve().parent.parent / ".var" / "screenshots"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def page_url(stack, seeded_db, monkeypatch) -> Iterator[str]:
    """The approval page served by uvicorn in this process (in this context: the Prefect
    API it talks to lives in context variables)."""
    monkeypatch.setenv("QUOTEFLOW_PAUSE_POLL_SECONDS", "1")
    get_settings.cache_clear()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=contextvars.copy_context().run, args=(server.run,))
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the page did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    get_settings.cache_clear()


@pytest.fixture
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.mark.usefixtures("demo_pricing_restored")
def test_decide_with_review_then_see_what_happened(page_url, browser):
    handle = FlowRunHandle(
        customer_quote,
        request=QuoteRequest(
            customer_id=DEMO_CUSTOMER_ID,
            item_codes=list(DEMO_ITEM_CODES),
            school_year=DEMO_SCHOOL_YEAR,
        ),
    )
    run_id = str(handle.wait_paused().id)
    gate = find_action(GATE_ACTION_TYPE, gate_entity_ref(run_id))
    assert gate is not None
    SHOTS.mkdir(parents=True, exist_ok=True)

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{page_url}/actions/{gate.id}")
    page.fill('input[name="price.FS-1004"]', "80.00")
    page.fill("#notes", "lift FS-1004 over the floor")
    page.click("button.approve")
    review = page.locator("#review")
    review.wait_for()
    text = review.inner_text()
    assert "$75.59" in text and "$80.00" in text and "16.38%" in text  # (80 - 66.90) / 80
    assert get_action(gate.id).status == "pending"  # nothing decided before confirming
    assert page.input_value("#notes") == "lift FS-1004 over the floor"
    page.screenshot(path=str(SHOTS / "approval-review-desktop.png"), full_page=True)
    page.click("text=Confirm approval")
    page.wait_for_url(re.compile(r"done=approved"))

    assert handle.join().is_completed()
    page.goto(f"{page_url}/actions/{gate.id}")
    approved = page.locator("#as-approved").inner_text()
    assert "$75.59" in approved and "$80.00" in approved and "16.38%" in approved
    assert "lift FS-1004 over the floor" in approved and "Approved subtotal" in approved
    timeline = page.locator("#timeline").inner_text()
    for expected in ("Decision", "Run", "Completed", "Quote", "PDF", "NetSuite estimate"):
        assert expected in timeline, expected
    assert "estimate id" in timeline and "Verify quote_persisted" in timeline
    pdf_href = page.locator("#timeline a", has_text="quotes/").get_attribute("href")
    pdf = page.request.get(f"{page_url}{pdf_href}")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
    page.screenshot(path=str(SHOTS / "approval-decided-desktop.png"), full_page=True)

    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(f"{page_url}/actions/{gate.id}")
    phone.locator("#timeline").wait_for()
    phone.screenshot(path=str(SHOTS / "approval-decided-phone.png"), full_page=True)
    # Wide tables scroll inside their box; the page itself never scrolls sideways.
    wide = phone.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
        " > 391 && !e.closest('.list')).map(e => e.tagName + '.' + e.className).slice(0, 5)"
    )
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390, wide
    phone.goto(page_url)
    assert "as approved" in phone.locator("#decided").inner_text()
