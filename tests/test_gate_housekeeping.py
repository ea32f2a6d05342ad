"""Suspended runs hold no process, so an approval window that closes unanswered is
recorded by the reconcile pass (only there): gate expired, run log, event, run state named
Expired."""

from __future__ import annotations

import uuid
from datetime import timedelta

from prefect import get_client
from prefect.states import Suspended
from sqlmodel import Session, select

from flows.customer_quote import customer_quote
from flows.reconcile import reconcile
from flows.verify_checks import verify_checks
from quoteflow.approvals import expire, get_action, stage_action
from quoteflow.db import get_engine
from quoteflow.models import ActionType, Event, WorkflowRunLog, WorkflowVerifyResult, utcnow
from tasks.approvals import expire_stale_gates
from tests.fixtures.demo import DEMO_CUSTOMER_ID, DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR


def test_reconcile_records_an_unanswered_suspended_gate(stack, seeded_db):
    # Both sweeps run "as of" a fixed time: how long this test takes (under load) cannot
    # move a gate across its deadline.
    as_of = utcnow()
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
        action_type=ActionType.quote_gate,
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
        expires_at=as_of - timedelta(minutes=10),
    )
    still_open = stage_action(  # its window has not closed: Mike may still decide
        action_type=ActionType.quote_gate,
        entity_ref=f"workflow:customer_quote:run_{uuid.uuid4()}",
        payload={},
        expires_at=as_of + timedelta(minutes=1),
    )
    # A bad row: its run id is no flow run id (it must not end the whole pass).
    malformed = stage_action(
        action_type=ActionType.quote_gate,
        entity_ref=f"workflow:customer_quote:run_not-a-uuid-{uuid.uuid4().hex[:6]}",
        payload={},
        expires_at=as_of - timedelta(minutes=30),
    )
    # A well-formed id of a run the Prefect server does not know.
    unknown = stage_action(
        action_type=ActionType.quote_gate,
        entity_ref=f"workflow:customer_quote:run_{uuid.uuid4()}",
        payload={},
        expires_at=as_of - timedelta(minutes=30),
    )
    check_run = str(uuid.uuid4())
    with Session(get_engine()) as s:
        check = WorkflowVerifyResult(
            run_id=check_run,
            workflow_type="customer_quote",
            check_name="quote_persisted",
            params={"quote_id": f"Q-GONE-{uuid.uuid4().hex[:6]}"},
            due_at=as_of - timedelta(minutes=1),
            deadline=as_of + timedelta(minutes=30),
        )
        s.add(check)
        s.commit()
        check_id = check.id

    # The verify sweep records its checks and leaves the gates to reconcile.
    state = verify_checks(as_of=as_of, return_state=True)
    assert state.is_completed(), state.message
    assert get_action(gate.id).status == "pending"
    assert get_action(malformed.id).status == "pending"

    state = reconcile(as_of=as_of, return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    assert any(f"gate #{malformed.id}" in p for p in result.gate_problems)
    assert f"gate #{malformed.id}" in reconcile_report(state.state_details.flow_run_id)
    assert run_id in result.expired_runs
    again = reconcile(as_of=as_of)  # a second pass changes nothing more
    assert run_id not in again.expired_runs

    assert get_action(gate.id).status == "expired"
    assert get_action(still_open.id).status == "pending"
    assert get_action(malformed.id).status == "expired"  # reported, skipped, not repeated
    assert get_action(unknown.id).status == "expired"
    with Session(get_engine()) as s:
        log = s.exec(select(WorkflowRunLog).where(WorkflowRunLog.run_id == run_id)).one()
        events = s.exec(select(Event).where(Event.run_id == run_id)).all()
        recorded = s.get(WorkflowVerifyResult, check_id)
        check_events = s.exec(select(Event).where(Event.run_id == check_run)).all()
    assert log.status == "expired" and log.completed_at is not None
    assert [e.type for e in events] == ["workflow.failed"]
    assert recorded.status == "fail" and [e.type for e in check_events] == ["verify.failed"]
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run.id).state
    assert state.is_failed() and state.name == "Expired"
    # Leave no pending gate behind: once its window closes, a later test's pass would
    # find it (its run id is not a flow run's).
    expire(still_open.id)


def reconcile_report(flow_run_id) -> str:
    """The reconcile pass's table artifact, as the Prefect UI shows it."""
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    from tasks.recovery import RECONCILE_ARTIFACT_KEY

    with get_client(sync_client=True) as client:
        (artifact,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[RECONCILE_ARTIFACT_KEY]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            )
        )
    return str(artifact.data)


def test_one_bad_gate_is_reported_and_the_rest_still_recorded(stack, seeded_db):
    as_of = utcnow()
    bad = stage_action(
        action_type=ActionType.quote_gate,
        entity_ref=f"workflow:customer_quote:run_fresh-{uuid.uuid4().hex[:6]}",
        payload={},
        expires_at=as_of - timedelta(minutes=30),
    )
    swept = expire_stale_gates(grace_minutes=0, now=as_of)
    assert any(f"gate #{bad.id}" in p and "is not a flow run id" in p for p in swept.problems)
    assert get_action(bad.id).status == "expired"


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
