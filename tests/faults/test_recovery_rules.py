"""Recovery without a worker: a decided gate whose resume was lost is resumed by the
reconciler; re-drives are capped and dead-letter with one alert; a NetSuite refusal is
dead-lettered once; a later outcome gets its own ledger key."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from flows.customer_quote import customer_quote
from flows.ns_push_retry import ns_push_retry
from quoteflow import ledger, recovery
from quoteflow.approvals import decide, find_action, gate_entity_ref
from quoteflow.models import ActionType, Event, NsPendingPush, RecoveryStatus, RunRecovery
from quoteflow.netsuite import NetSuiteRejectedError
from quoteflow.quote import QuoteRequest
from quoteflow.recovery import redrive_decision, retryable_failures
from tasks.recovery import recovery_policy
from tests.faults.conftest import netsuite
from tests.faults.invariants import assert_one_clean_quote, session
from tests.fixtures.demo import DEMO_CUSTOMER_ID, DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR
from tests.fixtures.flow_runner import FlowRunHandle
from tests.test_ns_push_retry import push_now, stage_estimate

pytestmark = pytest.mark.usefixtures("fault_env")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def events_with_key(prefix: str) -> list[Event]:
    with session() as s:
        return list(
            s.exec(sa.select(Event).where(Event.idempotency_key.startswith(prefix))).scalars()
        )


def test_redrive_decision_is_capped_and_spaced():
    kw = {"redrive_max": 3, "now": NOW, "min_interval": timedelta(minutes=5)}
    assert redrive_decision(redrives=0, retryable=True, last_redrive_at=None, **kw) == "redrive"
    recent = NOW - timedelta(minutes=1)
    assert redrive_decision(redrives=1, retryable=True, last_redrive_at=recent, **kw) == "wait"
    assert redrive_decision(redrives=3, retryable=True, last_redrive_at=None, **kw) == "dead_letter"
    assert redrive_decision(redrives=0, retryable=False, last_redrive_at=None, **kw) == (
        "dead_letter"
    )


def test_failed_steps_are_sorted_into_retryable_and_permanent():
    summary = {
        "steps": [
            {"name": "write_quote", "status": "completed", "detail": {}},
            {"name": "render_pdf", "status": "failed", "detail": {"retryable": True}},
            {"name": "send_email", "status": "not_run", "detail": {}},
            {"name": "ns_push", "status": "failed", "detail": {"retryable": False}},
        ]
    }
    assert retryable_failures(summary) == (["render_pdf", "send_email"], ["ns_push"])


def test_a_later_outcome_gets_its_own_key_and_repeats_collapse():
    run_id = str(uuid.uuid4())
    assert ledger.record_outcome_event(run_id, "workflow.partial", {"n": 1})
    assert not ledger.record_outcome_event(run_id, "workflow.partial", {"n": 2})
    assert ledger.record_outcome_event(run_id, "workflow.completed", {"n": 3})
    assert not ledger.record_outcome_event(run_id, "workflow.completed", {"n": 4})
    keys = {e.idempotency_key: e.type for e in events_with_key(ledger.outcome_key(run_id))}
    assert keys == {
        f"workflow-outcome:{run_id}": "workflow.partial",
        f"workflow-outcome:{run_id}:workflow.completed": "workflow.completed",
    }


def test_past_the_cap_a_run_is_dead_lettered_with_one_alert():
    run_id = str(uuid.uuid4())
    policy = recovery_policy()
    with session() as s:
        s.add(RunRecovery(run_id=run_id, deployment="x/y", redrives=policy.redrive_max))
        s.commit()
    done = recovery._redrive_or_dead_letter(
        run_id, "x/y", "run Crashed", retryable=True, policy=policy, now=datetime.now(UTC)
    )
    assert done is not None and done.kind == "dead_letter"
    assert f"after {policy.redrive_max} automatic re-drive(s)" in done.detail
    again = recovery._redrive_or_dead_letter(
        run_id, "x/y", "run Crashed", retryable=True, policy=policy, now=datetime.now(UTC)
    )
    assert again is None
    with session() as s:
        row = s.exec(sa.select(RunRecovery).where(RunRecovery.run_id == run_id)).scalar_one()
    assert row.status == RecoveryStatus.dead_letter
    assert [e.type for e in events_with_key(f"alert:{run_id}:redrive")] == ["alert"]


def test_netsuite_refusal_is_dead_lettered_and_alerted_once(fault_env):
    stack = fault_env
    push, _ = stage_estimate()
    netsuite(stack, "inject", mode="status", status=400, count=1)
    with pytest.raises(NetSuiteRejectedError):
        push_now(push.id)
    with session() as s:
        row = s.get(NsPendingPush, push.id)
    assert row.status == "dead_letter" and row.attempts == 1

    for _ in range(2):  # two scheduled re-drives: neither touches it nor alerts again
        result = ns_push_retry(older_than_minutes=0, limit=1000)
        assert push.id not in {o.push_id for o in result.pushes}
    alerts = events_with_key(f"alert:ns-push-dead-letter:estimate:{push.external_id}")
    assert [a.type for a in alerts] == ["alert"]
    assert "refused it for good" in alerts[0].payload["error"]
    with session() as s:
        assert s.get(NsPendingPush, push.id).attempts == 1


def test_a_decided_gate_whose_resume_was_lost_is_resumed(fault_env):
    request = QuoteRequest(
        customer_id=DEMO_CUSTOMER_ID, item_codes=list(DEMO_ITEM_CODES), school_year=DEMO_SCHOOL_YEAR
    )
    handle = FlowRunHandle(customer_quote, request=request)
    run_id = str(handle.wait_paused().id)
    gate = find_action(ActionType.quote_gate, gate_entity_ref(run_id))
    assert gate is not None
    # The decision committed, then the approving process died before resuming the run.
    decide(gate.id, "approve", notes="approved, resume lost")

    within_grace = recovery.resume_decided_gates(recovery_policy(), datetime.now(UTC))
    assert run_id not in {d.run_id for d in within_grace}  # the approver may still resume it
    no_grace = recovery_policy().model_copy(update={"start_grace": timedelta(0)})
    done = recovery.resume_decided_gates(no_grace, datetime.now(UTC))

    assert [(d.kind, d.run_id) for d in done] == [("resumed", run_id)]
    state = handle.join()
    assert state.is_completed(), state.message
    assert_one_clean_quote(fault_env, run_id)
    # Nothing left to resume: the next pass does nothing for it.
    again = recovery.resume_decided_gates(no_grace, datetime.now(UTC))
    assert run_id not in {d.run_id for d in again}
