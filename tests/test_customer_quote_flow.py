"""The customer-quote flow end to end on the real Prefect engine and the local stack:
real database, moto S3, the fake NetSuite server, Prefect server."""

from __future__ import annotations

import io
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa
from prefect_aws import S3Bucket
from pypdf import PdfReader
from sqlmodel import Session, select

from flows.customer_quote import customer_quote
from quoteflow.db import get_engine
from quoteflow.models import (
    CustomerProfile,
    Event,
    NsPendingPush,
    PricingMaster,
    ProposedAction,
    ProposedPricing,
    Quote,
    QuoteLine,
    ReflexionLog,
    WorkflowRunLog,
    WorkflowVerifyResult,
)
from quoteflow.quote import QuoteRequest
from quoteflow.settings import get_settings
from tests.fixtures.demo import (
    DEMO_CUSTOMER_ID,
    DEMO_ITEM_CODES,
    DEMO_SCHOOL_YEAR,
    ON_HOLD_CUSTOMER_ID,
    UNKNOWN_ITEM_CODE,
    UNPRICED_ITEM_CODE,
)
from tests.fixtures.demo import demo_request as request
from tests.fixtures.flow_runner import FlowRunHandle

pytestmark = pytest.mark.usefixtures("quote_env")


@pytest.fixture
def quote_env(stack, seeded_db, monkeypatch):
    """Fast polling for paused runs, fast retries; every test starts NetSuite healthy."""
    monkeypatch.setenv("QUOTEFLOW_PAUSE_POLL_SECONDS", "0.2")
    get_settings.cache_clear()
    ns("reset", stack)
    yield
    ns("reset", stack)
    get_settings.cache_clear()


@pytest.fixture
def fast_ns_retries(monkeypatch):
    """ns_push's backoff (1.5 s, then 3 s: quoteflow.run_rules.retry_delays, covered by
    tests/test_quote_rules.py) cut to 0.1 s: these tests count attempts, not delays."""
    from tasks.netsuite import push_estimate

    delays = [0.1] * len(push_estimate.retry_delay_seconds or [])
    monkeypatch.setattr(push_estimate, "retry_delay_seconds", delays)


def ns(action: str, stack, **body):
    url = f"{stack.netsuite.base_url}/_fake/{action}"
    if action in ("estimates", "requests"):
        return httpx.get(url, timeout=10).json()
    return httpx.post(url, json=body, timeout=10).json()


def session() -> Session:
    return Session(get_engine())


def estimate_for(stack, quote_id: str) -> list[dict]:
    """The estimates stored at the fake NetSuite under this external id (as records)."""
    return [
        e["record"] for e in ns("estimates", stack)["estimates"] if e["external_id"] == quote_id
    ]


def pdf_text(key: str) -> str:
    data = S3Bucket.load(get_settings().s3_bucket_block).read_path(key)
    assert data.startswith(b"%PDF")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def run_approved(req: QuoteRequest, **decision) -> tuple[FlowRunHandle, object]:
    handle = FlowRunHandle(customer_quote, request=req)
    handle.wait_paused()
    handle.resume(decision="approve", **decision)
    return handle, handle.join()


def quote_of(run_id: str) -> Quote:
    with session() as s:
        q = s.exec(select(Quote).where(Quote.flow_run_id == run_id)).one()
        return q


