"""A quote's life after approval, through the real stack (database, Prefect, fake NetSuite):
proposed pricing applied on acceptance exactly once, decline and expiry closing proposals,
racing decisions, housekeeping expiry, a revision marking the old NetSuite estimate
superseded, and the contract page generated from the code."""

from __future__ import annotations

import contextvars
import re
import threading
import warnings
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from blocks.netsuite import NetSuiteCredentials
from flows.customer_quote import customer_quote
from flows.quote_housekeeping import quote_housekeeping
from quoteflow import ledger
from quoteflow.approval_page import create_app
from quoteflow.approvals import gate_entity_ref
from quoteflow.cli.app import app
from quoteflow.db import get_engine
from quoteflow.lifecycle import (
    QuoteAction,
    TransitionRefused,
    event_key,
    refusal,
    transition,
)
from quoteflow.models import (
    Event,
    NsPendingPush,
    PricingMaster,
    ProposedAction,
    ProposedPricing,
    Quote,
    SpecItem,
    utcnow,
)
from quoteflow.netsuite.estimate import EstimateLine, build_estimate_body
from quoteflow.quote import QuotePreview, QuoteRequest
from quoteflow.settings import get_settings
from tasks.context import load_open_quotes
from tests.fixtures.demo import DEMO_CUSTOMER_ID, DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR
from tests.fixtures.demo import demo_request as request
from tests.fixtures.flow_runner import FlowRunHandle

with warnings.catch_warnings():
    # Starlette 1.x warns that its TestClient will move from httpx to httpx2: not ours.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

TARGET = DEMO_ITEM_CODES[0]
SPARE_YEAR = "2031-32"  # no demo pricing: quotes made here never touch the demo prices
cli = CliRunner()


@pytest.fixture
def quote_env(stack, seeded_db, monkeypatch):
    monkeypatch.setenv("QUOTEFLOW_PAUSE_POLL_SECONDS", "0.2")
    get_settings.cache_clear()
    yield stack
    get_settings.cache_clear()


@pytest.fixture
def client(quote_env):
    with TestClient(create_app(), base_url="http://127.0.0.1", follow_redirects=False) as c:
        yield c


def session() -> Session:
    return Session(get_engine(), expire_on_commit=False)


def approved_quote(price: str | None = None, **req) -> tuple[Quote, str]:
    """A customer-quote run approved by Mike (with one price override when given)."""
    handle = FlowRunHandle(customer_quote, request=request(**req))
    handle.wait_paused()
    overrides = [{"item_code": TARGET, "case_price": price}] if price is not None else []
    # The override may raise the margin a lot: confirmed, as Mike would in the form.
    handle.resume(decision="approve", price_overrides=overrides, confirm=bool(overrides))
    state = handle.join()
    assert state.is_completed(), state.message
    with session() as s:
        quote = s.exec(select(Quote).where(Quote.flow_run_id == handle.run_id)).one()
    return quote, handle.run_id


def pricing(item_code: str = TARGET, school_year: str = DEMO_SCHOOL_YEAR) -> PricingMaster | None:
    with session() as s:
        return s.exec(
            select(PricingMaster).where(
                PricingMaster.customer_id == DEMO_CUSTOMER_ID,
                PricingMaster.item_code == item_code,
                PricingMaster.school_year == school_year,
            )
        ).first()


def proposals(quote_id: str) -> list[ProposedPricing]:
    with session() as s:
        return list(s.exec(select(ProposedPricing).where(ProposedPricing.quote_id == quote_id)))


def events(quote_id: str) -> list[Event]:
    keys = [event_key(a, quote_id) for a in QuoteAction]
    with session() as s:
        return list(s.exec(select(Event).where(Event.idempotency_key.in_(keys))))


