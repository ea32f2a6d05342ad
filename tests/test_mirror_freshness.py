"""How old a quote's NetSuite data is, where Mike decides: the mirror_fresh warning, the
age on the preview and the notice, the live hold check's rule and the outcome and notice
of a quote stopped after approval. Pure: no Prefect, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from quoteflow.decision import ApprovalDecision
from quoteflow.mirror.config import load_config
from quoteflow.mirror.hold import customer_status_query, live_block_reason
from quoteflow.models import ActionType, RunStatus
from quoteflow.notices import held_notice, waiting_notice
from quoteflow.outcome import RunOutcome, RunSubject
from quoteflow.presentation import data_age_text, preview_markdown
from quoteflow.quote import (
    CustomerRecord,
    DataAge,
    ItemRecord,
    PricingRecord,
    QuoteContext,
    QuoteRequest,
    apply_price_overrides,
    build_preview,
    freshness_warning,
    pricing_as_of,
)

NOW = datetime(2026, 12, 4, 20, 17, tzinfo=UTC)  # 2:17 PM in Chicago
TZ = "America/Chicago"


def _preview(age: DataAge | None, max_age: float | None = 24):
    context = QuoteContext(
        customer=CustomerRecord(id="1107", name="Maple Valley ISD", entitystatus="active"),
        items=[
            ItemRecord(
                item_code="FS-1",
                netsuite_item_id="11",
                description="Trays",
                catalog="fs",
                pack_size=1,
                unit="case",
            )
        ],
        pricing=[
            PricingRecord(item_code="FS-1", case_price=Decimal("10"), cost_basis=Decimal("5"))
        ],
        data_age=age,
    )
    request = QuoteRequest(customer_id="1107", item_codes=["FS-1"], school_year="2026-27")
    return build_preview(
        request,
        context,
        quote_id="Q1",
        supersedes_quote_id=None,
        now=NOW,
        validity_days=30,
        margin_floor=15,
        max_data_age_hours=max_age,
    )


def test_mirror_fresh_fires_for_a_stale_customer_or_stale_prices_only():
    fresh = DataAge(customer_as_of=NOW - timedelta(hours=2), pricing_as_of=NOW - timedelta(hours=3))
    assert freshness_warning(fresh, now=NOW, max_age_hours=24) is None
    old_customer = fresh.model_copy(update={"customer_as_of": NOW - timedelta(hours=30)})
    warning = freshness_warning(old_customer, now=NOW, max_age_hours=24)
    assert warning is not None and warning.check == "mirror_fresh"
    assert warning.message.startswith("NetSuite data for the customer is 30 h old, over the 24 h")
    old_prices = fresh.model_copy(update={"pricing_as_of": NOW - timedelta(hours=25)})
    assert (
        "for prices is 25 h old" in freshness_warning(old_prices, now=NOW, max_age_hours=24).message
    )


def test_never_synced_data_has_no_age_and_does_not_warn():
    assert freshness_warning(DataAge(), now=NOW, max_age_hours=1) is None
    assert freshness_warning(None, now=NOW, max_age_hours=1) is None
    # Only the customer is known (prices never synced): judged on what is known.
    half = DataAge(customer_as_of=NOW - timedelta(hours=2))
    assert freshness_warning(half, now=NOW, max_age_hours=1).check == "mirror_fresh"


def test_a_price_is_current_as_of_its_own_write_or_the_last_sync():
    synced = NOW - timedelta(hours=5)
    imported = NOW - timedelta(hours=1)
    seeded = NOW - timedelta(days=400)
    # NetSuite rows: as of the last sync; an imported row: its own write when later.
    assert pricing_as_of([("netsuite", seeded), ("csv:p.csv", imported)], synced) == synced
    assert pricing_as_of([("csv:p.csv", imported)], synced) == imported
    assert pricing_as_of([("csv:p.csv", seeded)], synced) == synced
    # Never synced: NetSuite rows have no known age (seeded data), imported rows do.
    assert pricing_as_of([("netsuite", seeded)], None) is None
    assert pricing_as_of([("netsuite", seeded), ("csv:p.csv", imported)], None) == imported


def test_the_warning_stays_on_the_preview_when_mike_sets_a_price():
    stale = DataAge(customer_as_of=NOW - timedelta(hours=48), pricing_as_of=NOW)
    preview = _preview(stale)
    assert [w.check for w in preview.warnings] == ["mirror_fresh"]
    priced = apply_price_overrides(preview, {"FS-1": Decimal("4.00")}, margin_floor=15)
    assert {w.check for w in priced.warnings} == {"margin_floor", "mirror_fresh"}
    assert _preview(DataAge()).warnings == []


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (
            DataAge(customer_as_of=NOW - timedelta(minutes=12), pricing_as_of=NOW),
            "NetSuite data as of 2:05 PM, 12 min ago",
        ),
        (
            DataAge(customer_as_of=NOW - timedelta(days=3)),
            "NetSuite data as of Tue Dec 1, 2026, 2:17 PM CST, 3 days ago",
        ),
        (DataAge(), "NetSuite data: never synced from NetSuite (local data, age unknown)"),
    ],
)
def test_age_reads_in_mikes_time_zone(age, expected):
    assert data_age_text(age, now=NOW, tz=TZ) == expected


def test_preview_and_notice_say_how_old_the_data_is():
    age = DataAge(customer_as_of=NOW - timedelta(minutes=12), pricing_as_of=NOW)
    preview = _preview(age)
    assert "NetSuite data as of 2:05 PM, 12 min ago." in preview_markdown(preview, tz=TZ, now=NOW)
    notice = waiting_notice(
        action_id=7,
        action_type=ActionType.quote_gate,
        payload={"preview": preview.model_dump(mode="json")},
        expires_at=NOW + timedelta(hours=1),
        link="http://127.0.0.1/a/x",
        tz=TZ,
        now=NOW,
    )
    assert "NetSuite data as of 2:05 PM, 12 min ago." in notice.body


def test_live_hold_rule_and_query_follow_the_mirror_config():
    customers = load_config().tables["customers"]
    status = customers.columns["entitystatus"]
    who = "Maple Valley ISD (1107)"
    clear = [{"mirror_id": "1107", status: "active", "isinactive": "F"}]
    assert live_block_reason(who, clear, customers) is None
    held = [{"mirror_id": "1107", status: "hold", "isinactive": "F"}]
    assert live_block_reason(who, held, customers) == f"customer {who} is on hold in NetSuite now"
    inactive = [{"mirror_id": "1107", status: "active", "isinactive": "T"}]
    assert live_block_reason(who, inactive, customers) == (
        f"customer {who} is inactive in NetSuite now"
    )
    assert live_block_reason(who, [], customers) == f"customer {who} is not in NetSuite"
    query = customer_status_query("1107", customers)
    assert query.startswith(f"SELECT {customers.id} AS mirror_id")
    assert f"WHERE {customers.id} = 1107 ORDER BY" in query
    assert "'hold'" in query  # the mirror's own mapping of the hold
    with pytest.raises(ValueError, match="letters, digits"):
        customer_status_query("1107' OR '1'='1", customers)


def test_a_quote_stopped_after_approval_reads_as_blocked_with_its_reason():
    preview = _preview(DataAge())
    reason = "customer Maple Valley ISD (1107) is on hold in NetSuite now"
    decision = ApprovalDecision(decision="approve", notes="ok")
    outcome = RunOutcome.held_after_approval(RunSubject.of_preview(preview), reason, decision, 9)
    assert outcome.status == RunStatus.blocked and outcome.steps == []
    assert outcome.final_state.name == "Blocked" and outcome.final_state.message == reason
    assert "Mike approved quote Q1, but it was blocked before any write: customer" in (
        outcome.narrative
    )
    assert outcome.summary["gate_action_id"] == 9 and outcome.event_type == "workflow.failed"
    notice = held_notice(
        action_id=9, payload={"preview": preview.model_dump(mode="json")}, reason=reason
    )
    assert notice.subject == "Not sent: Quote Q1 for Maple Valley ISD"
    assert notice.body.startswith(
        "You approved quote Q1 for Maple Valley ISD, but it was stopped before anything was "
        f"written: {reason}."
    )
    assert "Nothing was sent to the customer or to NetSuite" in notice.body