def test_approve_path_in_every_system(stack):
    before_profile = _profile(DEMO_CUSTOMER_ID)
    handle = FlowRunHandle(customer_quote, request=request())
    paused = handle.wait_paused()
    run_id = str(paused.id)

    # Invariant: nothing of the fan-out before approval.
    with session() as s:
        assert s.exec(select(Quote).where(Quote.flow_run_id == run_id)).first() is None
        gate = s.exec(select(ProposedAction).where(ProposedAction.flow_run_id == run_id)).one()
        assert gate.action_type == "workflow_customer_quote"
        assert gate.entity_ref == f"workflow:customer_quote:run_{run_id}"
        assert gate.status == "pending" and gate.approver == "mike" and gate.expires_at
        assert len(gate.payload_hash) == 64
        assert s.exec(select(NsPendingPush).where(NsPendingPush.run_id == run_id)).first() is None
    assert _profile(DEMO_CUSTOMER_ID) == before_profile
    assert not [e for e in ns("estimates", stack)["estimates"] if run_id[:8] in str(e)]

    handle.resume(decision="approve", notes="looks right")
    state = handle.join()
    assert state.is_completed(), state.message

    quote = quote_of(run_id)
    with session() as s:
        lines = s.exec(
            select(QuoteLine).where(QuoteLine.quote_id == quote.id).order_by(QuoteLine.line_no)
        ).all()
        gate = s.get(ProposedAction, gate.id)
        email = s.exec(
            select(ProposedAction).where(
                ProposedAction.action_type == "send_quote_to_customer",
                ProposedAction.entity_ref == f"quote:{quote.id}",
            )
        ).one()
        push = s.exec(select(NsPendingPush).where(NsPendingPush.quote_id == quote.id)).one()
        log = s.exec(select(WorkflowRunLog).where(WorkflowRunLog.run_id == run_id)).one()
        refl = s.exec(select(ReflexionLog).where(ReflexionLog.run_id == run_id)).one()
        events = s.exec(select(Event).where(Event.run_id == run_id)).all()
        verify = s.exec(
            select(WorkflowVerifyResult).where(WorkflowVerifyResult.run_id == run_id)
        ).all()

    # quote rows
    assert quote.lifecycle_status == "proposed" and quote.customer_id == DEMO_CUSTOMER_ID
    assert [line.item_code for line in lines] == list(DEMO_ITEM_CODES)
    assert quote.subtotal == sum(line.line_total for line in lines)
    # gate decision recorded
    assert gate.status == "approved" and gate.decision_notes == "looks right"
    assert gate.decided_at is not None and gate.approved_payload_hash == gate.payload_hash
    # PDF in the bucket, with every line
    assert quote.pdf_key == f"quotes/{quote.id}.pdf"
    text = pdf_text(quote.pdf_key)
    assert quote.id in text
    for line in lines:
        assert line.item_code in text
    # email draft staged, not sent
    assert email.status == "pending" and email.payload["pdf_key"] == quote.pdf_key
    assert quote.id in email.payload["subject"] and email.payload["to"]
    # NetSuite estimate with the right lines
    assert push.status == "applied" and push.netsuite_id and quote.netsuite_id == push.netsuite_id
    (est,) = estimate_for(stack, quote.id)
    assert est["entity"]["id"] == DEMO_CUSTOMER_ID
    sent = [(i["item"]["id"], Decimal(str(i["rate"]))) for i in est["lines"]]
    assert sent == [(line.netsuite_item_id, line.case_price) for line in lines]
    # AR touch
    profile = _profile(DEMO_CUSTOMER_ID)
    assert profile["last_quote_id"] == quote.id and profile["last_quote_event"] is not None
    # post actions
    assert log.status == "completed" and log.completed_at and log.started_at <= log.completed_at
    assert {s["name"]: s["status"] for s in log.summary_json["steps"]} == {
        "write_quote": "completed",
        "render_pdf": "completed",
        "send_email": "completed",
        "ns_push": "completed",
        "ar_forecast_touch": "completed",
    }
    assert set(refl.tags) == {
        "customer_quote",
        "quote",
        f"customer:{DEMO_CUSTOMER_ID}",
        f"school_year:{DEMO_SCHOOL_YEAR}",
    }
    assert quote.id in refl.narrative
    assert [e.type for e in events] == ["workflow.completed"]
    assert {v.check_name: v.status for v in verify} == {
        "quote_persisted": "pending",
        "pdf_stored": "pending",
        "email_sent": "pending",
    }


def _profile(customer_id: str) -> dict:
    with session() as s:
        return s.get(CustomerProfile, customer_id).model_dump()


def test_reject_has_no_side_effects(stack):
    handle = FlowRunHandle(customer_quote, request=request())
    run_id = str(handle.wait_paused().id)
    handle.resume(decision="reject", notes="wrong items")
    state = handle.join()
    assert state.name == "Rejected"
    with session() as s:
        assert s.exec(select(Quote).where(Quote.flow_run_id == run_id)).first() is None
        gate = s.exec(select(ProposedAction).where(ProposedAction.flow_run_id == run_id)).one()
        assert gate.status == "rejected" and gate.decision_notes == "wrong items"
        log = s.exec(select(WorkflowRunLog).where(WorkflowRunLog.run_id == run_id)).one()
        assert log.status == "rejected"
        assert (
            s.exec(select(WorkflowVerifyResult).where(WorkflowVerifyResult.run_id == run_id)).all()
            == []
        )
        assert [e.type for e in s.exec(select(Event).where(Event.run_id == run_id))] == [
            "workflow.failed"
        ]
        assert s.exec(select(ReflexionLog).where(ReflexionLog.run_id == run_id)).one()