def insert_quote(quote_id: str, *, valid_days: int, price: str = "12.34") -> None:
    """A proposed quote with one proposed price, written as write_quote writes them."""
    now = utcnow()
    with session() as s:
        s.add(
            Quote(
                id=quote_id,
                customer_id=DEMO_CUSTOMER_ID,
                school_year=SPARE_YEAR,
                lifecycle_status="proposed",
                subtotal=Decimal(price),
                valid_until=(now + timedelta(days=valid_days)).date(),
            )
        )
        s.flush()
        s.add(
            ProposedPricing(
                quote_id=quote_id,
                customer_id=DEMO_CUSTOMER_ID,
                item_code=TARGET,
                school_year=SPARE_YEAR,
                new_price=Decimal(price),
                approver="mike",
            )
        )
        s.commit()


# ---------------------------------------------------------------- pure rules


@pytest.mark.parametrize(
    ("action", "status", "days", "refused"),
    [
        ("accept", "proposed", 5, None),
        ("accept", "sent", 0, None),
        ("accept", "proposed", -1, "expired on"),
        ("accept", "rejected", 5, "is rejected: accept is allowed only from proposed, sent"),
        ("decline", "accepted", 5, "decline is allowed only from proposed, sent"),
        ("expire", "proposed", 5, "has not expired"),
        ("expire", "sent", -1, None),
        ("expire", "accepted", -1, "expire is allowed only from"),
        ("supersede", "accepted", 5, "supersede is allowed only from"),
        ("supersede", "expired", -3, None),
    ],
)
def test_transition_rules(action, status, days, refused):
    today = utcnow().date()
    reason = refusal(
        QuoteAction(action), "Q1", status, valid_until=today + timedelta(days=days), today=today
    )
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and any(r in reason for r in refused.split("|")), reason


# ---------------------------------------------------------------- through the stack


def test_override_is_proposed_until_the_customer_accepts_then_applied_once(quote_env):
    before = pricing()
    assert before is not None
    try:
        quote, run_id = approved_quote(price="77.77")
        # Approval records a proposal; the price list is untouched.
        after_approval = pricing()
        assert (after_approval.case_price, after_approval.source) == (
            before.case_price,
            before.source,
        )
        (p,) = proposals(quote.id)
        assert (p.item_code, p.old_price, p.new_price, p.status, p.approver) == (
            TARGET,
            before.case_price,
            Decimal("77.77"),
            "proposed",
            "mike",
        )
        assert p.cost_basis == before.cost_basis and p.margin_pct is not None

        # The next draft for that customer and item says so.
        nxt = FlowRunHandle(customer_quote, request=request())
        nxt_run = str(nxt.wait_paused().id)
        with session() as s:
            gate = s.exec(
                select(ProposedAction).where(ProposedAction.entity_ref == gate_entity_ref(nxt_run))
            ).one()
        notes = {w["check"]: w for w in gate.payload["preview"]["warnings"]}
        assert (
            f"{TARGET} 77.77 proposed in {quote.id}, not yet accepted"
            in (notes["proposed_pricing"]["message"])
        )
        nxt.resume(decision="reject", notes="just looking")
        assert nxt.join().is_completed()

        # The customer accepts: written to pricing_master with its provenance, once.
        done = cli.invoke(app, ["quotes", "accept", quote.id, "--notes", "PO 4471 signed"])
        assert done.exit_code == 0, done.output
        assert f"quote {quote.id} accepted; 1 proposed price(s) applied" in done.output
        applied = pricing()
        assert applied.case_price == Decimal("77.77") and applied.source == f"quote:{quote.id}"
        assert [p.status for p in proposals(quote.id)] == ["applied"]

        again = cli.invoke(app, ["quotes", "accept", quote.id])
        assert again.exit_code == 0 and "already accepted; nothing changed" in again.output
        assert pricing().updated_at == applied.updated_at
        refused = cli.invoke(app, ["quotes", "decline", quote.id])
        assert refused.exit_code == 1
        assert f"refused: quote {quote.id} is accepted: decline is allowed only from" in (
            refused.output
        )
        (ev,) = events(quote.id)
        assert ev.type == "quote.accepted" and ev.payload["notes"] == "PO 4471 signed"

        shown = cli.invoke(app, ["quotes", "show", quote.id])
        assert shown.exit_code == 0, shown.output
        for expected in (
            "accepted",
            f"{TARGET}",
            "77.77  applied",
            "NetSuite estimate",
            "quote.accepted by mike: PO 4471 signed",
            "approval gate approved by mike",
        ):
            assert expected in shown.output, shown.output
        listed = cli.invoke(app, ["quotes", "list", "--status", "accepted"])
        assert quote.id in listed.output
        bad = cli.invoke(app, ["quotes", "list", "--status", "won"])
        assert bad.exit_code == 2 and "status: 'won': Value error, not a quote status" in bad.output

        # An accepted quote cannot be revised: the run is blocked before any write.
        blocked = FlowRunHandle(customer_quote, request=request(quote_id=quote.id)).join()
        assert blocked.name == "Blocked" and "cannot be revised" in blocked.message
    finally:
        with session() as s:
            row = s.get(PricingMaster, before.id)
            row.case_price, row.source, row.updated_at = (
                before.case_price,
                before.source,
                before.updated_at,
            )
            s.add(row)
            s.commit()


