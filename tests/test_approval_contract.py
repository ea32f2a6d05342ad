"""The approval contract on the real database (SQLite or PostgreSQL): decisions bound to
what was shown, serialised between racing approvers, price guardrails in every channel,
and a decision typed in the Prefect UI form recorded by the run exactly like the other
channels. Tests that name the ``stack`` fixture run a real flow on the real Prefect server;
the others decide through the in-memory Prefect gateway."""

from __future__ import annotations

import contextvars
import threading
import time
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
import sqlalchemy as sa
from prefect import get_client
from prefect.client.schemas.responses import SetStateStatus
from sqlmodel import Session, select
from typer.testing import CliRunner

from quoteflow import prefect_api
from quoteflow.approvals import (
    ApprovalError,
    approve,
    decide,
    draft_quote,
    gate_payload,
    get_action,
    preview_to_execute,
    reject,
    staged_preview,
)
from quoteflow.cli.actions import app as actions_cli
from quoteflow.db import get_engine
from quoteflow.decision import (
    ApprovalDecision,
    PriceOverride,
    approved_preview,
    parse_overrides,
    price_concerns,
)
from quoteflow.lifecycle import accept
from quoteflow.models import PricingMaster, ProposedAction, Quote, QuoteLine, utcnow
from quoteflow.quote import QuoteLineView, QuotePreview, QuoteRequest, payload_hash
from quoteflow.settings import get_settings
from tasks.context import load_current_pricing
from tests.fixtures.demo import DEMO_CUSTOMER_ID, DEMO_SCHOOL_YEAR, demo_request
from tests.fixtures.fake_prefect import FakePrefect
from tests.fixtures.flow_runner import paused_quote
from tests.fixtures.previews import small_preview, stage_gate

NO_SERVER = "http://127.0.0.1:9/api"
APPROVERS = ["mike", "dana", "lee", "sam", "kim", "ray"]


@pytest.fixture
def contract_env(request, seeded_db, monkeypatch):
    """Several configured approvers; paused runs poll fast; Prefect in memory unless the
    test uses the stack."""
    monkeypatch.setenv("QUOTEFLOW_APPROVERS", '["' + '","'.join(APPROVERS) + '"]')
    monkeypatch.setenv("QUOTEFLOW_PAUSE_POLL_SECONDS", "0.2")
    get_settings.cache_clear()
    if "stack" in request.fixturenames:
        yield
    else:  # the CLI asks for a server's URL: one where nothing answers
        with prefect_api.pointed_at(NO_SERVER), prefect_api.use(FakePrefect()):
            yield
    get_settings.cache_clear()


pytestmark = pytest.mark.usefixtures("contract_env")


def a_draft():
    return draft_quote(
        QuoteRequest(
            customer_id=DEMO_CUSTOMER_ID, item_codes=["FS-1001"], school_year=DEMO_SCHOOL_YEAR
        )
    )


def staged_gate():
    """A quote gate with no run behind it (enough for what is refused before resuming)."""
    line = QuoteLineView(
        line_no=1,
        item_code="FS-1004",
        case_price=Decimal("75.59"),
        cost_basis=Decimal("66.90"),
        price_source="pricing_master",
    )
    return stage_gate(small_preview(line, quote_prefix="QC"), ref="contract")