def test_expiry_records_expired(monkeypatch):
    monkeypatch.setenv("QUOTEFLOW_APPROVAL_WINDOW_MINUTES", "0.05")  # 3 s
    get_settings.cache_clear()
    handle = FlowRunHandle(customer_quote, request=request())
    run_id = str(handle.wait_paused().id)
    state = handle.join()
    assert state.is_failed() and state.name == "Expired"
    with session() as s:
        gate = s.exec(select(ProposedAction).where(ProposedAction.flow_run_id == run_id)).one()
        assert gate.status == "expired"
        log = s.exec(select(WorkflowRunLog).where(WorkflowRunLog.run_id == run_id)).one()
        assert log.status == "expired"
        assert s.exec(select(Quote).where(Quote.flow_run_id == run_id)).first() is None


@pytest.mark.parametrize(
    ("customer_id", "check"),
    [("999999", "customer_exists"), (ON_HOLD_CUSTOMER_ID, "customer_not_on_hold")],
)
def test_blocked_runs_write_only_post_actions(customer_id, check):
    state = customer_quote(request=request(customer_id=customer_id), return_state=True)
    assert state.name == "Blocked" and check in state.message
    run_id = str(state.state_details.flow_run_id)
    with session() as s:
        assert (
            s.exec(select(ProposedAction).where(ProposedAction.flow_run_id == run_id)).first()
            is None
        )
        assert s.exec(select(Quote).where(Quote.flow_run_id == run_id)).first() is None
        log = s.exec(select(WorkflowRunLog).where(WorkflowRunLog.run_id == run_id)).one()
        assert log.status == "blocked" and check in log.summary_json["reason"]
        assert s.exec(select(ReflexionLog).where(ReflexionLog.run_id == run_id)).one()


def test_warnings_are_staged_and_override_carries_everywhere(stack):
    codes = [*DEMO_ITEM_CODES, UNPRICED_ITEM_CODE, UNKNOWN_ITEM_CODE]
    handle = FlowRunHandle(customer_quote, request=request(item_codes=codes))
    run_id = str(handle.wait_paused().id)
    with session() as s:
        gate = s.exec(select(ProposedAction).where(ProposedAction.flow_run_id == run_id)).one()
    warnings = {w["check"]: w["item_codes"] for w in gate.payload["preview"]["warnings"]}
    assert warnings["items_resolved"] == [UNKNOWN_ITEM_CODE]
    assert warnings["pricing_found"] == [UNPRICED_ITEM_CODE]
    assert warnings["margin_floor"]  # the demo set has a line under the 15% floor

    # An override for an item not on the quote is refused: Mike is asked again.
    handle.resume(
        decision="approve", price_overrides=[{"item_code": "NOT-ON-QUOTE", "case_price": "1"}]
    )
    handle.wait_paused()
    target = DEMO_ITEM_CODES[0]
    handle.resume(
        decision="approve",
        price_overrides=[
            {"item_code": target, "case_price": "123.45"},
            {"item_code": UNPRICED_ITEM_CODE, "case_price": "10"},
        ],
    )
    state = handle.join()
    assert state.is_completed(), state.message
    quote = quote_of(run_id)
    with session() as s:
        lines = {
            line.item_code: line
            for line in s.exec(select(QuoteLine).where(QuoteLine.quote_id == quote.id))
        }
        pricing = s.exec(
            select(PricingMaster).where(
                PricingMaster.customer_id == DEMO_CUSTOMER_ID,
                PricingMaster.item_code == target,
                PricingMaster.school_year == DEMO_SCHOOL_YEAR,
            )
        ).one()
        proposal = s.exec(
            select(ProposedPricing).where(
                ProposedPricing.quote_id == quote.id, ProposedPricing.item_code == target
            )
        ).one()
    assert UNKNOWN_ITEM_CODE not in lines and UNPRICED_ITEM_CODE in lines
    assert (
        lines[target].case_price == Decimal("123.45") and lines[target].price_source == "override"
    )
    # The override is proposed pricing until the customer accepts (tests/test_lifecycle.py).
    assert pricing.case_price != Decimal("123.45") and pricing.source != f"quote:{quote.id}"
    assert proposal.new_price == Decimal("123.45") and proposal.status == "proposed"
    assert "123.45" in pdf_text(quote.pdf_key)
    (est,) = estimate_for(stack, quote.id)
    rates = {i["item"]["id"]: i["rate"] for i in est["lines"]}
    assert rates[lines[target].netsuite_item_id] == 123.45