def test_decline_closes_proposals_and_racing_decisions_have_one_winner(quote_env):
    insert_quote("QLC-DECLINE", valid_days=10)
    result = transition("QLC-DECLINE", "decline", notes="went with another supplier")
    assert result.changed and result.status == "rejected" and result.proposals == 1
    assert [p.status for p in proposals("QLC-DECLINE")] == ["closed"]
    assert pricing(school_year=SPARE_YEAR) is None
    with pytest.raises(TransitionRefused, match="is rejected: accept is allowed only from"):
        transition("QLC-DECLINE", "accept")
    with pytest.raises(TransitionRefused, match="quote NOPE does not exist"):
        transition("NOPE", "accept")
    with pytest.raises(TransitionRefused, match="notes: at most 2000 characters"):
        transition("QLC-DECLINE", "decline", notes="x" * 2001)

    insert_quote("QLC-RACE", valid_days=10, price="45.60")
    outcomes: list[object] = []
    barrier = threading.Barrier(6)

    def decide(action: str) -> None:
        barrier.wait()
        try:
            outcomes.append(transition("QLC-RACE", action))
        except TransitionRefused as exc:
            outcomes.append(exc)

    # Each thread runs in a copy of this context: Prefect's API URL lives in a contextvar.
    threads = [
        threading.Thread(target=contextvars.copy_context().run, args=(decide, a))
        for a in ["accept", "decline"] * 3
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [o for o in outcomes if not isinstance(o, Exception) and o.changed]
    assert len(outcomes) == 6 and len(winners) == 1, outcomes
    (ev,) = events("QLC-RACE")
    row = pricing(school_year=SPARE_YEAR)
    if winners[0].action == "accept":
        assert ev.type == "quote.accepted"
        assert row.case_price == Decimal("45.60") and row.source == "quote:QLC-RACE"
        assert [p.status for p in proposals("QLC-RACE")] == ["applied"]
        with session() as s:
            s.delete(s.get(PricingMaster, row.id))
            s.commit()
    else:
        assert ev.type == "quote.declined" and row is None
        assert [p.status for p in proposals("QLC-RACE")] == ["closed"]


def test_housekeeping_expires_overdue_quotes_once(quote_env):
    insert_quote("QLC-OVERDUE", valid_days=-1)
    insert_quote("QLC-VALID", valid_days=3)
    # A superseded quote whose estimate NetSuite confirmed only after the revision ran.
    netsuite = NetSuiteCredentials.load(get_settings().netsuite_block)
    with session() as s:
        item_id = s.get(SpecItem, TARGET).netsuite_item_id
    body = build_estimate_body(
        customer_id=DEMO_CUSTOMER_ID,
        lines=[EstimateLine(netsuite_item_id=item_id, quantity=2, rate=Decimal("10.00"))],
        external_id="QLC-LATE",
        memo="quoteflow quote QLC-LATE",
    )
    with netsuite.get_client() as ns_client:
        late_id = ns_client.upsert_estimate("QLC-LATE", body)
    insert_quote("QLC-LATE", valid_days=5)
    insert_quote("QLC-LATE-R2", valid_days=5)
    with session() as s:
        old, new = s.get(Quote, "QLC-LATE"), s.get(Quote, "QLC-LATE-R2")
        old.lifecycle_status, old.netsuite_id = "superseded", late_id
        new.supersedes_quote_id = "QLC-LATE"
        s.add_all([old, new])
        s.commit()
    # Past valid_until a quote is no longer open, even before housekeeping runs.
    open_ids = [q.id for q in load_open_quotes.fn(DEMO_CUSTOMER_ID)]
    assert "QLC-OVERDUE" not in open_ids
    with pytest.raises(TransitionRefused, match=r"expired on .* \(valid_until\)"):
        transition("QLC-OVERDUE", "accept")

    first = quote_housekeeping()
    expired = {r.quote_id: r for r in first.expired}
    assert "QLC-OVERDUE" in expired and "QLC-VALID" not in expired
    assert expired["QLC-OVERDUE"].proposals == 1
    with session() as s:
        assert s.get(Quote, "QLC-OVERDUE").lifecycle_status == "expired"
        assert s.get(Quote, "QLC-VALID").lifecycle_status == "proposed"
    assert [p.status for p in proposals("QLC-OVERDUE")] == ["closed"]
    assert pricing(school_year=SPARE_YEAR) is None

    assert "QLC-LATE" in first.superseded_marked and "QLC-LATE" not in first.superseded_failed
    with netsuite.get_client() as ns_client:
        late = ns_client.get_estimate_by_external_id("QLC-LATE")
    assert late["memo"].startswith("SUPERSEDED by quote QLC-LATE-R2")
    assert late["item"]["totalResults"] == 1  # the lines stayed

    second = quote_housekeeping()
    assert "QLC-OVERDUE" not in {r.quote_id for r in second.expired}
    assert "QLC-LATE" not in second.superseded_marked
    assert [e.type for e in events("QLC-OVERDUE")] == ["quote.expired"]
    with session() as s:
        (mark,) = s.exec(
            select(NsPendingPush).where(
                NsPendingPush.record_type == "estimate_superseded",
                NsPendingPush.external_id == "QLC-LATE",
            )
        ).all()
        assert mark.status == "applied" and mark.attempts == 1
    for quote_id in ("QLC-VALID", "QLC-LATE-R2"):  # leave the customer's open quotes as they were
        transition(quote_id, "decline")


def test_revision_marks_the_old_netsuite_estimate_superseded_once(quote_env, client):
    stack = quote_env
    base = stack.netsuite.base_url
    old, _ = approved_quote()
    httpx.post(f"{base}/_fake/reset", json={}, timeout=10)
    new, new_run = approved_quote(quote_id=old.id)
    assert new.id == f"{old.id}-R2" and new.supersedes_quote_id == old.id

    estimates = httpx.get(f"{base}/_fake/estimates", timeout=10).json()["estimates"]
    # One estimate each: the revision's own, the old one marked in place.
    ids = [e["external_id"] for e in estimates]
    assert ids.count(new.id) == 1 and ids.count(old.id) == 1
    stored = {e["external_id"]: e["record"] for e in estimates}
    assert stored[old.id]["memo"].startswith(f"SUPERSEDED by quote {new.id}")
    assert stored[old.id]["title"].startswith(f"SUPERSEDED by quote {new.id}")
    assert "SUPERSEDED" not in stored[new.id].get("memo", "")
    assert stored[old.id]["lines"]  # the header changed, the lines stayed

    def puts_to(quote_id: str) -> int:
        recent = httpx.get(f"{base}/_fake/requests", timeout=10).json()["recent"]
        return sum(
            1 for r in recent if r["method"] == "PUT" and r["path"].endswith(f"eid:{quote_id}")
        )

    assert puts_to(old.id) == 1
    with session() as s:
        row = s.exec(
            select(NsPendingPush).where(
                NsPendingPush.record_type == "estimate_superseded",
                NsPendingPush.external_id == old.id,
            )
        ).one()
        assert row.status == "applied" and row.attempts == 1
        gate = s.exec(
            select(ProposedAction).where(ProposedAction.entity_ref == gate_entity_ref(new_run))
        ).one()
        assert s.get(Quote, old.id).lifecycle_status == "superseded"
    # ns_push running again (a retry) finds both pushes applied: nothing more is sent.
    from tasks.netsuite import push_estimate

    preview = QuotePreview.model_validate(gate.payload["preview"])
    push_estimate.fn(preview, NetSuiteCredentials.load(get_settings().netsuite_block), new_run)
    assert puts_to(old.id) == 1
    assert [e.type for e in events(old.id)] == ["quote.superseded"]
    with pytest.raises(TransitionRefused, match="is superseded"):
        transition(old.id, "accept")
    shown = cli.invoke(app, ["quotes", "show", old.id])
    assert f"superseded by {new.id}" in shown.output
    assert "NetSuite estimate_superseded: applied after 1 attempt(s)" in shown.output
    page = client.get(f"/quotes/{old.id}")
    assert page.status_code == 200 and f'href="/quotes/{new.id}"' in page.text
    assert "Mark accepted" not in page.text  # a superseded quote cannot be accepted
    pdf = client.get(f"/quotes/{new.id}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


# ---------------------------------------------------------------- the contract page


def test_contract_page_is_generated_from_the_code(quote_env, monkeypatch):
    import tasks.context as context_queries
    from tasks.contract import side_effects, sql_text

    page = cli.invoke(app, ["contract"])
    assert page.exit_code == 0, page.output
    text = page.output
    queries = {n: v for n, v in vars(context_queries).items() if n.endswith("_SQL")}
    assert len(queries) == 6  # the contract's four, items, and the prices' age (mirror_fresh)
    for name, value in queries.items():
        assert f"**{name}**\n```sql\n{sql_text(value)}\n```" in text
    assert "AND item_code IN :item_codes AND school_year = :school_year" in text
    assert "AND (valid_until IS NULL OR valid_until >= :today)" in text
    for field in QuoteRequest.model_fields:
        assert f"| {field} |" in text
    assert "| max_attempts | 3 |" in text and "| delays (s) | [1.5, 3.0] |" in text
    assert "## 6. Fan-out targets: 5 total · 5 real · 0 stub" in text
    assert "| alert_on_final_failure | true |" in text
    assert "| accept | proposed, sent | accepted | quote.accepted | applied |" in text

    # A changed setting changes the page.
    monkeypatch.setenv("QUOTEFLOW_RETRY_ATTEMPTS", "5")
    monkeypatch.setenv("QUOTEFLOW_RETRY_BASE_SECONDS", "2")
    monkeypatch.setenv("QUOTEFLOW_APPROVAL_WINDOW_MINUTES", "90")
    get_settings.cache_clear()
    changed = cli.invoke(app, ["contract"]).output
    assert "| max_attempts | 5 |" in changed and "| base_ms | 2000 |" in changed
    assert "| delays (s) | [2.0, 4.0, 8.0, 16.0] |" in changed
    assert "| approval window | 90 min" in changed

    # Live figures: a new alert is the last alert.
    run_id = f"contract-{utcnow():%H%M%S%f}"
    ledger.record_alert(run_id=run_id, step="ns_push", attempts=3, error="HTTP 503")
    live = cli.invoke(app, ["contract"]).output
    assert f"step ns_push of run {run_id}: HTTP 503" in live
    with session() as s:
        waiting = s.execute(
            sa.select(sa.func.count()).where(ProposedAction.status == "pending")
        ).scalar_one()
    assert ("| actions waiting for Mike | none |" in live) == (waiting == 0)

    # The verify deployment's flow publishes the same page, with the changed setting.
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    from flows.verify_checks import verify_checks
    from tasks.contract import CONTRACT_ARTIFACT_KEY

    state = verify_checks(return_state=True)
    assert state.is_completed(), state.message
    with get_client(sync_client=True) as pc:
        (artifact,) = pc.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[CONTRACT_ARTIFACT_KEY]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
            )
        )
    assert artifact.type == "markdown" and "## 1. Trigger" in artifact.data
    assert "| max_attempts | 5 |" in artifact.data

    # A side effect without a declared test is a STUB.
    assert {e.status for e in side_effects({})} == {"STUB"}


