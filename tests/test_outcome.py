"""The outcome record of a customer-quote run (quoteflow.outcome): pure, no stack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from quoteflow.approvals import gate_payload
from quoteflow.decision import ApprovalDecision
from quoteflow.models import ActionView, RunStatus
from quoteflow.outcome import RunOutcome, RunSubject, stranded_reason
from quoteflow.quote import (
    BlockReason,
    CustomerRecord,
    ItemRecord,
    PricingRecord,
    QuoteContext,
    QuotePreview,
    QuoteRequest,
    build_preview,
)
from quoteflow.run_rules import StepOutcome

NOW = datetime(2026, 11, 27, 13, 5, tzinfo=UTC)
REQUEST = QuoteRequest(customer_id="1107", item_codes=["FS-1", "FS-2"], school_year="2026-27")
# The keys every run log summary has carried (tests and the reconciler read them).
SUMMARY_KEYS = {
    "status",
    "customer_id",
    "school_year",
    "quote_id",
    "lines",
    "subtotal",
    "warnings",
    "reason",
    "gate_action_id",
    "decision",
    "steps",
}


def preview() -> QuotePreview:
    context = QuoteContext(
        customer=CustomerRecord(id="1107", name="Cedar Falls USD", entitystatus="active"),
        items=[
            ItemRecord(
                item_code=code,
                netsuite_item_id=str(n),
                description=code,
                catalog="fs",
                pack_size=100,
                unit="case",
            )
            for n, code in enumerate(REQUEST.item_codes, start=11)
        ],
        pricing=[
            PricingRecord(
                item_code="FS-1", case_price=Decimal("40.00"), cost_basis=Decimal("30.00")
            ),
            # 10% margin, under the 15% floor: a warning on the preview.
            PricingRecord(
                item_code="FS-2", case_price=Decimal("20.00"), cost_basis=Decimal("18.00")
            ),
        ],
    )
    return build_preview(
        REQUEST,
        context,
        quote_id="Q2627-ABC",
        supersedes_quote_id=None,
        now=NOW,
        validity_days=30,
        margin_floor=15,
    )


def gate(payload: dict, *, expires_at: datetime | None = NOW) -> ActionView:
    return ActionView(
        id=41,
        action_type="workflow_customer_quote",
        entity_ref="workflow:customer_quote:run_x",
        status="expired",
        payload=payload,
        payload_hash="h",
        approver="mike",
        decision_notes=None,
        decided_at=None,
        approved_payload_hash=None,
        flow_run_id=None,
        expires_at=expires_at,
        created_at=NOW - timedelta(hours=1),
    )


def steps(*failed: str) -> list[StepOutcome]:
    names = ("write_quote", "render_pdf", "send_email", "ns_push", "ar_forecast_touch")
    return [
        StepOutcome(name=n, status="failed", error="503")
        if n in failed
        # A failed write leaves the steps after it not run.
        else StepOutcome(name=n, status="not_run", error="an upstream step failed")
        if "write_quote" in failed
        else StepOutcome(name=n, status="completed")
        for n in names
    ]


@pytest.fixture
def mikes_zone(monkeypatch):
    """Times in reasons are said in Mike's time zone: Chicago here."""
    from quoteflow.settings import get_settings

    monkeypatch.setenv("QUOTEFLOW_LOCAL_TIMEZONE", "America/Chicago")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("mikes_zone")
def test_expired_reads_the_same_whether_the_run_or_the_sweep_records_it():
    p = preview()
    assert p.warnings  # the margin warning travels with both records
    closed = gate(gate_payload(p))
    by_run = RunOutcome.expired(RunSubject.of(REQUEST, p), closed)  # paused: the run itself
    by_sweep = RunOutcome.expired(RunSubject.of_gate_payload(closed.payload), closed)
    assert by_run == by_sweep
    assert by_run.summary == by_sweep.summary and by_run.narrative == by_sweep.narrative
    assert by_run.summary["reason"] == "no decision before Fri Nov 27, 2026, 7:05 AM CST"
    assert by_run.summary["gate_action_id"] == 41 and by_run.summary["lines"] == 2
    assert by_run.event_type == "workflow.failed"
    assert "No decision on quote Q2627-ABC within the approval window; it expired." in (
        by_run.narrative
    )
    assert by_run.narrative.startswith("Customer quote for Cedar Falls USD (1107)")
    final = by_run.final_state
    assert (final.completed, final.name, final.message) == (False, "Expired", by_run.reason)


def test_a_gate_payload_that_is_not_a_whole_preview_gives_what_it_names():
    partial = {"preview": {"quote_id": "Q-HK-1", "customer_id": "1107", "school_year": "2026-27"}}
    subject = RunSubject.of_gate_payload(partial)
    assert (subject.quote_id, subject.customer_id, subject.lines) == ("Q-HK-1", "1107", 0)
    assert RunSubject.of_gate_payload({}) == RunSubject()
    with pytest.raises(ValueError, match="no approval window"):
        RunOutcome.expired(subject, gate(partial, expires_at=None))