@pytest.mark.usefixtures("fast_ns_retries")
def test_netsuite_500_twice_then_success(stack):
    ns("inject", stack, mode="status", status=500, count=2)
    handle, state = run_approved(request())
    assert state.is_completed(), state.message
    quote = quote_of(handle.run_id)
    assert len(estimate_for(stack, quote.id)) == 1
    with session() as s:
        push = s.exec(select(NsPendingPush).where(NsPendingPush.quote_id == quote.id)).one()
        log = s.exec(select(WorkflowRunLog).where(WorkflowRunLog.run_id == handle.run_id)).one()
        alerts = s.exec(
            select(Event).where(Event.run_id == handle.run_id, Event.type == "alert")
        ).all()
    assert push.status == "applied" and push.attempts == 3
    step = next(st for st in log.summary_json["steps"] if st["name"] == "ns_push")
    assert step["attempts"] == 3 and step["status"] == "completed"
    assert alerts == []


@pytest.mark.usefixtures("fast_ns_retries")
def test_netsuite_down_is_partial_with_one_alert(stack):
    ns("inject", stack, mode="status", status=503, count=50)
    handle, state = run_approved(request())
    assert state.is_failed() and state.name == "Partial" and "ns_push" in state.message
    run_id = handle.run_id
    quote = quote_of(run_id)
    with session() as s:
        push = s.exec(select(NsPendingPush).where(NsPendingPush.quote_id == quote.id)).one()
        log = s.exec(select(WorkflowRunLog).where(WorkflowRunLog.run_id == run_id)).one()
        alerts = s.exec(select(Event).where(Event.run_id == run_id, Event.type == "alert")).all()
        outcome = s.exec(select(Event).where(Event.run_id == run_id, Event.type != "alert")).all()
    assert push.status == "failed" and push.attempts == 3 and "503" in push.last_error
    assert log.status == "partial"
    assert [a.payload["step"] for a in alerts] == ["ns_push"]
    assert [e.type for e in outcome] == ["workflow.partial"]
    assert estimate_for(stack, quote.id) == []
    assert quote.pdf_key  # the other steps still ran


def test_include_pdf_false_skips_pdf():
    handle, state = run_approved(request(include_pdf=False))
    assert state.is_completed(), state.message
    quote = quote_of(handle.run_id)
    assert quote.pdf_key is None
    with session() as s:
        log = s.exec(select(WorkflowRunLog).where(WorkflowRunLog.run_id == handle.run_id)).one()
        checks = {
            v.check_name
            for v in s.exec(
                select(WorkflowVerifyResult).where(WorkflowVerifyResult.run_id == handle.run_id)
            )
        }
    assert (
        next(st for st in log.summary_json["steps"] if st["name"] == "render_pdf")["status"]
        == "skipped"
    )
    assert checks == {"quote_persisted", "email_sent"}


