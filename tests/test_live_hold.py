"""The live hold check on the real stack: a customer put on hold in NetSuite after Mike's
gate was staged is caught after his approval, before any write; NetSuite unreachable
blocks the same way after the step's retries. Nothing is written either way, and Mike is
told why."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import Session, select

from flows.customer_quote import customer_quote
from quoteflow.approvals import find_action, gate_entity_ref
from quoteflow.db import get_engine
from quoteflow.models import ActionType, NsPendingPush, ProposedAction, Quote, WorkflowRunLog
from quoteflow.settings import get_settings
from tests.fixtures.demo import DEMO_CUSTOMER_ID, demo_request
from tests.fixtures.flow_runner import FlowRunHandle


@pytest.fixture
def hold_env(stack, seeded_db, monkeypatch):
    """Fast polling and fast retries of the check; NetSuite healthy and the customer clear
    before and after."""
    from tasks.netsuite import check_live_hold

    monkeypatch.setenv("QUOTEFLOW_PAUSE_POLL_SECONDS", "0.2")
    monkeypatch.setattr(
        check_live_hold, "retry_delay_seconds", [0.1] * len(check_live_hold.retry_delay_seconds)
    )
    get_settings.cache_clear()
    fake(stack, "reset")
    set_hold(stack, DEMO_CUSTOMER_ID, False)
    yield
    fake(stack, "reset")
    set_hold(stack, DEMO_CUSTOMER_ID, False)
    get_settings.cache_clear()


def fake(stack, action: str, **body):
    response = httpx.post(f"{stack.netsuite.base_url}/_fake/{action}", json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def set_hold(stack, customer_id: str, on_hold: bool) -> None:
    """Put the customer on credit hold in the fake NetSuite, or take it off (its control
    API; the mirror maps creditholdoverride 'ON' to entitystatus 'hold')."""
    fake(
        stack,
        "suiteql/customer",
        rows=[{"id": int(customer_id), "creditholdoverride": "ON" if on_hold else "AUTO"}],
    )


def nothing_written(stack, run_id: str) -> WorkflowRunLog:
    """No quote row, outbox row, email draft or estimate for the run's quote; its run log."""
    gate = find_action(ActionType.quote_gate, gate_entity_ref(run_id))
    assert gate is not None and gate.status == "approved"
    quote_id = gate.payload["preview"]["quote_id"]
    with Session(get_engine()) as s:
        assert s.get(Quote, quote_id) is None
        assert (
            s.exec(select(NsPendingPush).where(NsPendingPush.quote_id == quote_id)).first() is None
        )
        assert (
            s.exec(
                select(ProposedAction).where(ProposedAction.entity_ref == f"quote:{quote_id}")
            ).first()
            is None
        )
        log = s.exec(select(WorkflowRunLog).where(WorkflowRunLog.run_id == run_id)).one()
    estimates = httpx.get(f"{stack.netsuite.base_url}/_fake/estimates", timeout=10).json()
    assert not [e for e in estimates["estimates"] if e["external_id"] == quote_id]
    return log


def test_hold_after_approval_blocks_the_fan_out_and_mike_is_told(stack, hold_env, smtp_messages):
    handle = FlowRunHandle(customer_quote, request=demo_request())
    run_id = str(handle.wait_paused().id)
    set_hold(stack, DEMO_CUSTOMER_ID, True)  # after the gate was staged
    handle.resume(decision="approve", notes="fine by me")
    state = handle.join()
    assert state.name == "Blocked", state.message
    assert "is on hold in NetSuite now" in state.message

    log = nothing_written(stack, run_id)
    assert log.status == "blocked" and "on hold in NetSuite now" in log.summary_json["reason"]
    told = smtp_messages.wait_for(1, to=get_settings().approver_email, timeout=20)
    held = [m for m in told if "Not sent: Quote" in str(m["Subject"])]
    assert held, [m["Subject"] for m in told]
    assert "is on hold in NetSuite now" in held[0].get_content()
    # The notice that asked for the approval said how old the data was.
    asked = [m for m in told if "needs your approval" in str(m["Subject"])]
    assert asked and "NetSuite data" in asked[0].get_content()


def test_netsuite_unreachable_after_approval_blocks_after_the_retries(stack, hold_env):
    handle = FlowRunHandle(customer_quote, request=demo_request())
    run_id = str(handle.wait_paused().id)
    attempts = get_settings().retry_attempts
    fake(stack, "inject", mode="status", status=503, count=attempts, api="suiteql")
    handle.resume(decision="approve")
    state = handle.join()
    assert state.name == "Blocked", state.message
    assert "NetSuite could not confirm the customer's status" in state.message
    log = nothing_written(stack, run_id)
    assert log.status == "blocked"
    # Every attempt asked NetSuite (and was refused); nothing was pushed after them.
    recent = httpx.get(f"{stack.netsuite.base_url}/_fake/requests", timeout=10).json()["recent"]
    asked = [r for r in recent if r["path"].endswith("/query/v1/suiteql")]
    assert [r["status"] for r in asked] == [503] * attempts
    assert not [r for r in recent if "/record/v1/estimate" in r["path"]]