def test_every_outcome_keeps_the_summary_keys_and_its_event():
    subject = RunSubject.of(REQUEST, preview())
    approve = ApprovalDecision(decision="approve", notes="ok")
    outcomes = {
        "blocked": RunOutcome.blocked(
            RunSubject.of(REQUEST), [BlockReason(check="customer_exists", message="no customer")]
        ),
        "rejected": RunOutcome.rejected(
            subject, ApprovalDecision(decision="reject", notes="wrong items"), 41
        ),
        "completed": RunOutcome.fanned_out(subject, steps(), approve, 41),
        "partial": RunOutcome.fanned_out(subject, steps("ns_push"), approve, 41),
        "failed": RunOutcome.fanned_out(subject, steps("write_quote"), approve, 41),
        "crashed": RunOutcome.crashed("run Crashed since 13:05:00Z: worker lost"),
    }
    for status, outcome in outcomes.items():
        assert set(outcome.summary) >= SUMMARY_KEYS, status
        expected = "failed" if status == "crashed" else status
        assert outcome.summary["status"] == outcome.status.value == expected
        assert outcome.tags[0] == "customer_quote"
    assert outcomes["completed"].event_type == "workflow.completed"
    assert outcomes["partial"].event_type == "workflow.partial"
    assert {outcomes[s].event_type for s in ("blocked", "rejected", "failed", "crashed")} == {
        "workflow.failed"
    }


def test_final_states_and_narratives():
    subject = RunSubject.of(REQUEST, preview())
    approve = ApprovalDecision(decision="approve", notes="looks right")

    blocked = RunOutcome.blocked(
        RunSubject.of(REQUEST, customer_name="Cedar Falls USD"),
        [BlockReason(check="customer_not_on_hold", message="on hold")],
    )
    assert blocked.reason == "customer_not_on_hold: on hold"
    assert blocked.final_state.model_dump() == {
        "completed": True,
        "name": "Blocked",
        "message": "customer_not_on_hold: on hold",
    }
    assert "Blocked before any write: customer_not_on_hold: on hold." in blocked.narrative

    rejected = RunOutcome.rejected(
        subject, ApprovalDecision(decision="reject", notes="wrong items"), 41
    )
    assert rejected.final_state.name == "Rejected"
    assert rejected.final_state.message == "wrong items"
    assert "Mike rejected quote Q2627-ABC: wrong items." in rejected.narrative
    silent = RunOutcome.rejected(subject, ApprovalDecision(decision="reject"), 41)
    assert silent.final_state.message == "rejected by Mike"

    done = RunOutcome.fanned_out(subject, steps(), approve, 41)
    assert done.quote_written and done.final_state.completed
    assert done.final_state.message == "quote Q2627-ABC done: 5 steps"
    assert "approved by Mike. Mike's notes: looks right." in done.narrative
    assert done.summary["decision"]["notes"] == "looks right"
    assert "metadata" not in done.summary["decision"]

    partial = RunOutcome.fanned_out(subject, steps("ns_push"), approve, 41)
    assert partial.status == RunStatus.partial and partial.quote_written
    assert (partial.final_state.name, partial.final_state.message) == (
        "Partial",
        "partial: failed steps: ns_push",
    )
    assert "Failed: ns_push (503)." in partial.narrative

    unwritten = RunOutcome.fanned_out(subject, steps("write_quote"), approve, 41)
    assert unwritten.status == RunStatus.failed and not unwritten.quote_written
    assert unwritten.final_state.name == "Failed"

    error = RunOutcome.failed(RunSubject.of(REQUEST), RuntimeError("database gone"))
    assert error.reason == "RuntimeError: database gone"
    assert error.narrative.endswith("Failed: RuntimeError: database gone.")
    assert "approved by Mike" not in error.narrative  # it never reached the gate


@pytest.mark.usefixtures("mikes_zone")
def test_a_crash_keeps_what_the_run_recorded_and_its_request_wins():
    before = RunOutcome.fanned_out(
        RunSubject.of(REQUEST, preview()),
        steps("ns_push"),
        ApprovalDecision(decision="approve"),
        41,
    ).summary
    reason = stranded_reason("Crashed", NOW, "worker lost")
    assert reason == "run Crashed since Fri Nov 27, 2026, 7:05 AM CST: worker lost"
    crashed = RunOutcome.crashed(
        reason, previous=before, request={"customer_id": "1107", "school_year": "2027-28"}
    )
    summary = crashed.summary
    assert summary["status"] == "failed" and summary["reason"] == reason
    assert summary["steps"] == before["steps"] and summary["gate_action_id"] == 41
    assert summary["quote_id"] == "Q2627-ABC" and summary["school_year"] == "2027-28"
    assert crashed.tags == ["customer_quote", "quote", "customer:1107", "school_year:2027-28"]
    assert (
        "The run ended abnormally: run Crashed since Fri Nov 27, 2026, 7:05 AM CST: worker lost."
        in (crashed.narrative)
    )
    # Nothing recorded yet (the run crashed before its first summary): the request names it.
    early = RunOutcome.crashed("run Cancelled since 13:05:00Z", request=REQUEST.model_dump())
    assert early.narrative.startswith("Customer quote for customer 1107, school year 2026-27.")
    assert (
        stranded_reason("Pending", NOW, None) == "run Pending since Fri Nov 27, 2026, 7:05 AM CST"
    )
