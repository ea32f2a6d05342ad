"""Suspended runs hold no process, so an approval window that closes unanswered is
recorded by the verify sweep: gate expired, run log, event, run state named Expired."""

from __future__ import annotations

from datetime import timedelta

from prefect import get_client
from prefect.states import Suspended
from sqlmodel import Session, select

from flows.customer_quote import customer_quote
from flows.verify_checks import verify_checks
from quoteflow.approvals import GATE_ACTION_TYPE, expire, get_action, stage_action
from quoteflow.db import get_engine
from quoteflow.models import Event, WorkflowRunLog, utcnow
from quoteflow.seed import DEMO_CUSTOMER_ID, DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR


def test_sweep_records_an_unanswered_suspended_gate(stack, seeded_db):
    request = {
        "customer_id": DEMO_CUSTOMER_ID,
        "item_codes": list(DEMO_ITEM_CODES),
        "school_year": DEMO_SCHOOL_YEAR,
    }
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(customer_quote, parameters={"request": request})
        client.set_flow_run_state(run.id, Suspended(timeout_seconds=3600), force=True)
    run_id = str(run.id)
    gate = stage_action(
        action_type=GATE_ACTION_TYPE,
        entity_ref=f"workflow:customer_quote:run_{run_id}",
        payload={
            "preview": {
                "quote_id": "Q-HK-1",
                "customer_id": DEMO_CUSTOMER_ID,
                "customer_name": "Cedar",
                "school_year": DEMO_SCHOOL_YEAR,
            }
        },
        flow_run_id=run_id,
        expires_at=utcnow() - timedelta(minutes=10),
    )
    fresh = stage_action(  # within the grace: a paused run may still record it itself
        action_type=GATE_ACTION_TYPE,
        entity_ref="workflow:customer_quote:run_fresh",
        payload={},
        expires_at=utcnow() - timedelta(minutes=1),
    )

    verify_checks()
    verify_checks()  # a second sweep changes nothing more

    assert get_action(gate.id).status == "expired"
    assert get_action(fresh.id).status == "pending"
    with Session(get_engine()) as s:
        log = s.exec(select(WorkflowRunLog).where(WorkflowRunLog.run_id == run_id)).one()
        events = s.exec(select(Event).where(Event.run_id == run_id)).all()
    assert log.status == "expired" and log.completed_at is not None
    assert [e.type for e in events] == ["workflow.failed"]
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run.id).state
    assert state.is_failed() and state.name == "Expired"
    # Leave no pending gate behind: once past the grace, a later test's sweep would find
    # it (its run id is not a flow run's).
    expire(fresh.id)


def test_a_crashed_run_still_gets_its_post_actions(stack, seeded_db):
    from prefect.states import Crashed

    from flows.customer_quote import _record_abnormal_end
    from quoteflow.models import ReflexionLog

    request = {"customer_id": DEMO_CUSTOMER_ID, "item_codes": ["FS-1001"], "school_year": "2026-27"}
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(customer_quote, parameters={"request": request})
    _record_abnormal_end(customer_quote, run, Crashed(message="worker lost"))
    _record_abnormal_end(customer_quote, run, Crashed(message="worker lost"))  # hook re-run
    with Session(get_engine()) as s:
        log = s.exec(select(WorkflowRunLog).where(WorkflowRunLog.run_id == str(run.id))).one()
        refl = s.exec(select(ReflexionLog).where(ReflexionLog.run_id == str(run.id))).one()
        events = s.exec(select(Event).where(Event.run_id == str(run.id))).all()
    assert log.status == "failed" and "worker lost" in log.summary_json["reason"]
    assert f"customer:{DEMO_CUSTOMER_ID}" in refl.tags
    assert [e.type for e in events] == ["workflow.failed"]
