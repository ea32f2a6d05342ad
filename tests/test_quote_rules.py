"""Pure quote rules, tested without Prefect or a database."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from quoteflow.models import RunStatus
from quoteflow.outcome import RunOutcome, RunSubject
from quoteflow.quote import (
    CustomerRecord,
    ItemRecord,
    PricingRecord,
    QuoteContext,
    QuoteRequest,
    apply_price_overrides,
    build_preview,
    check_blocking,
    payload_hash,
    quote_id_for_run,
    revision_id,
)
from quoteflow.run_rules import StepOutcome, fanout_status, retry_delays, verify_checks_for

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _context(**over) -> QuoteContext:
    base = QuoteContext(
        customer=CustomerRecord(
            id="1107", name="Cedar Falls USD", entitystatus="active", email="a@x.example"
        ),
        items=[
            ItemRecord(
                item_code="FS-1",
                netsuite_item_id="11",
                description="Trays",
                catalog="fs",
                pack_size=500,
                unit="case",
            ),
            ItemRecord(
                item_code="FS-2",
                netsuite_item_id="12",
                description="Forks",
                catalog="fs",
                pack_size=1000,
                unit="case",
            ),
            ItemRecord(
                item_code="FS-3",
                netsuite_item_id="13",
                description="Cups",
                catalog="fs",
                pack_size=100,
                unit="case",
            ),
        ],
        pricing=[
            PricingRecord(
                item_code="FS-1",
                case_price=Decimal("40.00"),
                cost_basis=Decimal("30.00"),
                margin_pct=Decimal("25"),
            ),
            PricingRecord(
                item_code="FS-2",
                case_price=Decimal("20.00"),
                cost_basis=Decimal("18.00"),
                margin_pct=Decimal("10"),
            ),
        ],
    )
    return base.model_copy(update=over)


def _preview(codes=("FS-1", "FS-2", "FS-3", "ZZ-9")):
    req = QuoteRequest(customer_id="1107", item_codes=list(codes), school_year="2026-27")
    return build_preview(
        req,
        _context(),
        quote_id="Q1",
        supersedes_quote_id=None,
        now=NOW,
        validity_days=30,
        margin_floor=15,
    )


def test_request_rejects_bad_fields_by_name():
    with pytest.raises(ValidationError) as e:
        QuoteRequest(customer_id="1107", item_codes=[], school_year="2026-27")
    assert e.value.errors()[0]["loc"] == ("item_codes",)
    with pytest.raises(ValidationError) as e:
        QuoteRequest(customer_id="1107", item_codes=["A", "A"], school_year="2026-27")
    assert e.value.errors()[0]["loc"] == ("item_codes",) and "repeated: A" in str(e.value)
    with pytest.raises(ValidationError) as e:
        QuoteRequest(customer_id="1107", item_codes=["A"], school_year="2026-28")
    assert e.value.errors()[0]["loc"] == ("school_year",) and "consecutive" in str(e.value)
    with pytest.raises(ValidationError) as e:
        QuoteRequest(
            customer_id="1107", item_codes=["A'; DROP TABLE quotes;--"], school_year="2026-27"
        )
    assert e.value.errors()[0]["loc"][0] == "item_codes"
    with pytest.raises(ValidationError):
        QuoteRequest(
            customer_id="1107", item_codes=[f"I{i}" for i in range(201)], school_year="2026-27"
        )


def test_blocking_checks():
    assert check_blocking(_context()) == []
    assert check_blocking(_context(customer=None))[0].check == "customer_exists"
    hold = _context(customer=CustomerRecord(id="9", name="X", entitystatus="hold"))
    assert check_blocking(hold)[0].check == "customer_not_on_hold"
    assert check_blocking(_context(), "quote_id: quote Q0 is accepted")[0].check == (
        "quote_id_usable"
    )
    assert check_blocking(hold, "quote_id: taken")[0].check == "customer_not_on_hold"
    gone = _context(
        customer=CustomerRecord(id="9", name="X", entitystatus="active", isinactive=True)
    )
    (reason,) = check_blocking(gone)
    assert reason.check == "customer_exists" and "inactive in NetSuite" in reason.message


def test_preview_lines_totals_and_warnings():
    p = _preview()
    assert [line.item_code for line in p.quotable_lines] == ["FS-1", "FS-2"]
    assert p.subtotal == Decimal("60.00") and p.cost_total == Decimal("48.00")
    assert p.margin_pct == Decimal("20.00")
    checks = {w.check: w.item_codes for w in p.warnings}
    assert checks == {
        "items_resolved": ["ZZ-9"],
        "pricing_found": ["FS-3"],
        "margin_floor": ["FS-2"],
    }
    fs2 = p.lines[1]
    assert fs2.margin_pct == Decimal("10.00") and "below_margin_floor" in fs2.flags


def test_overrides_reprice_and_validate():
    p = apply_price_overrides(_preview(), {"FS-2": 25.0, "FS-3": 9.99}, margin_floor=15)
    fs2, fs3 = p.lines[1], p.lines[2]
    assert fs2.case_price == Decimal("25.00") and fs2.price_source == "override"
    assert fs2.margin_pct == Decimal("28.00")
    assert fs3.quotable and fs3.cost_basis is None
    assert p.subtotal == Decimal("74.99")
    assert "margin_floor" not in {w.check for w in p.warnings}
    with pytest.raises(ValueError, match="not on this quote: NOPE"):
        apply_price_overrides(_preview(), {"NOPE": 1.0}, margin_floor=15)
    with pytest.raises(ValueError, match="cannot be priced: ZZ-9"):
        apply_price_overrides(_preview(), {"ZZ-9": 1.0}, margin_floor=15)
    with pytest.raises(ValueError, match=">= 0"):
        apply_price_overrides(_preview(), {"FS-1": -1.0}, margin_floor=15)


def test_ids_hash_and_retry_delays():
    assert quote_id_for_run("0b7c5e1a-2f3d-4c5b-9a8e-112233445566", "2026-27") == "Q2627-0B7C5E1A2F"
    assert revision_id("Q1", []) == "Q1-R2"
    assert revision_id("Q1-R2", ["Q1-R2", "Q1-R3"]) == "Q1-R4"
    assert payload_hash({"b": 1, "a": 2}) == payload_hash({"a": 2, "b": 1})
    assert payload_hash({"a": 1}) != payload_hash({"a": 2})
    assert retry_delays(3, 1.5, 30) == [1.5, 3.0]
    assert retry_delays(8, 1.5, 30)[-1] == 30


def test_fanout_status_and_narrative():
    ok = [StepOutcome(name=n, status="completed") for n in ("write_quote", "ns_push")]
    assert fanout_status(ok) == RunStatus.completed
    part = [ok[0], StepOutcome(name="ns_push", status="failed", error="503")]
    assert fanout_status(part) == RunStatus.partial
    assert fanout_status([StepOutcome(name="write_quote", status="failed")]) == RunStatus.failed
    skipped = [*ok, StepOutcome(name="render_pdf", status="skipped")]
    assert fanout_status(skipped) == RunStatus.completed
    subject = RunSubject(
        customer_id="1107", customer_name="Cedar", school_year="2026-27", quote_id="Q1", lines=2
    )
    text = RunOutcome.fanned_out(subject, part).narrative
    assert "Q1" in text and "ns_push (503)" in text


def test_verify_checks_windows():
    specs = verify_checks_for(
        quote_id="Q1", pdf_key="quotes/Q1.pdf", finished_at=NOW, deadline_minutes=60
    )
    assert [s.check_name for s in specs] == ["quote_persisted", "pdf_stored", "email_sent"]
    assert (specs[1].due_at - NOW).total_seconds() == 10
    assert all((s.deadline - NOW).total_seconds() == 3600 for s in specs)
    assert "pdf_stored" not in [
        s.check_name
        for s in verify_checks_for(
            quote_id="Q1", pdf_key=None, finished_at=NOW, deadline_minutes=60
        )
    ]


def test_a_quote_is_never_shown_written_before_the_approval_that_made_it():
    from datetime import UTC, datetime, timedelta

    from quoteflow.quote import written_at

    priced = datetime(2026, 12, 4, 0, 15, tzinfo=UTC)
    approved = priced + timedelta(minutes=4)
    assert written_at(priced, approved) == approved
    assert written_at(priced, None) == priced
    assert written_at(approved + timedelta(seconds=5), approved) == approved + timedelta(seconds=5)
    assert written_at(priced.replace(tzinfo=None), approved) == approved  # naive is UTC
