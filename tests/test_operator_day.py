"""The operating picture through real deployments: prefect deploy --all, a real process
worker, event-triggered runs, a suspended run that holds no process, Mike's resume."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from prefect import get_client
from prefect_aws import S3Bucket
from sqlmodel import Session, select

from quoteflow import ledger
from quoteflow.approvals import (
    ApprovalError,
    approve,
    draft_quote,
    find_action,
    gate_entity_ref,
)
from quoteflow.db import get_engine
from quoteflow.links import read_link, signing_key
from quoteflow.models import ActionType, OutboundEmailLog, Quote, QuoteLine
from quoteflow.prefect_api import flow_runs_of, read_flow_run, task_runs_of, wait_for_flow_run
from quoteflow.quote import QuotePreview, QuoteRequest
from quoteflow.settings import get_settings
from tests.fixtures.demo import DEMO_CUSTOMER_ID, DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR


def _flow_run_processes(flow_run_id: str) -> list[int]:
    """Processes (on this machine) that are executing this flow run."""
    found = []
    marker = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def test_event_to_suspend_to_resume_to_email(cold_gate_worker, smtp_messages):
    since = datetime.now(UTC) - timedelta(seconds=5)
    draft = draft_quote(
        QuoteRequest(
            customer_id=DEMO_CUSTOMER_ID,
            item_codes=list(DEMO_ITEM_CODES),
            school_year=DEMO_SCHOOL_YEAR,
        )
    )
    approve(draft.id, notes="test: quote this")

    run = wait_for_flow_run(
        lambda: next(iter(flow_runs_of("customer-quote/customer-quote", since=since)), None),
        lambda r: r.state is not None and r.state.is_paused(),
        timeout=180,
        what="customer-quote to suspend",
    )
    run_id = str(run.id)
    assert run.state.name == "Suspended"
    assert run.parameters["proposed_action_id"] == draft.id  # the run reads its draft
    # The flow-run process exits once the suspension is recorded (a few seconds).
    deadline = time.monotonic() + 60
    while _flow_run_processes(run_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _flow_run_processes(run_id) == [], "a suspended run must hold no process"
    assert read_flow_run(run_id).state.name == "Suspended"

    gate = find_action(ActionType.quote_gate, gate_entity_ref(run_id))
    assert gate is not None and gate.status == "pending"
    preview = QuotePreview.model_validate(gate.payload["preview"])
    # Mike was told, with a signed link to exactly this gate.
    mike = get_settings().approver_email
    notices = smtp_messages.wait_for(1, to=mike)
    [notice] = [m for m in notices if preview.quote_id in m["Subject"]]
    token = notice.get_content().split("/a/", 1)[1].split()[0]
    assert read_link(signing_key(), token).action_id == gate.id
    target = preview.quotable_lines[0]
    approve(gate.id, notes="ok", price_overrides={target.item_code: 99.99})
    with pytest.raises(ApprovalError, match="already approved"):
        approve(gate.id)

    run = wait_for_flow_run(
        lambda: read_flow_run(run_id),
        lambda r: r.state is not None and r.state.is_final(),
        timeout=240,
        what="customer-quote to finish",
    )
    assert run.state.is_completed(), run.state.message

    # Finished tasks were not executed again after the resume: their later runs are Cached.
    by_task: dict[str, list[str]] = {}
    for tr in task_runs_of(run_id):
        by_task.setdefault(tr.task_key.rsplit("-", 1)[0] if tr.task_key else tr.name, []).append(
            tr.state.name
        )
    for name in ("load_customer", "stage_gate_action", "build_quote_preview"):
        states = next(v for k, v in by_task.items() if name in k)
        assert states.count("Completed") == 1 and set(states) <= {"Completed", "Cached"}, states

    # The resumed run read those results from the bucket (the results block), not a local disk.
    results = S3Bucket.load(get_settings().results_block)
    assert results.list_objects(), "no task results persisted in the results bucket"

    with Session(get_engine()) as s:
        quote = s.exec(select(Quote).where(Quote.flow_run_id == run_id)).one()
        line = s.exec(
            select(QuoteLine).where(
                QuoteLine.quote_id == quote.id, QuoteLine.item_code == target.item_code
            )
        ).one()
    assert str(line.case_price) == "99.99" and line.price_source == "override"

    # The email draft: approving it starts send-quote-email through its trigger.
    email = find_action(ActionType.send_quote, f"quote:{quote.id}")
    assert email is not None and email.status == "pending"
    since = datetime.now(UTC) - timedelta(seconds=5)
    approve(email.id)
    sent = wait_for_flow_run(
        lambda: next(iter(flow_runs_of("send-quote-email/send-quote-email", since=since)), None),
        lambda r: r.state is not None and r.state.is_final(),
        timeout=180,
        what="send-quote-email to finish",
    )
    assert sent.state.is_completed(), sent.state.message
    customer = preview.customer_email
    assert customer
    (message,) = smtp_messages.wait_for(1, to=customer)
    assert quote.id in message["Subject"]
    assert any("is ready to send" in m["Subject"] for m in smtp_messages.new(to=mike))
    assert any(p.get_content_type() == "application/pdf" for p in message.iter_attachments())
    with pytest.raises(ApprovalError):
        approve(email.id)  # a second approval is refused; nothing is sent again
    with Session(get_engine()) as s:
        logs = s.exec(
            select(sa.func.count())
            .select_from(OutboundEmailLog)
            .where(OutboundEmailLog.related_quote_id == quote.id)
        ).one()
        quote = s.get(Quote, quote.id)
    assert logs == 1 and quote.lifecycle_status == "sent"
    assert len(smtp_messages.new(to=customer)) == 1


def test_an_alert_reaches_mike_through_the_automation(cold_gate_worker, smtp_messages):
    run_id = str(uuid.uuid4())
    ledger.record_alert(run_id=run_id, step="ns_push", attempts=3, error="NetSuite 503")
    subject = "A quote step failed: sending the estimate to NetSuite"
    deadline = time.monotonic() + 180
    found: list = []
    while not found and time.monotonic() < deadline:
        found = [
            m
            for m in smtp_messages.wait_for(1, timeout=2, to=get_settings().approver_email)
            if subject in m["Subject"] and run_id in m.get_content()
        ]
    assert found, "the alert never reached Mike's inbox"
    assert "after 3 attempt(s): NetSuite 503" in found[0].get_content()


def test_deployments_registered_with_schedule(cold_gate_worker):
    with get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name("verify-checks/verify-checks")
        schedules = [s.schedule for s in dep.schedules]
        assert [getattr(s, "cron", None) for s in schedules] == ["8,38 * * * *"]
        assert os.environ["PREFECT_API_URL"]