def race(n: int, attempt) -> tuple[list, list[Exception]]:
    """Run attempt(i) in n threads released at once; (results, errors)."""
    barrier = threading.Barrier(n)
    results: list = []
    errors: list[Exception] = []
    lock = threading.Lock()

    def go(i: int) -> None:
        barrier.wait()
        try:
            out = attempt(i)
            with lock:
                results.append(out)
        except Exception as exc:
            with lock:
                errors.append(exc)

    # Each thread runs in a copy of this context: Prefect's API settings live there.
    threads = [
        threading.Thread(target=contextvars.copy_context().run, args=(go, i)) for i in range(n)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


def words(output: str) -> str:
    """CLI output with rich's box drawing and line wrapping taken out."""
    return " ".join(output.replace("│", " ").replace("╭", " ").replace("╰", " ").split())


# ---------------------------------------------------------------- 2. serialised


def test_exactly_one_of_racing_approvers_wins_and_the_others_are_told_who():
    action = a_draft()
    results, errors = race(
        len(APPROVERS),
        lambda i: decide(action.id, "approve", approver=APPROVERS[i], notes=f"note {i}"),
    )
    assert len(results) == 1, errors
    winner = results[0]
    assert len(errors) == len(APPROVERS) - 1
    for exc in errors:
        assert isinstance(exc, ApprovalError)
        assert f"already approved by {winner.approver} at" in str(exc)
    stored = get_action(action.id)
    assert stored.status == "approved" and stored.approver == winner.approver
    assert stored.decision_notes == winner.decision_notes  # nobody's notes overwritten


def test_approve_racing_reject_records_exactly_one_decision():
    started = utcnow() - timedelta(seconds=5)
    action = a_draft()
    results, errors = race(
        6,
        lambda i: (
            approve(action.id, approver=APPROVERS[i], notes="go")
            if i % 2
            else reject(action.id, approver=APPROVERS[i], notes="stop")
        ),
    )
    assert len(results) == 1 and len(errors) == 5, errors
    stored = get_action(action.id)
    assert stored.status == results[0].status
    assert all(f"already {stored.status} by {stored.approver}" in str(e) for e in errors)
    # Only the winner's event: a rejected draft never also starts a run.
    (event,) = decision_events(action.id, since=started)
    assert event.event == f"proposed_action.{stored.status}"


# ---------------------------------------------------------------- 1. bound to what was seen


def test_a_payload_changed_after_staging_is_refused_and_nothing_changes():
    gate = staged_gate()
    tampered = {**gate.payload}
    tampered["preview"] = {**tampered["preview"]}
    tampered["preview"]["lines"] = [{**tampered["preview"]["lines"][0], "case_price": "0.10"}]
    with Session(get_engine()) as s:
        s.execute(
            sa.update(ProposedAction).where(ProposedAction.id == gate.id).values(payload=tampered)
        )
        s.commit()
    for decide_it in (lambda: approve(gate.id), lambda: reject(gate.id)):
        with pytest.raises(ApprovalError, match="no longer matches what was staged"):
            decide_it()
    after = get_action(gate.id)
    assert after.status == "pending" and after.decided_at is None
    assert after.approved_payload_hash is None


def test_a_decision_on_another_version_than_shown_is_refused():
    draft = a_draft()
    with pytest.raises(ApprovalError, match="not what you were shown"):
        approve(draft.id, expected_hash="0" * 64)
    assert get_action(draft.id).status == "pending"
    decided = approve(draft.id, expected_hash=draft.payload_hash)
    assert decided.status == "approved"
    assert decided.approved_payload_hash == payload_hash(draft.payload) == draft.payload_hash


def test_a_resumed_run_executes_exactly_the_approved_payload():
    """What a resumed run executes: its staged preview with Mike's prices when that hashes
    to the approved hash; a preview rebuilt from other data (task results lost, costs
    changed) falls back to the approved payload stored on the gate."""
    gate = staged_gate()
    shown = staged_preview(gate)
    decision = ApprovalDecision(
        decision="approve",
        approver="mike",
        price_overrides=[PriceOverride(item_code="FS-1004", case_price="80.00")],
    )
    # What a channel records (approve() also resumes the run; this gate has none).
    as_approved = approved_preview(
        shown,
        parse_overrides({"FS-1004": "80.00"}),
        confirm=False,
        margin_floor=get_settings().margin_floor_pct,
    )
    decided = decide(
        gate.id,
        "approve",
        approved_payload=gate_payload(as_approved),
        expected_hash=gate.payload_hash,
    )

    executed, used_stored = preview_to_execute(decided, decision, shown)
    assert not used_stored
    assert [(line.item_code, line.case_price) for line in executed.lines] == [
        ("FS-1004", Decimal("80.00"))
    ]
    rebuilt = shown.model_copy(
        update={"lines": [shown.lines[0].model_copy(update={"cost_basis": Decimal("10.00")})]}
    )
    from_store, used_stored = preview_to_execute(decided, decision, rebuilt)
    assert used_stored and from_store == executed
    assert payload_hash(gate_payload(from_store)) == decided.approved_payload_hash


def test_only_configured_approvers_decide():
    draft = a_draft()
    with pytest.raises(ApprovalError, match="'eve' is not a configured approver"):
        approve(draft.id, approver="eve")
    assert get_action(draft.id).status == "pending"


def test_cli_prints_the_hash_and_refuses_bad_prices_without_a_traceback():
    gate = staged_gate()
    runner = CliRunner()
    shown = runner.invoke(actions_cli, ["show", str(gate.id)])
    assert shown.exit_code == 0 and f"payload hash {gate.payload_hash}" in shown.output
    for price, rule in (
        ("FS-1004=1e3", "uses an exponent"),
        ("FS-1004=nan", "not a finite number"),
        ("FS-1004=14,90", "decimal comma"),
        ("FS-1004=-3", "without a sign"),
    ):
        out = runner.invoke(actions_cli, ["approve", str(gate.id), "--price", price])
        text = words(out.output)
        assert out.exit_code == 2, out.output
        assert "approved price for FS-1004" in text and rule in text
        assert "Traceback" not in out.output
    wrong = runner.invoke(actions_cli, ["approve", str(gate.id), "--expect-hash", "ab" * 32])
    assert wrong.exit_code == 1 and "not what you were shown" in words(wrong.output)
    below = runner.invoke(actions_cli, ["approve", str(gate.id), "--price", "FS-1004=20"])
    text = words(below.output)
    assert below.exit_code == 1 and "needs confirmation" in text
    assert "below cost 66.90" in text and "less than 1/3" in text
    assert get_action(gate.id).status == "pending"


# ---------------------------------------------------------------- 3. guardrails (rules)


def test_guardrails_need_confirmation():
    gate = staged_gate()
    preview = QuotePreview.model_validate(gate.payload["preview"])
    floor = 15.0

    def concerns(price: str) -> list[str]:
        return price_concerns(preview, parse_overrides({"FS-1004": price}), margin_floor=floor)

    assert concerns("0") == ["FS-1004: approved price is zero"]
    assert concerns("60") == [
        "FS-1004: approved price 60.00 is below cost 66.90",
    ]
    assert concerns("70") == ["FS-1004: margin 4.43% is under the 15% floor"]
    assert concerns("230") == ["FS-1004: approved price 230.00 is more than 3x the quoted 75.59"]
    assert concerns("80") == []  # margin 16.38%
    with pytest.raises(ValueError, match="needs confirmation"):
        approved_preview(preview, parse_overrides({"FS-1004": "0"}), confirm=False, margin_floor=15)
    zero = approved_preview(
        preview, parse_overrides({"FS-1004": "0"}), confirm=True, margin_floor=15
    )
    assert zero.subtotal == Decimal("0.00") and zero.lines[0].margin_pct is None


# ---------------------------------------------------------------- the Prefect UI form path


FS1004 = (
    PricingMaster.customer_id == DEMO_CUSTOMER_ID,
    PricingMaster.item_code == "FS-1004",
    PricingMaster.school_year == DEMO_SCHOOL_YEAR,
)


def _resume(run_id: str, run_input: dict):
    with get_client(sync_client=True) as client:
        return client.resume_flow_run(UUID(run_id), run_input=run_input)


@pytest.mark.usefixtures("stack", "demo_pricing_restored")
def test_the_ui_form_refuses_bad_prices_and_the_run_records_the_decision():
    started = utcnow() - timedelta(seconds=5)
    handle, run_id, gate = paused_quote(demo_request())

    # The schema itself refuses malformed prices: the server answers REJECT, the run waits.
    for bad in ("nan", "Infinity", "1e3", "14,90", "-1", 1000, "1.005"):
        answer = _resume(
            run_id,
            {
                "decision": "approve",
                "price_overrides": [{"item_code": "FS-1004", "case_price": bad}],
            },
        )
        assert answer.status == SetStateStatus.REJECT, bad
        assert "case_price" in answer.details.reason or "does not match" in answer.details.reason
    assert handle.wait_paused().state.is_paused()

    # Schema-valid but refused by the rules: asked again, the gate stays pending.
    handle.resume(decision="approve", approver="eve")
    handle.wait_paused()
    handle.resume(
        decision="approve",
        notes="free sample",
        price_overrides=[{"item_code": "FS-1004", "case_price": "0"}],
    )
    paused = handle.wait_paused()
    assert get_action(gate.id).status == "pending"
    with get_client(sync_client=True) as client:
        keyset = paused.state.state_details.run_input_keyset
        description = client.read_flow_run_input(paused.id, keyset["description"])
    assert "needs confirmation" in description and "FS-1004: approved price is zero" in description

    handle.resume(
        decision="approve",
        notes="free sample",
        confirm=True,
        approver="dana",
        price_overrides=[{"item_code": "FS-1004", "case_price": "0"}],
    )
    state = handle.join()
    assert state.is_completed(), state.message

    decided = get_action(gate.id)
    assert decided.status == "approved" and decided.approver == "dana"
    assert decided.decision_notes == "free sample" and decided.decided_at is not None
    assert decided.approved_payload is not None
    assert decided.approved_payload_hash == payload_hash(decided.approved_payload)
    assert decided.approved_payload_hash != decided.payload_hash
    with Session(get_engine()) as s:
        quote = s.exec(select(Quote).where(Quote.flow_run_id == run_id)).one()
        line = s.exec(
            select(QuoteLine).where(
                QuoteLine.quote_id == quote.id, QuoteLine.item_code == "FS-1004"
            )
        ).one()
    assert line.case_price == Decimal("0.00") and line.margin_pct is None
    # The zero price is proposed; once the customer accepts it is written with no margin,
    # and the next context load still works.
    accept(quote.id)
    with Session(get_engine()) as s:
        written = s.exec(select(PricingMaster).where(*FS1004)).one()
    assert written.case_price == Decimal("0.00") and written.margin_pct is None
    (loaded,) = load_current_pricing.fn(DEMO_CUSTOMER_ID, ["FS-1004"], DEMO_SCHOOL_YEAR)
    assert loaded.case_price == Decimal("0.00")
    # The same proposed_action.approved event every channel emits, once.
    (event,) = decision_events(gate.id, since=started)
    assert event.event == "proposed_action.approved"
    assert event.payload["approver"] == "dana"
    assert event.payload["approved_payload_hash"] == decided.approved_payload_hash


def decision_events(action_id: int, *, since: datetime, timeout: float = 15.0) -> list:
    """The proposed_action.* events of one action in the Prefect server's event store
    (a kept stack's server outlives the test database: only events since the test), or
    in the in-memory gateway."""
    gateway = prefect_api.gateway()
    if isinstance(gateway, FakePrefect):
        return gateway.events_of(f"proposed-action.{action_id}", "proposed_action.")
    from prefect.events.filters import (
        EventFilter,
        EventNameFilter,
        EventOccurredFilter,
        EventResourceFilter,
    )
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all()
    wanted = EventFilter(
        occurred=EventOccurredFilter(since=since),
        event=EventNameFilter(prefix=["proposed_action."]),
        resource=EventResourceFilter(id=[f"proposed-action.{action_id}"]),
    )
    deadline = time.monotonic() + timeout
    while True:
        with get_client(sync_client=True) as client:
            events = client.read_events(filter=wanted, limit=50).events
        if events or time.monotonic() > deadline:
            return events
        time.sleep(0.5)


# ---------------------------------------------------------------- 5. normal outcomes


@pytest.mark.usefixtures("stack")
def test_ar_touch_for_a_customer_without_a_profile_is_a_no_op():
    from quoteflow.models import Customer
    from tasks.ar_forecast import touch_ar_forecast

    customer_id = f"NP{uuid.uuid4().hex[:8]}"
    with Session(get_engine()) as s:
        s.add(Customer(id=customer_id, name="No Profile ISD"))
        s.commit()
    state = touch_ar_forecast(customer_id, "Q-NOPROFILE", return_state=True)
    assert state.is_completed(), state.message
    assert state.result() is None


def test_a_price_row_without_cost_or_margin_still_loads_and_quotes():
    from quoteflow.quote import QuoteContext, build_preview
    from tasks.context import load_customer, resolve_items

    year = "2033-34"  # a year nothing else prices: the rows are removed at the end
    with Session(get_engine()) as s:
        for code, price, cost in (("FS-1001", "0.00", "58.40"), ("FS-1002", "12.00", None)):
            s.add(
                PricingMaster(
                    customer_id=DEMO_CUSTOMER_ID,
                    item_code=code,
                    school_year=year,
                    case_price=Decimal(price),
                    cost_basis=None if cost is None else Decimal(cost),
                    margin_pct=None,
                    source="test:null-margin",
                )
            )
        s.commit()
    request = QuoteRequest(
        customer_id=DEMO_CUSTOMER_ID, item_codes=["FS-1001", "FS-1002"], school_year=year
    )
    pricing = load_current_pricing.fn(DEMO_CUSTOMER_ID, request.item_codes, year)
    assert {p.item_code: p.margin_pct for p in pricing} == {"FS-1001": None, "FS-1002": None}
    preview = build_preview(
        request,
        QuoteContext(
            customer=load_customer.fn(DEMO_CUSTOMER_ID),
            pricing=pricing,
            items=resolve_items.fn(request.item_codes, None),
        ),
        quote_id="Q-NULL-MARGIN",
        supersedes_quote_id=None,
        now=utcnow(),
        validity_days=30,
        margin_floor=15,
    )
    lines = {line.item_code: line for line in preview.lines}
    assert lines["FS-1001"].case_price == Decimal("0.00") and lines["FS-1001"].margin_pct is None
    assert lines["FS-1002"].cost_basis is None and lines["FS-1002"].quotable
    with Session(get_engine()) as s:
        s.execute(sa.delete(PricingMaster).where(PricingMaster.source == "test:null-margin"))
        s.commit()


@pytest.mark.usefixtures("stack")
def test_a_tampered_gate_decided_in_the_ui_form_writes_nothing():
    handle, run_id, staged = paused_quote(demo_request(item_codes=["FS-1001"]))
    with Session(get_engine()) as s:
        gate = s.get(ProposedAction, staged.id)
        tampered = {**gate.payload, "preview": {**gate.payload["preview"], "subtotal": "0.01"}}
        gate.payload = tampered  # changed after staging; payload_hash still the staged one
        s.add(gate)
        s.commit()
        gate_id = gate.id
    handle.resume(decision="approve", notes="looks fine")
    state = handle.join()
    assert state.is_failed() and "no longer matches what was staged" in state.message
    # Nothing was approved; the failed run closed its gate with the reason (not Mike's).
    after = get_action(gate_id)
    assert after.status == "expired" and after.approved_payload_hash is None
    assert after.approver != "mike" and "no longer matches" in (after.decision_notes or "")
    with Session(get_engine()) as s:
        assert s.exec(select(Quote).where(Quote.flow_run_id == run_id)).first() is None


@pytest.mark.usefixtures("stack")
def test_a_decision_whose_run_cannot_be_resumed_is_taken_back(monkeypatch):
    import quoteflow.approvals as approvals_module

    handle, _, gate = paused_quote(demo_request(item_codes=["FS-1001"]))
    gate_id = gate.id

    def server_refuses(action):
        raise ApprovalError("the Prefect server refused the decision: test; nothing changed")

    resume = approvals_module._resume_gate
    monkeypatch.setattr(approvals_module, "_resume_gate", server_refuses)
    with pytest.raises(ApprovalError, match="refused the decision"):
        approve(gate_id, notes="first try")
    after = get_action(gate_id)
    assert after.status == "pending" and after.decided_at is None and after.decision_notes is None
    assert after.approved_payload_hash is None
    monkeypatch.setattr(approvals_module, "_resume_gate", resume)
    approve(gate_id, notes="second try")
    assert handle.join().is_completed()
    assert get_action(gate_id).decision_notes == "second try"
