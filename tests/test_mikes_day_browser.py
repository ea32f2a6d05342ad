"""Mike's day in Debian's chromium at 1280x800 and 390x844, from a fresh page process with
the password on: login, the on-hold draft (warned before, outcome after), a changed price
through the review step (post-redirect-get, Back harmless), a too-late approval (plain
message and Re-open), and the decided view; jargon gone, phone gate first screen, tap
targets, contrast from the CSS, and the PDF's text. Screenshots go to docs/screens/."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from quoteflow.approvals import draft_quote
from quoteflow.quote import QuoteRequest
from quoteflow.settings import get_settings
from tests.fixtures.demo import DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR, ON_HOLD_CUSTOMER_ID
from tests.fixtures.previews import napkins_line, small_preview, stage_gate
from tests.test_page_process import PASSWORD, page_process  # noqa: F401  (a fixture)
from tests.test_page_words import jargon_in

CHROMIUM = Path("/usr/bin/chromium")
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
pytestmark = [
    pytest.mark.stack,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
ROOT = Path(__file__).resolve().parent.parent
SCREENS = ROOT / "docs" / "screens"
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
JARGON = (
    "Proposed actions",
    "customer-quote run",
    "deployment",
    "pricing_master",
    "outbound_email_log",
    "spec_items",
    "quote_draft",
    "flow run",
    "not waiting for a decision",
    "UTC",
)
TEMPLATES = ROOT / "quoteflow" / "approval_page" / "templates"


def shot(page, name: str, size: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}-{size}.png"), full_page=True)


def fits(page) -> None:
    """The page never scrolls sideways on the phone."""
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
        " > 391).map(e => e.tagName + '.' + e.className + ' ' + e.getBoundingClientRect().right)"
        ".slice(0, 6)"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, (page.url, wide)


def no_jargon(page) -> None:
    """No jargon in what the page shows, leaving out the parts marked ``tech`` for
    whoever looks after quoteflow (closed Details of ids, the contract's reference)."""
    text = page.evaluate(
        """() => { const b = document.body.cloneNode(true);
            b.querySelectorAll('.tech, script, style').forEach(e => e.remove());
            return b.innerText; }"""
    )
    for word in JARGON:
        assert word not in text, (page.url, word)
    assert not jargon_in(text), (page.url, jargon_in(text))


def no_jargon_in_mail(messages) -> None:
    """Subjects and bodies of the notices and customer mail, links left out."""
    assert messages
    for m in messages:
        body = m.get_body(("plain",)).get_content() if m.is_multipart() else m.get_content()
        text = re.sub(r"https?://\S+", "", f"{m['Subject']}\n{body}")
        for word in JARGON:
            assert word not in text, (m["Subject"], word)
        assert not jargon_in(text), (m["Subject"], jargon_in(text))


def small_targets(page) -> list[str]:
    """Controls under 44x44 CSS px (inline links inside sentences are exempt, as in WCAG)."""
    return page.evaluate(
        """() => [...document.querySelectorAll(
            'button, input:not([type=hidden]), select, textarea, summary, header a, a.button,'
            + ' main > p > a:only-child')]
          .filter(e => e.offsetParent !== null)
          .map(e => [e, e.getBoundingClientRect()])
          .filter(([e, r]) => r.width < 44 || r.height < 44)
          .map(([e, r]) => `${e.tagName}.${e.className} ${Math.round(r.width)}x${Math.round(r.height)}`)"""
    )


def _luminance(hex_color: str) -> float:
    rgb = [int(hex_color.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_focus_ring_and_input_borders_contrast_from_the_css():
    css = (TEMPLATES / "base.html").read_text()
    ring = re.search(r"focus-visible \{\s*outline: 3px solid (#[0-9a-f]{6})", css).group(1)
    borders = set(re.findall(r"border: 1px solid (#[0-9a-f]{6})", css))
    for name in ("new_quote.html", "_quote_badges.html"):
        borders |= set(
            re.findall(r"border: 1px solid (#[0-9a-f]{6})", (TEMPLATES / name).read_text())
        )
    figures = {"focus ring": contrast(ring, "#ffffff"), "ring on page": contrast(ring, "#f5f7fa")}
    figures.update({f"input border {b}": contrast(b, "#ffffff") for b in borders})
    print("contrast:", {k: round(v, 2) for k, v in figures.items()})
    assert all(v >= 3 for v in figures.values()), figures


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_mikes_day(page_process, smtp_messages, size):  # noqa: F811
    from flows.customer_quote import customer_quote

    url = page_process
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport=SIZES[size], has_touch=size == "phone")
        try:
            # Login from the fresh process (the key is read from its block in the loop).
            page.goto(f"{url}/")
            page.wait_for_url(re.compile(r"/login\?next="))
            page.fill("#password", PASSWORD)
            page.click("#login button")
            page.wait_for_url(f"{url}/")
            assert page.locator("h1").inner_text() == "Your inbox"

            # The on-hold draft: warned before approving, the outcome after.
            draft = draft_quote(
                QuoteRequest(
                    customer_id=ON_HOLD_CUSTOMER_ID,
                    item_codes=list(DEMO_ITEM_CODES[:2]),
                    school_year=DEMO_SCHOOL_YEAR,
                )
            )
            page.goto(f"{url}/actions/{draft.id}")
            assert "is on hold" in page.locator("#draft-blockers").inner_text()
            no_jargon(page)
            page.click("button.approve")
            page.wait_for_url(re.compile(r"done=approved"))
            customer_quote(proposed_action_id=draft.id, return_state=True)
            page.reload()
            assert "What you can do" in page.locator("#draft-end").inner_text()
            shot(page, "draft-blocked", size)
            no_jargon(page)
            mike = get_settings().approver_email
            no_jargon_in_mail(
                [m for m in smtp_messages.wait_for(1, to=mike) if "Not quoted" in m["Subject"]]
            )
            page.goto(f"{url}/")
            assert page.locator(f'#attention a[href="/actions/{draft.id}"]').count() == 1
            shot(page, "inbox", size)
            no_jargon(page)

            # A gate: the first screen holds the summary and the action bar.
            gate = stage_gate(
                small_preview(
                    napkins_line(), subtotal=Decimal("41.50"), margin_pct=Decimal("27.71")
                ),
                ref="day",
            )
            page.goto(f"{url}/actions/{gate.id}")
            height = SIZES[size]["height"]
            summary = page.locator("#summary").bounding_box()
            bar = page.locator("#actionbar").bounding_box()
            assert summary and summary["y"] + summary["height"] <= height, summary
            assert bar and bar["y"] + bar["height"] <= height, bar
            print(
                f"{size} gate first screen: summary ends {summary['y'] + summary['height']:.0f}"
                f" px, action bar {bar['y']:.0f}-{bar['y'] + bar['height']:.0f} px of {height}"
            )
            if size == "phone":
                fits(page)
                small = small_targets(page)
                assert not small, small
            shot(page, "gate", size)
            no_jargon(page)

            # A changed price: the review is a GET (PRG); Back returns harmlessly.
            page.fill('input[name="price.FS-1001"]', "44.00")
            page.click("button.approve")
            page.wait_for_url(re.compile(rf"/actions/{gate.id}/review\?"))
            assert "$44.00" in page.locator("#review").inner_text()
            shot(page, "review", size)
            no_jargon(page)
            if size == "phone":
                assert not small_targets(page)
            page.go_back()
            page.wait_for_url(f"{url}/actions/{gate.id}")
            page.reload()  # a GET: no "Confirm Form Resubmission"
            assert page.locator("#summary").is_visible()

            # Too late: the countdown closes the form live; the POST says so plainly.
            late = stage_gate(
                small_preview(napkins_line()), ref="late", expires_in=timedelta(seconds=3)
            )
            page.goto(f"{url}/actions/{late.id}")
            page.locator("#window-closed-live").wait_for(state="visible", timeout=8000)
            assert page.locator("button.approve").is_disabled()
            page.evaluate("document.querySelector('button.approve').disabled = false")
            page.click("button.approve")
            assert "Too late" in page.locator("#error").inner_text()
            assert page.locator("#reopen").is_visible()
            assert (
                page.locator("#summary [data-status], dd [data-status]").first.inner_text()
                == "expired"
            )
            shot(page, "too-late", size)
            no_jargon(page)
        finally:
            browser.close()


def login(page, url: str) -> None:
    page.goto(f"{url}/")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.fill("#password", PASSWORD)
    page.click("#login button")
    page.wait_for_url(f"{url}/")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_email_is_sent_and_the_customer_answer_is_confirmed(
    page_process,  # noqa: F811
    smtp_messages,
    size,
):
    from flows.send_quote_email import send_quote_email
    from tests.test_send_quote_email import make_quote, stage_email

    url = page_process
    preview, key = make_quote()
    email = stage_email(preview, key)
    declined_preview, _ = make_quote(with_pdf=False)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport=SIZES[size], has_touch=size == "phone")
        try:
            login(page, url)
            inbox = page.locator("#pending").inner_text()
            assert f"Quote {preview.quote_id}" in inbox  # the email sits under its quote
            assert "email to" in inbox

            # The email draft: Send / Don't send, the PDF the customer gets.
            page.goto(f"{url}/actions/{email.id}")
            assert page.locator("button.approve").inner_text() == "Send"
            assert page.locator("button.reject").inner_text() == "Don't send"
            pdf = page.request.get(url + page.locator("#pdf-preview").get_attribute("href"))
            assert pdf.ok and pdf.body().startswith(b"%PDF")
            if size == "phone":
                fits(page)
                assert not small_targets(page)
            shot(page, "email-draft", size)
            no_jargon(page)
            page.click("button.approve")
            page.wait_for_url(re.compile(r"done=approved"))
            assert "Sending" in page.locator("#done").inner_text()
            send_quote_email(proposed_action_id=email.id)
            page.reload()
            sent = page.locator("#sent-at").inner_text()
            assert re.search(r"Sent at \w{3} \w{3} \d+, \d{4}, \d+:\d\d [AP]M \w+ to ", sent)
            shot(page, "email-sent", size)
            no_jargon(page)

            # The customer's answer: one more look before it counts.
            for quote_id, verb, done in (
                (preview.quote_id, "accepted", "Quote accepted."),
                (declined_preview.quote_id, "declined", "Quote declined."),
            ):
                page.goto(f"{url}/quotes/{quote_id}")
                page.click(f"text=Mark {verb}")
                confirm = page.locator("#confirm")
                assert f"Mark this quote {verb}?" in confirm.inner_text()
                # the declined quote's email was never sent: said before it counts
                assert page.locator("#never-sent").count() == (verb == "declined")
                if size == "phone":
                    assert not small_targets(page)
                shot(page, f"quote-confirm-{verb}", size)
                confirm.locator("button[type=submit]").first.click()
                page.wait_for_url(re.compile(rf"/quotes/{quote_id}\?done="))
                shown = page.locator("main").inner_text()
                assert done in shown
                assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", shown), shown  # one date format
                no_jargon(page)

            # The contract: how the runs here ran, the local stand-ins, nothing clipped.
            stage_gate(small_preview(napkins_line()), ref="ran", expires_in=timedelta(minutes=3))
            page.goto(f"{url}/contract")
            assert "local stand-in" in page.locator("#services").inner_text()
            ran = page.locator("#ran-with").inner_text()
            assert "Approval window\n3 min (this page: 60 min)" in ran, ran
            if size == "phone":
                fits(page)
            shot(page, "contract", size)
            no_jargon(page)
            smtp_messages.fence()
            no_jargon_in_mail(smtp_messages.new())  # the customer's mail and Mike's notices
        finally:
            browser.close()


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler's pdftotext")
def test_the_pdf_is_a_customer_document(tmp_path):
    from quoteflow.pdf.render import render_quote_pdf
    from tests.test_pdf import SUPPLIER
    from tests.test_pdf import _line as pdf_line
    from tests.test_pdf import _preview as pdf_preview

    preview = pdf_preview(
        [
            pdf_line(1, "JS-1001", "41.50", 1),
            pdf_line(2, "FS-9999", None, 1, resolved=False, description=""),
            pdf_line(3, "JS-2002", "18.75", 1, source="override"),
        ]
    )
    pdf = tmp_path / "quote.pdf"
    pdf.write_bytes(
        render_quote_pdf(preview, company_name="Northwind Janitorial Supply", supplier=SUPPLIER)
    )
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True
    ).stdout
    for internal in (
        "UTC",
        "pricing_master",
        "no_pricing",
        "unresolved",
        "override",
        "2026-06-03",
        "FS-9999",
        "Qty",
    ):
        assert internal not in text, internal
    assert "Wed Jun 3, 2026" in text
    for size, width in (("desktop", 1280), ("phone", 390)):
        out = SCREENS / f"pdf-{size}"
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-f",
                "1",
                "-l",
                "1",
                "-singlefile",
                "-scale-to-x",
                str(width),
                "-scale-to-y",
                "-1",
                str(pdf),
                str(out),
            ],
            check=True,
        )
        assert (SCREENS / f"pdf-{size}.png").stat().st_size > 1000