def test_quotes_section_of_the_page(client):
    insert_quote("QLC-PAGE", valid_days=10, price="31.50")
    listed = client.get("/quotes", params={"customer": "1107", "status": "proposed"})
    assert listed.status_code == 200 and 'href="/quotes/QLC-PAGE"' in listed.text
    other_year = client.get("/quotes", params={"school_year": "2020-21"})
    assert "QLC-PAGE" not in other_year.text and "No quotes match." in other_year.text
    bad = client.get("/quotes", params={"status": "won"})
    assert bad.status_code == 400 and "status: &#39;won&#39;: Value error, not a quote" in bad.text

    shown = client.get("/quotes/QLC-PAGE")
    assert shown.status_code == 200
    assert "Mark accepted" in shown.text and "Mark declined" in shown.text
    assert ">waiting for the customer</span>" in shown.text and "$31.50" in shown.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', shown.text).group(1)

    forged = client.post("/quotes/QLC-PAGE/accept", data={"notes": "x"})
    assert forged.status_code == 403
    with session() as s:
        assert s.get(Quote, "QLC-PAGE").lifecycle_status == "proposed"

    from quoteflow.approvals import get_action, stage_action

    email = stage_action(
        action_type="send_quote_to_customer",
        entity_ref="quote:QLC-PAGE",
        payload={"quote_id": "QLC-PAGE", "to": "buyer@example.org"},
    )
    # One tap asks first: what accepting writes, and that the email never went out.
    ask = client.post("/quotes/QLC-PAGE/accept", data={"csrf_token": token, "notes": "PO 99"})
    assert (
        ask.status_code == 200 and 'id="confirm"' in ask.text and "Yes, mark accepted" in ask.text
    )
    assert 'id="never-sent"' in ask.text and "price list" in ask.text
    with session() as s:
        assert s.get(Quote, "QLC-PAGE").lifecycle_status == "proposed"
    done = client.post(
        "/quotes/QLC-PAGE/accept",
        data={"csrf_token": token, "notes": "PO 99", "confirmed": "yes"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/quotes/QLC-PAGE?done=accepted"
    after = client.get(done.headers["location"])
    assert "Quote accepted." in after.text and "PO 99" in after.text
    closed = get_action(email.id)  # the email draft closed with its quote
    assert (closed.status, closed.approver) == ("expired", "system")
    assert closed.decision_notes == "closed: the quote was accepted"
    assert "Mark accepted" not in after.text
    row = pricing(school_year=SPARE_YEAR)
    assert row.case_price == Decimal("31.50") and row.source == "quote:QLC-PAGE"

    late = client.post("/quotes/QLC-PAGE/decline", data={"csrf_token": token, "confirmed": "yes"})
    assert late.status_code == 409
    assert "is accepted: decline is allowed only from proposed, sent" in late.text
    assert client.get("/quotes/NOPE").status_code == 404
    with session() as s:
        s.delete(s.get(PricingMaster, row.id))
        s.commit()

    contract = client.get("/contract")
    assert contract.status_code == 200
    for expected in ("1. Trigger", "OPEN_QUOTES_SQL", "ns_push", ">real</span>", "quote.accepted"):
        assert expected in contract.text