def test_repeating_side_effects_or_the_whole_run_changes_nothing(stack):
    """A task retry after success (or a resumed crashed run) must not duplicate anything;
    nor must the whole finished run started again (one approved run serves both)."""
    from uuid import UUID

    from prefect import get_client
    from prefect.flow_engine import run_flow
    from prefect.states import Scheduled

    from blocks.netsuite import NetSuiteCredentials
    from flows.customer_quote import ApprovalDecision  # noqa: F401  (schema import check)
    from quoteflow.quote import QuotePreview
    from tasks.email import draft_quote_email
    from tasks.netsuite import push_estimate
    from tasks.quotes import write_quote

    handle, state = run_approved(request())
    assert state.is_completed()
    run_id = handle.run_id
    quote = quote_of(run_id)
    with session() as s:
        gate = s.exec(
            select(ProposedAction).where(
                ProposedAction.flow_run_id == run_id,
                ProposedAction.action_type == "workflow_customer_quote",
            )
        ).one()

    # Each side effect repeated, as a retry after success would.
    preview = QuotePreview.model_validate(gate.payload["preview"])
    counts_before = _counts(quote.id)
    assert write_quote.fn(preview, run_id).created is False
    push_estimate.fn(preview, NetSuiteCredentials.load(get_settings().netsuite_block), run_id)
    draft_quote_email.fn(preview, None, run_id)
    assert _counts(quote.id) == counts_before
    assert len(estimate_for(stack, quote.id)) == 1

    # The whole finished run, started again.
    before = {**_counts(quote.id), "estimates": len(ns("estimates", stack)["estimates"])}
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(UUID(run_id), Scheduled(), force=True)
        flow_run = client.read_flow_run(UUID(run_id))
    again = run_flow(
        customer_quote,
        flow_run=flow_run,
        parameters={"request": QuoteRequest(**flow_run.parameters["request"])},
        return_type="state",
    )
    assert again.is_completed(), again.message
    after = {**_counts(quote.id), "estimates": len(ns("estimates", stack)["estimates"])}
    assert after == before
    with session() as s:
        assert len(s.exec(select(Quote).where(Quote.flow_run_id == run_id)).all()) == 1
        assert len(s.exec(select(WorkflowRunLog).where(WorkflowRunLog.run_id == run_id)).all()) == 1


# A revision superseding its quote (new id "<old>-R2", one estimate each) is covered with
# the old estimate's marking in tests/test_lifecycle.py (one pair of runs for both).


def _counts(quote_id: str) -> dict[str, int]:
    with session() as s:

        def n(model, *where):
            return s.exec(select(sa.func.count()).select_from(model).where(*where)).one()

        return {
            "quotes": n(Quote, Quote.id == quote_id),
            "lines": n(QuoteLine, QuoteLine.quote_id == quote_id),
            "pushes": n(NsPendingPush, NsPendingPush.quote_id == quote_id),
            "emails": n(ProposedAction, ProposedAction.entity_ref == f"quote:{quote_id}"),
            "events": n(Event),
            "verify": n(WorkflowVerifyResult),
        }


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"item_codes": []}, "item_codes"),
        ({"school_year": "2026-2027"}, "school_year"),
        ({"item_codes": ["FS-1", "FS-1"]}, "item_codes"),
    ],
)
def test_bad_parameters_fail_before_anything(bad, field):
    params = {
        "customer_id": DEMO_CUSTOMER_ID,
        "item_codes": list(DEMO_ITEM_CODES),
        "school_year": DEMO_SCHOOL_YEAR,
    }
    params.update(bad)
    with session() as s:
        logs_before = s.exec(select(sa.func.count()).select_from(WorkflowRunLog)).one()
    state = customer_quote(request=params, return_state=True)
    assert state.is_failed()
    assert f"request.{field}" in state.message or field in state.message
    with session() as s:
        assert s.exec(select(sa.func.count()).select_from(WorkflowRunLog)).one() == logs_before


def test_approval_api_refuses_bad_overrides_before_resuming():
    from quoteflow.approvals import ApprovalError, approve, get_action

    handle = FlowRunHandle(customer_quote, request=request())
    run_id = str(handle.wait_paused().id)
    with session() as s:
        gate = s.exec(select(ProposedAction).where(ProposedAction.flow_run_id == run_id)).one()
    with pytest.raises(ApprovalError, match="not on this quote: NOPE-1"):
        approve(gate.id, price_overrides={"NOPE-1": 5.0})
    assert get_action(gate.id).status == "pending"
    assert handle.wait_paused().state.name == "Paused"  # still waiting, nothing resumed
    # Below cost (58.40) needs an explicit confirmation; refused, the gate stays pending.
    with pytest.raises(ApprovalError, match="FS-1001: approved price 50.00 is below cost 58.40"):
        approve(gate.id, price_overrides={DEMO_ITEM_CODES[0]: "50"})
    assert get_action(gate.id).status == "pending"
    approve(gate.id, notes="via the API", price_overrides={DEMO_ITEM_CODES[0]: 50.0}, confirm=True)
    assert handle.join().is_completed()
    assert get_action(gate.id).decision_notes == "via the API"
