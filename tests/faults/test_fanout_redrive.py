"""Section 4: an incomplete fan-out is recoverable. The PDF store is down during the
fan-out: the run ends partial (PDF failed, email draft not run). The reconciler re-drives
the run; replayed from its persisted results it renders the PDF, the email draft follows,
and the ledger records workflow.completed after workflow.partial, each under its own key.

The test plays the worker for the re-driven run (prefect.flow_engine.run_flow on the same
flow run, which is what a process worker executes), so no worker process is needed."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from prefect.flow_engine import run_flow
from prefect_aws import AwsCredentials, S3Bucket
from prefect_aws.client_parameters import AwsClientParameters
from sqlmodel import select

from flows.customer_quote import customer_quote
from quoteflow import ledger, recovery
from quoteflow.models import ActionType, Event, ProposedAction, Quote, RunRecovery
from quoteflow.prefect_api import read_flow_run
from quoteflow.quote import QuoteRequest
from quoteflow.recovery import QUOTE_DEPLOYMENT, retryable_failures
from quoteflow.settings import get_settings
from tasks.recovery import recovery_policy
from tests.faults.invariants import assert_one_clean_quote, run_log, session
from tests.fixtures.demo import DEMO_CUSTOMER_ID, DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR
from tests.fixtures.flow_runner import FlowRunHandle

pytestmark = pytest.mark.usefixtures("fault_env")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def pdf_store_down(monkeypatch) -> None:
    """The PDF bucket block points at an S3 endpoint nobody listens on (an outage)."""
    real = S3Bucket.load(get_settings().s3_bucket_block)
    creds = real.credentials
    down = S3Bucket(
        bucket_name=real.bucket_name,
        bucket_folder=real.bucket_folder,
        credentials=AwsCredentials(
            aws_access_key_id=creds.aws_access_key_id,
            aws_secret_access_key=creds.aws_secret_access_key,
            region_name=creds.region_name,
            aws_client_parameters=AwsClientParameters(
                endpoint_url=f"http://127.0.0.1:{_closed_port()}",
                config={"retries": {"max_attempts": 1}, "connect_timeout": 2},
            ),
        ),
    )
    name = f"quoteflow-pdfs-down-{uuid.uuid4().hex[:8]}"
    down.save(name, overwrite=True)
    monkeypatch.setenv("QUOTEFLOW_S3_BUCKET_BLOCK", name)
    get_settings.cache_clear()


def test_pdf_outage_then_redrive_completes_and_the_email_draft_follows(
    fault_env, pdf_store_down, monkeypatch
):
    request = QuoteRequest(
        customer_id=DEMO_CUSTOMER_ID, item_codes=list(DEMO_ITEM_CODES), school_year=DEMO_SCHOOL_YEAR
    )
    handle = FlowRunHandle(customer_quote, request=request)
    handle.resume(decision="approve", notes="pdf store down")
    state = handle.join()
    run_id = handle.run_id

    assert state.is_failed() and state.name == "Partial", state
    log = run_log(run_id)
    assert log is not None and log.status == "partial"
    steps = {s["name"]: s for s in log.summary_json["steps"]}
    assert steps["render_pdf"]["status"] == "failed"
    assert steps["render_pdf"]["detail"]["retryable"] is True
    assert steps["send_email"]["status"] == "not_run"
    assert retryable_failures(log.summary_json)[1] == []
    with session() as s:
        (quote,) = s.exec(select(Quote).where(Quote.flow_run_id == run_id)).all()
        assert quote.pdf_key is None
        assert not s.exec(
            select(ProposedAction).where(ProposedAction.entity_ref == f"quote:{quote.id}")
        ).all()

    # The store is back; the reconciler decides to re-drive this run and reschedules it.
    monkeypatch.delenv("QUOTEFLOW_S3_BUCKET_BLOCK")
    get_settings.cache_clear()
    done = recovery._redrive_or_dead_letter(
        run_id,
        QUOTE_DEPLOYMENT,
        "incomplete steps: render_pdf, send_email",
        retryable=True,
        policy=recovery_policy(),
        now=datetime.now(UTC),
    )
    assert done is not None and done.kind == "redriven"
    assert read_flow_run(run_id).state.name == "Scheduled"

    # The worker's part: run the same flow run again.
    again = run_flow(customer_quote, flow_run=read_flow_run(run_id), return_type="state")

    assert again.is_completed(), again.message
    quote = assert_one_clean_quote(fault_env, run_id)
    assert quote.pdf_key == f"quotes/{quote.id}.pdf"
    with session() as s:
        (draft,) = s.exec(
            select(ProposedAction).where(
                ProposedAction.action_type == ActionType.send_quote,
                ProposedAction.entity_ref == f"quote:{quote.id}",
            )
        ).all()
        outcomes = {
            e.idempotency_key: e.type
            for e in s.exec(
                sa.select(Event).where(Event.idempotency_key.startswith(ledger.outcome_key(run_id)))
            ).scalars()
        }
        redrives = s.exec(
            sa.select(RunRecovery.redrives).where(RunRecovery.run_id == run_id)
        ).scalar_one()
    assert draft.payload["pdf_key"] == quote.pdf_key
    assert outcomes == {
        ledger.outcome_key(run_id): "workflow.partial",
        ledger.later_outcome_key(run_id, "workflow.completed"): "workflow.completed",
    }
    assert redrives == 1
    assert run_log(run_id).status == "completed"
