"""Mike's approval page against the real database: the list, each kind of action,
deciding from the form, and what the form refuses. Decisions go through the in-memory
Prefect gateway, except in the tests that name the ``stack`` fixture (a real paused run
resumed, the page served by the CLI)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from quoteflow import prefect_api
from quoteflow.approval_page import create_app, time_filters
from quoteflow.approvals import draft_quote, get_action
from quoteflow.cli.page import app as page_cli
from quoteflow.db import get_engine
from quoteflow.mail import EmailDraft
from quoteflow.models import ActionView, ProposedAction, Quote, QuoteLine
from quoteflow.quote import QuoteLineView, QuotePreview, QuoteRequest, QuoteWarning, payload_hash
from quoteflow.settings import get_settings
from tests.fixtures.demo import DEMO_CUSTOMER_ID, DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR, demo_request
from tests.fixtures.fake_prefect import FakePrefect
from tests.fixtures.flow_runner import paused_quote
from tests.fixtures.page import (
    KEY,
    free_port,
    hash_of,
    link_for,
    staged_email,
    staged_gate,
    token_of,
)
from tests.fixtures.previews import small_preview, stage_gate

with warnings.catch_warnings():
    # Starlette 1.x warns that its TestClient will move from httpx to httpx2: not ours.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient


@pytest.fixture
def page_env(request, seeded_db, monkeypatch):
    """The real database; paused runs poll fast. A test that names the ``stack`` fixture
    gets the real stack (NetSuite starting healthy); the others the in-memory Prefect
    gateway."""
    monkeypatch.setenv("QUOTEFLOW_PAUSE_POLL_SECONDS", "0.2")
    get_settings.cache_clear()
    if "stack" in request.fixturenames:
        stack = request.getfixturevalue("stack")
        httpx.post(f"{stack.netsuite.base_url}/_fake/reset", json={}, timeout=10)
        yield
    else:
        with prefect_api.use(FakePrefect()):
            yield
    get_settings.cache_clear()


@pytest.fixture
def client(page_env) -> Iterator[TestClient]:
    with TestClient(create_app(), base_url="http://127.0.0.1", follow_redirects=False) as c:
        yield c


def form_token(client: TestClient, action_id: int) -> str:
    page = client.get(f"/actions/{action_id}")
    assert page.status_code == 200
    return token_of(page.text)


def row(action_id: int) -> ProposedAction:
    with Session(get_engine()) as s:
        found = s.get(ProposedAction, action_id)
        assert found is not None
        return found


def a_draft(items: tuple[str, ...] = DEMO_ITEM_CODES) -> ActionView:
    return draft_quote(
        QuoteRequest(
            customer_id=DEMO_CUSTOMER_ID, item_codes=list(items), school_year=DEMO_SCHOOL_YEAR
        )
    )


def test_list_shows_pending_first_then_decided(client):
    older, newer = a_draft(), a_draft(DEMO_ITEM_CODES[:1])
    email = staged_email()
    token = form_token(client, email.id)
    done = client.post(
        f"/actions/{email.id}/reject", data={"csrf_token": token, "expect_hash": email.payload_hash}
    )
    assert done.status_code == 303

    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    pending_at, decided_at = html.index('id="pending"'), html.index('id="decided"')
    newer_at = html.index(f'href="/actions/{newer.id}"')
    older_at = html.index(f'href="/actions/{older.id}"')
    email_at = html.index(f'href="/actions/{email.id}"')
    assert pending_at < newer_at < older_at < decided_at < email_at
    assert (
        f"Cedar Ridge Unified School District: new quote, 1 item(s), school year {DEMO_SCHOOL_YEAR}"
        in html
    )
    local = time_filters.local(newer.created_at, get_settings().local_timezone)
    assert local in html and f"Times are {get_settings().local_timezone}" in html
    assert 'http-equiv="refresh"' in html  # the list refreshes itself; pages with forms never
    assert 'http-equiv="refresh"' not in client.get(f"/actions/{newer.id}").text
    decided_part = html[decided_at:]
    assert "Customer email" in decided_part and 'data-status="rejected"' in decided_part


def test_quote_draft_page_shows_the_request(client):
    draft = a_draft()
    page = client.get(f"/actions/{draft.id}")
    assert page.status_code == 200
    html = page.text
    assert f"<strong>Cedar Ridge Unified School District</strong> ({DEMO_CUSTOMER_ID})" in html
    assert DEMO_SCHOOL_YEAR in html
    for code in DEMO_ITEM_CODES:
        assert f"<code>{code}</code>" in html
    assert (
        "<code>FS-1001</code> Chicken Breast Fillet" in html
    )  # what the item is, not only its code
    assert draft.entity_ref in html.split('id="details"', 1)[1]  # technical ids: in Details
    assert f'formaction="/actions/{draft.id}/approve"' in html
    assert f'formaction="/actions/{draft.id}/reject"' in html
    assert 'data-status="pending"' in html
    assert client.get("/actions/999999999").status_code == 404


@pytest.mark.usefixtures("stack")
def test_approving_a_paused_gate_with_a_price_resumes_the_run(client):
    handle, run_id, gate = paused_quote(demo_request())

    page = client.get(f"/actions/{gate.id}")
    assert page.status_code == 200
    target, kept = DEMO_ITEM_CODES[0], DEMO_ITEM_CODES[1]
    for code in DEMO_ITEM_CODES:
        assert f'name="price.{code}"' in page.text
    form = {
        "csrf_token": token_of(page.text),
        "expect_hash": hash_of(page.text),
        "notes": "agreed with the district",
        f"price.{target}": "77.70",
        f"price.{kept}": "",  # empty: keep the quoted price
    }
    # A changed price goes through a review step: recomputed margin and subtotal first.
    posted = client.post(f"/actions/{gate.id}/approve", data=form)
    assert posted.status_code == 303  # post-redirect-get: the review is a GET
    assert posted.headers["location"].startswith(f"/actions/{gate.id}/review?")
    assert "csrf_token" not in posted.headers["location"]
    review = client.get(posted.headers["location"])
    assert review.status_code == 200 and 'id="review"' in review.text
    assert "$77.70" in review.text and "24.84%" in review.text  # (77.70 - 58.40) / 77.70
    assert "Confirm approval" in review.text and row(gate.id).status == "pending"
    assert "agreed with the district" in review.text  # the notes typed are kept
    confirm = re.search(r'name="confirm" value="([^"]+)"', review.text)
    assert confirm
    # Changing a price after the review needs a new review, not the old confirmation.
    again = client.post(
        f"/actions/{gate.id}/approve",
        data={**form, f"price.{target}": "77.75", "confirm": confirm.group(1)},
    )
    assert again.status_code == 303 and "price.FS-" in again.headers["location"]
    assert 'id="review"' in client.get(again.headers["location"]).text
    assert row(gate.id).status == "pending"
    done = client.post(f"/actions/{gate.id}/approve", data={**form, "confirm": confirm.group(1)})
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/actions/{gate.id}?done=approved"
    # The same POST again (a resubmitted form) reads as the success it was.
    repeated = client.post(
        f"/actions/{gate.id}/approve", data={**form, "confirm": confirm.group(1)}
    )
    assert repeated.headers["location"] == f"/actions/{gate.id}?done=approved"
    # Back to the review after deciding shows what was decided, never a new form.
    assert client.get(posted.headers["location"]).headers["location"] == f"/actions/{gate.id}"
    shown = client.get(done.headers["location"])
    assert 'data-status="approved"' in shown.text and "agreed with the district" in shown.text
    assert "The quote is being made with your decision" in shown.text

    state = handle.join()
    assert state.is_completed(), state.message
    with Session(get_engine()) as s:
        quote = s.exec(select(Quote).where(Quote.flow_run_id == run_id)).one()
        lines = {
            line.item_code: line
            for line in s.exec(select(QuoteLine).where(QuoteLine.quote_id == quote.id))
        }
    assert lines[target].case_price == Decimal("77.70")
    assert lines[target].price_source == "override"
    assert lines[kept].price_source == "pricing_master"
    decided = row(gate.id)
    assert decided.status == "approved" and decided.decision_notes == "agreed with the district"

    again = client.post(f"/actions/{gate.id}/approve", data={**form, "notes": "twice"})
    assert again.status_code == 409
    assert "already approved" in again.text
    after = row(gate.id)
    assert after.decision_notes == "agreed with the district"
    assert after.decided_at == decided.decided_at


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        ("-5", "without a sign"),
        ("abc", "is not a number"),
        ("1.005", "more than 2 decimal places"),
        ("1e3", "uses an exponent"),
        ("nan", "not a finite number"),
        ("inf", "not a finite number"),
        ("14,90", "decimal comma"),
        ("1,000.00", "thousands separator"),
    ],
)
def test_a_bad_price_is_refused_naming_the_item(client, price, expected):
    gate = staged_gate()
    token = form_token(client, gate.id)
    refused = client.post(
        f"/actions/{gate.id}/approve",
        data={
            "csrf_token": token,
            "expect_hash": gate.payload_hash,
            "notes": "kept after a refusal",
            "price.FS-1001": price,
        },
    )
    assert refused.status_code == 400
    assert "approved price for FS-1001: " in refused.text and expected in refused.text
    assert f'aria-label="Approved price for FS-1001" value="{price}"' in refused.text
    assert ">kept after a refusal</textarea>" in refused.text
    assert row(gate.id).status == "pending"


def test_a_price_for_a_line_that_cannot_be_priced_is_refused(client):
    gate = staged_gate()
    token = form_token(client, gate.id)
    assert 'name="price.ZZ-9999"' not in client.get(f"/actions/{gate.id}").text
    for code in ("ZZ-9999", "NOT-ON-QUOTE"):
        refused = client.post(
            f"/actions/{gate.id}/approve",
            data={"csrf_token": token, "expect_hash": gate.payload_hash, f"price.{code}": "10"},
        )
        assert refused.status_code == 400
        assert f"approved price for {code}: not a priceable line" in refused.text
    assert row(gate.id).status == "pending"


def test_a_decision_without_the_form_token_is_forbidden(client):
    email = staged_email()
    for path, data in (
        ("approve", {"notes": "no token"}),
        ("reject", {"csrf_token": "guessed", "notes": "wrong token"}),
    ):
        refused = client.post(f"/actions/{email.id}/{path}", data=data)
        assert refused.status_code == 403
        assert "form token" in refused.text
    unchanged = row(email.id)
    assert unchanged.status == "pending" and unchanged.decision_notes is None
    # A token is per browser session: another browser's token is not this one's.
    with TestClient(client.app, base_url="http://127.0.0.1") as other:
        other_token = form_token(other, email.id)
    assert other_token != form_token(client, email.id)
    refused = client.post(f"/actions/{email.id}/reject", data={"csrf_token": other_token})
    assert refused.status_code == 403 and row(email.id).status == "pending"


def test_rejecting_an_email_records_the_rejection(client):
    email = staged_email()
    page = client.get(f"/actions/{email.id}")
    assert page.status_code == 200
    draft = EmailDraft.model_validate(email.payload)
    assert "Dana Buyer &lt;buyer@example.org&gt;" in page.text
    assert draft.subject in page.text and f"<code>{draft.pdf_key}</code>" in page.text
    assert "  - FS-1001 Napkins: $41.50 per case" in page.text

    done = client.post(
        f"/actions/{email.id}/reject",
        data={
            "csrf_token": token_of(page.text),
            "expect_hash": hash_of(page.text),
            "notes": "wrong contact",
            "price.FS-1001": "",
        },
    )
    assert done.status_code == 303
    rejected = row(email.id)
    assert rejected.status == "rejected" and rejected.decision_notes == "wrong contact"
    assert rejected.decided_at is not None and rejected.approved_payload_hash is None
    shown = client.get(done.headers["location"])
    assert 'data-status="not to send"' in shown.text and "wrong contact" in shown.text
    assert "Not sent." in shown.text and "you chose not to send it" in shown.text
    assert 'formaction="/actions/' not in shown.text  # decided: no form any more

    again = client.post(
        f"/actions/{email.id}/approve",
        data={"csrf_token": token_of(page.text), "expect_hash": hash_of(page.text)},
    )
    assert again.status_code == 409 and "already rejected by mike at" in again.text
    assert row(email.id).status == "rejected"


def test_customer_names_are_escaped(client):
    gate = staged_gate(customer_name="<script>alert('x')</script> ISD")
    for path in ("/", f"/actions/{gate.id}"):
        html = client.get(path).text
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; ISD" in html


def test_foreign_host_names_are_refused(page_env):
    with TestClient(create_app(), base_url="http://rebound.example.com") as foreign:
        assert foreign.get("/").status_code == 421


@pytest.mark.usefixtures("stack")
def test_cli_serves_on_loopback_only(page_env):
    refused = CliRunner().invoke(page_cli, ["serve", "--host", "0.0.0.0"])
    assert refused.exit_code == 2 and "loopback" in refused.output

    draft = a_draft()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from quoteflow.cli.page import app; app()", "serve"]
        + ["--port", str(port)],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "the page did not start"
                time.sleep(0.2)
        assert page.status_code == 200 and f'href="/actions/{draft.id}"' in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert get_action(draft.id).status == "pending"


def test_a_decision_on_a_page_older_than_the_payload_is_refused(client):
    gate = staged_gate()
    page = client.get(f"/actions/{gate.id}")
    restaged = {**gate.payload, "workflow_type": "customer_quote", "note": "changed"}
    with Session(get_engine()) as s:
        found = s.get(ProposedAction, gate.id)  # re-staged since the page was shown
        found.payload = restaged
        found.payload_hash = payload_hash(restaged)
        s.add(found)
        s.commit()
    refused = client.post(
        f"/actions/{gate.id}/reject",
        data={"csrf_token": token_of(page.text), "expect_hash": hash_of(page.text)},
    )
    assert refused.status_code == 409 and "not what you were shown" in refused.text
    assert row(gate.id).status == "pending"


# ---------------------------------------------------------------- signed links


@pytest.fixture
def link_client(page_env) -> Iterator[TestClient]:
    with TestClient(create_app(link_key=KEY), base_url="http://127.0.0.1") as c:
        yield c


def test_opening_a_link_shows_the_action_and_decides_nothing(link_client):
    email = staged_email()
    link = link_for(email)
    for _ in range(2):  # a mail scanner, then Mike
        page = link_client.get(link)
        assert page.status_code == 200
        assert email.payload["subject"] in page.text
        assert f'formaction="{link}"' in page.text and 'value="approve"' in page.text
        assert 'name="csrf_token"' not in page.text  # the link is the credential
    assert row(email.id).status == "pending"


def test_a_link_decides_once_then_answers_gone(link_client):
    email = staged_email()
    link = link_for(email)
    seen = hash_of(link_client.get(link).text)
    done = link_client.post(link, data={"decision": "approve", "notes": "go", "expect_hash": seen})
    assert done.status_code == 200, done.text
    assert "<strong>Sending.</strong>" in done.text  # an approved email is on its way
    assert re.search(r'data-status="(sending|sent)"', done.text)
    decided = row(email.id)
    assert decided.status == "approved" and decided.decision_notes == "go"
    assert decided.approved_payload_hash == payload_hash(email.payload)

    for again in (link_client.get(link), link_client.post(link, data={"decision": "reject"})):
        assert again.status_code == 410
        assert re.search(
            r"already approved by mike on \w{3} \w{3} \d+, \d{4}, \d+:\d\d [AP]M", again.text
        )
    assert row(email.id).status == "approved"


def test_expired_tampered_and_foreign_links_are_refused(link_client):
    email = staged_email()
    expired = link_for(email, expires_in=timedelta(seconds=-1))
    assert link_client.get(expired).status_code == 410
    assert link_client.post(expired, data={"decision": "approve"}).status_code == 410
    good = link_for(email)
    tampered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    foreign = link_for(email, key="another-key-" + "y" * 20)
    for bad in (tampered, foreign):
        assert link_client.get(bad).status_code == 403
        assert link_client.post(bad, data={"decision": "approve"}).status_code == 403
    bogus = link_client.post(good, data={"decision": "maybe", "expect_hash": "0" * 64})
    assert bogus.status_code == 400 and "not approve or reject" in bogus.text
    assert row(email.id).status == "pending"


def test_a_link_to_a_changed_action_shows_the_new_payload_and_cannot_decide(link_client):
    gate = staged_gate()
    link = link_for(gate)
    with Session(get_engine()) as s:  # the price is lowered after the message went out
        stored = s.get(ProposedAction, gate.id)
        assert stored is not None
        preview = dict(stored.payload["preview"])
        preview["lines"] = [dict(preview["lines"][0], case_price="12.00"), preview["lines"][1]]
        stored.payload = {**stored.payload, "preview": preview}
        s.add(stored)
        s.commit()
    page = link_client.get(link)
    assert page.status_code == 200
    assert 'id="locked"' in page.text and "$12.00" in page.text
    assert 'value="approve"' not in page.text
    refused = link_client.post(link, data={"decision": "approve", "expect_hash": gate.payload_hash})
    assert refused.status_code == 409
    assert row(gate.id).status == "pending"


# ---------------------------------------------------------------- re-opening


def test_an_expired_quote_is_reopened_once_as_the_same_request(client):
    from quoteflow.approvals import expire, reopen

    gate = staged_gate()
    preview = QuotePreview.model_validate(gate.payload["preview"])
    page = client.get(f"/actions/{gate.id}")
    assert 'id="reopen"' not in page.text  # pending: nothing to re-open
    refused = client.post(f"/actions/{gate.id}/reopen", data={"csrf_token": token_of(page.text)})
    assert refused.status_code == 409 and "only an expired or rejected quote" in refused.text

    expire(gate.id)
    page = client.get(f"/actions/{gate.id}")
    assert 'id="reopen"' in page.text
    done = client.post(f"/actions/{gate.id}/reopen", data={"csrf_token": token_of(page.text)})
    assert done.status_code == 303
    draft_id = int(done.headers["location"].split("/")[2].split("?")[0])
    draft = get_action(draft_id)
    assert draft.action_type == "quote_draft" and draft.status == "approved"
    request = QuoteRequest.model_validate(draft.payload["request"])
    assert request.quote_id == preview.quote_id
    assert request.item_codes == [line.item_code for line in preview.lines]
    assert (request.customer_id, request.school_year) == (preview.customer_id, preview.school_year)
    assert reopen(gate.id).id == draft_id  # twice: the same draft, no second run


# ---------------------------------------------------------------- login beyond loopback


def test_password_hashes_sessions_and_the_limiter() -> None:
    from quoteflow.approval_page.auth import (
        LoginLimiter,
        hash_password,
        make_session,
        read_session,
        verify_password,
    )

    stored = hash_password("correct horse battery")
    assert stored.startswith("scrypt$") and "correct" not in stored
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterY", stored)
    assert not verify_password("anything", "not-a-hash")
    with pytest.raises(ValueError, match="at least 10"):
        hash_password("short")
    cookie = make_session(KEY, "mike")
    assert read_session(KEY, cookie, max_age_seconds=60) == "mike"
    assert read_session("other-key-" + "z" * 20, cookie, max_age_seconds=60) is None
    assert read_session(KEY, cookie + "x", max_age_seconds=60) is None
    limiter = LoginLimiter(attempts=2, window_seconds=60)
    limiter.failed("ip", now=0)
    assert limiter.retry_after("ip", now=1) == 0
    limiter.failed("ip", now=1)
    assert limiter.retry_after("ip", now=2) == 59
    assert limiter.retry_after("ip", now=59.5) == 1 and limiter.retry_after("ip", now=60) == 0


def test_beyond_loopback_every_page_but_links_needs_the_password(page_env):
    from quoteflow.approval_page.auth import hash_password

    app = create_app(
        link_key=KEY,
        password_hash=hash_password("correct horse battery"),
        allowed_hosts={"quotes.example"},
        secure_cookies=True,
    )
    email = staged_email()
    with TestClient(app, base_url="https://quotes.example", follow_redirects=False) as c:
        first = c.get(f"/actions/{email.id}")
        assert first.status_code == 303
        assert first.headers["location"] == f"/login?next=/actions/{email.id}"
        assert c.post(f"/actions/{email.id}/reject", data={}).status_code == 401
        assert c.get(link_for(email)).status_code == 200  # a signed link needs no login

        form = c.get("/login")
        token = token_of(form.text)
        wrong = {"csrf_token": token, "password": "guess", "next": f"/actions/{email.id}"}
        assert c.post("/login", data=wrong).status_code == 401
        right = dict(wrong, password="correct horse battery")
        ok = c.post("/login", data=right)
        assert ok.status_code == 303 and ok.headers["location"] == f"/actions/{email.id}"
        cookie = ok.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie
        assert c.get(f"/actions/{email.id}").status_code == 200
        offsite = c.post("/login", data=dict(right, next="//evil.example/"))
        assert offsite.headers["location"] == "/"

        for _ in range(5):
            assert c.post("/login", data=wrong).status_code == 401
        limited = c.post("/login", data=right)  # even the right password waits now
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert row(email.id).status == "pending"


def drafts_count() -> int:
    with Session(get_engine()) as s:
        rows = s.exec(select(ProposedAction).where(ProposedAction.action_type == "quote_draft"))
        return len(rows.all())


def new_quote_form(client: TestClient, **fields: object) -> dict[str, object]:
    page = client.get("/new-quote")
    assert page.status_code == 200
    form_id = re.search(r'name="form_id" value="([^"]+)"', page.text)
    assert form_id
    return {"csrf_token": token_of(page.text), "form_id": form_id.group(1), **fields}


def test_new_quote_form_stages_and_approves_a_draft(client):
    page = client.get("/new-quote")
    assert '<option value="Cedar Ridge Unified School District (1107)">' in page.text
    assert f'<option value="{DEMO_SCHOOL_YEAR}">' in page.text
    assert "Cheese Pizza, Whole Grain Crust" in page.text  # items by description
    # "Show prices": the chosen customer's prices for the year; nothing staged.
    before = drafts_count()
    priced = client.post(
        "/new-quote",
        data=new_quote_form(
            client,
            customer="cedar ridge",
            school_year=DEMO_SCHOOL_YEAR,
            item=["FS-1004"],
            step="prices",
        ),
    )
    assert priced.status_code == 200 and drafts_count() == before
    assert "prices for Cedar Ridge Unified School District, 2026-27" in priced.text
    assert re.search(r'value="FS-1004" checked>', priced.text)  # the pick survives
    assert re.search(r"FS-1004</code>[^$]*\$\d", priced.text)

    form = new_quote_form(
        client,
        customer="Cedar Ridge Unified School District (1107)",
        school_year=DEMO_SCHOOL_YEAR,
        item=["FS-1001", "FS-1004"],
        step="create",
    )
    done = client.post("/new-quote", data=form)
    assert done.status_code == 303, done.text
    draft_id = int(re.search(r"/actions/(\d+)", done.headers["location"]).group(1))
    draft = get_action(draft_id)
    assert draft.action_type == "quote_draft" and draft.status == "approved"
    assert draft.approver == get_settings().approvers[0]
    assert draft.payload["request"] == {
        **draft.payload["request"],
        "customer_id": DEMO_CUSTOMER_ID,
        "item_codes": ["FS-1001", "FS-1004"],
        "school_year": DEMO_SCHOOL_YEAR,
        "include_pdf": False,  # the PDF box was not ticked
    }
    # A double tap posts the same form again: the same draft, nothing new staged.
    again = client.post("/new-quote", data=form)
    assert again.headers["location"] == done.headers["location"]
    assert drafts_count() == before + 1
    # Back, another item, create: a new request is a new draft.
    other = client.post("/new-quote", data={**form, "item": ["FS-1002"]})
    assert other.status_code == 303 and other.headers["location"] != done.headers["location"]
    assert drafts_count() == before + 2
    shown = client.get(done.headers["location"])
    assert "Approved." in shown.text and "Cedar Ridge Unified School District" in shown.text


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"customer": "Nowhere ISD"}, "Customer: no customer is called “Nowhere ISD”"),
        ({"customer": "schools"}, "Customer: “schools” matches "),  # several, named
        (
            {"customer": "1131"},
            "Customer: Silver Lake Public Schools (1131) is on hold in NetSuite",
        ),
        ({"school_year": "2026-28"}, "School year: “2026-28”: school year must span consecutive"),
        (
            {"school_year": "next year"},
            "School year: “next year” is not a school year: write it like 2026-27",
        ),
        ({"item": []}, "Items: none picked; pick at least one item"),
        ({"item": ["FS 1001"]}, "Items: “FS 1001” is not an item code"),
    ],
)
def test_new_quote_form_refuses_bad_input_naming_the_field(client, fields, expected):
    good = {"customer": DEMO_CUSTOMER_ID, "school_year": DEMO_SCHOOL_YEAR, "item": ["FS-1001"]}
    before = drafts_count()
    refused = client.post(
        "/new-quote", data=new_quote_form(client, **{**good, **fields}, step="create")
    )
    assert refused.status_code == 400
    message = re.search(r'id="form-error"><strong>Not created:</strong> (.*?)</div>', refused.text)
    assert message and expected in message.group(1).replace("&#39;", "'"), refused.text
    assert "String should match" not in refused.text
    assert 'aria-invalid="true"' in refused.text or 'class="card items invalid"' in refused.text
    assert drafts_count() == before  # nothing staged


def test_new_quote_form_needs_the_form_token(client):
    before = drafts_count()
    forged = client.post(
        "/new-quote",
        data={
            "customer": DEMO_CUSTOMER_ID,
            "school_year": DEMO_SCHOOL_YEAR,
            "item": "FS-1001",
            "step": "create",
            "csrf_token": "forged",
        },
    )
    assert forged.status_code == 403 and drafts_count() == before


def test_gate_warnings_read_as_sentences_with_the_floor(client):
    preview = small_preview(
        QuoteLineView(
            line_no=1,
            item_code="FS-1004",
            description="Cheese Pizza",
            case_price=Decimal("75.59"),
            cost_basis=Decimal("66.90"),
            margin_pct=Decimal("11.50"),
            flags=["below_margin_floor"],
        ),
        customer_name="Cedar Ridge Unified School District",
        warnings=[
            QuoteWarning(
                check="margin_floor",
                message="1 line(s) under the 15% margin floor",
                item_codes=["FS-1004"],
            )
        ],
        open_quote_ids=["Q-OPEN-1"],
        subtotal=Decimal("75.59"),
    )
    gate = stage_gate(preview, ref="page", expires_in=timedelta(minutes=42, seconds=30))
    html = client.get(f"/actions/{gate.id}").text
    floor = f"{get_settings().margin_floor_pct:g}"
    assert f"FS-1004 (Cheese Pizza) would earn 11.5%, under your {floor}% floor." in html
    assert "$66.90" in html and "$75.59" in html  # money columns carry "$"
    assert "expires in 42 min" in html
    assert '<a href="/quotes/Q-OPEN-1">Q-OPEN-1</a>' in html
    assert gate.payload_hash in html.split('id="details"', 1)[1]  # behind "Details"
