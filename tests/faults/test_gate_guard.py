"""No input can kill a waiting gate, and a gate whose run ends is closed, not stranded.

Through Prefect's own resume endpoint (``prefect.flow_runs.resume_flow_run``, what the
Prefect UI's Resume form calls): inputs the server accepts but the rules refuse, six in a
row and a padded duplicate item code, each re-ask; the gate stays decidable from every
channel; then ``"<price>\\n"`` is accepted as that price and the run completes. A run
cancelled while its gate waits closes the gate with a reason and one alert."""

from __future__ import annotations

import time
import warnings

import sqlalchemy as sa
from prefect import get_client
from prefect.flow_runs import resume_flow_run
from prefect.states import Cancelled
from sqlmodel import select

from quoteflow import approvals
from quoteflow.approval_page import create_app
from quoteflow.approvals import ApprovalError, get_action, staged_preview
from quoteflow.gate_close import gate_closed_key
from quoteflow.models import Event, Quote, QuoteLine
from quoteflow.notices import notice_key
from quoteflow.quote import QuoteRequest
from tests.faults.invariants import assert_one_clean_quote, session
from tests.fixtures.demo import DEMO_CUSTOMER_ID, DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR
from tests.fixtures.flow_runner import paused_quote
from tests.fixtures.page import KEY, link_for

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient


def _request() -> QuoteRequest:
    return QuoteRequest(
        customer_id=DEMO_CUSTOMER_ID, item_codes=list(DEMO_ITEM_CODES), school_year=DEMO_SCHOOL_YEAR
    )


def _pause_keys(run_id: str) -> set[str]:
    with get_client(sync_client=True) as client:
        return set(client.read_flow_run(run_id).empirical_policy.pause_keys or ())


def _wait_for_round(handle, run_id: str, round_no: int, timeout: float = 60) -> None:
    key = f"approval-{round_no}-hot"
    deadline = time.monotonic() + timeout
    while not (key in _pause_keys(run_id) and handle.wait_paused().state.is_paused()):
        assert time.monotonic() < deadline, f"no round {round_no}: {_pause_keys(run_id)}"
        time.sleep(0.2)


def _decidable_everywhere(gate_id: int) -> None:
    gate = get_action(gate_id)
    assert gate.status == "pending"
    approvals._ensure_waiting(gate)  # what the CLI, the page and links check first
    with TestClient(create_app(link_key=KEY), base_url="http://127.0.0.1") as page:
        shown = page.get(f"/actions/{gate_id}")
        assert shown.status_code == 200 and f'formaction="/actions/{gate_id}/approve"' in shown.text
        assert page.get(link_for(gate)).status_code == 200


def test_refused_inputs_re_ask_and_a_trailing_newline_price_is_the_price(fault_env) -> None:
    handle, run_id, gate = paused_quote(_request())
    line = next(li for li in staged_preview(gate).lines if li.case_price is not None)
    code = line.item_code
    refused = [
        {"decision": "approve", "approver": "nobody"},  # not a configured approver
        {"decision": "approve", "price_overrides": [{"item_code": "NO-SUCH", "case_price": "1"}]},
        {"decision": "approve", "price_overrides": [{"item_code": code, "case_price": "0"}]},
        {"decision": "reject", "approver": "nobody"},
        {"decision": "approve", "approver": "Mallory"},
        {"decision": "approve", "price_overrides": [{"item_code": "ZZ-0", "case_price": "2"}]},
        # The same item twice, once padded: refused, not one price silently dropped.
        {
            "decision": "approve",
            "confirm": True,
            "price_overrides": [
                {"item_code": code, "case_price": "41.50"},
                {"item_code": f"{code} ", "case_price": "39.00"},
            ],
        },
    ]
    for n, run_input in enumerate(refused, start=1):
        resume_flow_run(handle.wait_paused().id, run_input=run_input)
        # The run reads it, refuses it and waits again under the next round's key.
        _wait_for_round(handle, run_id, n + 1)
        assert get_action(gate.id).status == "pending"
    _decidable_everywhere(gate.id)

    price = f"{line.case_price}\n"
    run = handle.wait_paused()
    resume_flow_run(
        run.id,
        run_input={
            "decision": "approve",
            "confirm": True,
            "notes": "after seven refused inputs",
            "price_overrides": [{"item_code": code, "case_price": price}],
        },
    )
    state = handle.join()
    assert state.is_completed(), state.message
    quote = assert_one_clean_quote(fault_env, run_id)
    with session() as s:
        got = s.exec(
            select(QuoteLine).where(QuoteLine.quote_id == quote.id, QuoteLine.item_code == code)
        ).one()
    assert got.case_price == line.case_price
    decided = get_action(gate.id)
    assert decided.status == "approved" and decided.decision_notes == "after seven refused inputs"


def test_a_run_cancelled_while_its_gate_waits_closes_the_gate_and_tells_mike(fault_env) -> None:
    handle, run_id, gate = paused_quote(_request())
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run_id, Cancelled(message="cancelled from the UI"), force=True)
    handle.join()

    closed = get_action(gate.id)
    assert closed.status == "expired" and closed.approver == "quoteflow"
    assert closed.decision_notes and closed.decision_notes.startswith(
        "closed: its run ended before a decision"
    )
    with session() as s:
        alerts = s.exec(select(Event).where(Event.run_id == run_id, Event.type == "alert")).all()
        covered = s.exec(
            sa.select(Event.id).where(Event.idempotency_key == notice_key("expired", gate.id))
        ).all()
        quotes = s.exec(select(Quote).where(Quote.flow_run_id == run_id)).all()
    assert [a.idempotency_key for a in alerts] == [gate_closed_key(gate.id)]
    assert alerts[0].payload["headline"].endswith("can no longer be approved")
    assert f"quoteflow actions reopen {gate.id}" in alerts[0].payload["what_to_do"]
    assert len(covered) == 1  # the expiry sweep does not tell Mike a second time
    assert quotes == []
    # Every channel now says so instead of offering a decision that goes nowhere.
    try:
        approvals.approve(gate.id)
    except ApprovalError as exc:
        assert "expired" in str(exc)
    else:
        raise AssertionError("a closed gate was approved")
