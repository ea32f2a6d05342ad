"""What Mike's Slack message shows in each state of an action, with no stack: waiting (its
buttons bound to the version shown), changed, expired, decided; a second press's answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from devstack.fake_slack import blocks_text, buttons
from quoteflow.approvals import gate_payload
from quoteflow.models import ActionType, ActionView
from quoteflow.quote import QuoteLineView, QuoteWarning, payload_hash
from quoteflow.slack import render
from quoteflow.slack.service import compose
from tests.fixtures.previews import small_preview

NOW = datetime(2026, 11, 27, 19, 5, tzinfo=UTC)  # 1:05 PM in Chicago


def _gate(status: str = "pending", **fields) -> ActionView:
    preview = small_preview(
        QuoteLineView(
            line_no=1,
            item_code="FS-1001",
            description="Chicken Breast Fillet",
            case_price=Decimal("41.50"),
            cost_basis=Decimal("30.00"),
            margin_pct=Decimal("27.71"),
            price_source="pricing_master",
        ),
        customer_name="Cedar Ridge Unified School District",
        subtotal=Decimal("41.50"),
        warnings=[
            QuoteWarning(
                check="margin_floor", message="FS-1001 margin is thin", item_codes=["FS-1001"]
            )
        ],
        now=NOW,
    )
    payload = gate_payload(preview)
    data = {
        "id": 7,
        "action_type": ActionType.quote_gate,
        "entity_ref": "workflow:customer_quote:run_x",
        "status": status,
        "payload": payload,
        "payload_hash": payload_hash(payload),
        "approver": "mike",
        "decision_notes": None,
        "decided_at": None,
        "approved_payload_hash": None,
        "flow_run_id": None,
        "expires_at": NOW + timedelta(hours=1),
        "created_at": NOW,
    }
    return ActionView(**{**data, **fields})


def test_waiting_message_shows_deadline_warnings_and_bound_buttons():
    gate = _gate()
    blocks = render.waiting_message(
        gate, tz="America/Chicago", now=NOW, shown_hash=gate.payload_hash, page_url="http://p"
    )
    text = blocks_text(blocks)
    assert "Decide by *Fri Nov 27, 2026, 2:05 PM CST* (in 60 min)" in text
    assert "Please check: FS-1001 (Chicken Breast Fillet) would earn 27.71%, under your" in text
    assert "$41.50 per case, margin 27.71%" in text
    pressed = buttons(blocks)
    assert set(pressed) == {render.GATE_APPROVE, render.GATE_REJECT, render.GATE_PRICES}
    value = render.ButtonValue.decode(pressed[render.GATE_APPROVE])
    assert (value.a, value.h) == (7, gate.payload_hash)


def test_changed_payload_message_has_no_buttons():
    gate = _gate()
    blocks, _ = compose(gate, "0" * 64)  # the message showed another version
    assert "changed after this message was sent" in blocks_text(blocks)
    assert buttons(blocks) == {}


def test_expired_gate_message_says_so_without_buttons():
    gate = _gate("expired", decided_at=NOW + timedelta(hours=1))
    blocks, fallback = compose(gate, gate.payload_hash)
    text = blocks_text(blocks)
    assert (
        "Expired at Fri Nov 27, 2026, 2:05 PM CST: nothing was decided, nothing was sent." in text
    )
    assert "needs your approval" not in text
    assert buttons(blocks) == {}
    assert fallback.startswith("Expired at")
    assert render.already_decided(gate, "America/Chicago").startswith("Too late: expired at")


def test_second_press_answer_names_who_and_when():
    gate = _gate("approved", decided_at=NOW, approved_payload=None)
    said = render.already_decided(gate, "America/Chicago")
    assert said == "Already approved by mike at Fri Nov 27, 2026, 1:05 PM CST. Nothing changed."
