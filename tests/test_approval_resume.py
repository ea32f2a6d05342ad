"""A resumed run executes the payload Mike approved, through a real deployment and worker:
even when its saved task results are gone at resume (an S3 outage, a lifecycle rule) and
every price changed since, it continues from the gate it staged and writes what was
approved, never a recomputation."""

from __future__ import annotations

import time
from decimal import Decimal
from uuid import UUID

import pytest
import sqlalchemy as sa
from prefect.deployments import run_deployment
from prefect_aws import S3Bucket
from sqlmodel import Session, select

from quoteflow.approvals import approve, find_action, gate_entity_ref
from quoteflow.db import get_engine
from quoteflow.models import ActionType, PricingMaster, Quote, QuoteLine
from quoteflow.prefect_api import read_flow_run, task_runs_of, wait_for_flow_run
from quoteflow.quote import payload_hash
from quoteflow.settings import get_settings
from tests.fixtures.demo import DEMO_CUSTOMER_ID, DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR

DEMO_PRICES = (
    PricingMaster.customer_id == DEMO_CUSTOMER_ID,
    PricingMaster.school_year == DEMO_SCHOOL_YEAR,
)


@pytest.mark.usefixtures("demo_pricing_restored")
def test_lost_results_at_resume_still_write_the_approved_prices(cold_gate_worker):
    run = run_deployment(
        "customer-quote/customer-quote",
        parameters={
            "request": {
                "customer_id": DEMO_CUSTOMER_ID,
                "item_codes": list(DEMO_ITEM_CODES),
                "school_year": DEMO_SCHOOL_YEAR,
            }
        },
        timeout=0,
    )
    run_id = str(run.id)
    wait_for_flow_run(
        lambda: read_flow_run(run_id),
        lambda r: r.state is not None and r.state.is_paused(),
        timeout=180,
        what="customer-quote to wait for approval",
    )
    gate = find_action(ActionType.quote_gate, gate_entity_ref(run_id))
    assert gate is not None
    shown = {line["item_code"]: line["case_price"] for line in gate.payload["preview"]["lines"]}
    assert Decimal(shown["FS-1004"]) != Decimal("999.00")

    # While it waits: every price changes, and every saved task result is lost.
    with Session(get_engine()) as s:
        s.execute(sa.update(PricingMaster).where(*DEMO_PRICES).values(case_price=Decimal("999.00")))
        s.commit()
    results = S3Bucket.load(get_settings().results_block)
    client = results.credentials.get_s3_client()
    saved = [obj["Key"] for obj in results.list_objects()]
    assert saved, "the waiting run saved no task results"
    for key in saved:
        client.delete_object(Bucket=results.bucket_name, Key=key)
    # Other runs of the session may save theirs meanwhile; this run's are gone for good.
    assert not set(saved) & {obj["Key"] for obj in results.list_objects()}

    # Mike approves what he was shown, with one price of his own (a rebuilt preview
    # quoting 999.00 would even question it as "less than 1/3 of the quoted price").
    decided = approve(
        gate.id,
        notes="approved as shown",
        price_overrides={"FS-1004": "80.00"},
        expected_hash=gate.payload_hash,
    )
    assert decided.approved_payload_hash == payload_hash(decided.approved_payload)

    done = wait_for_flow_run(
        lambda: read_flow_run(run_id),
        lambda r: r.state is not None and r.state.is_final(),
        timeout=240,
        what="customer-quote to finish",
    )
    assert done.state.is_completed(), done.state.message
    with Session(get_engine()) as s:
        quote = s.exec(select(Quote).where(Quote.flow_run_id == run_id)).one()
        lines = {
            line.item_code: line.case_price
            for line in s.exec(select(QuoteLine).where(QuoteLine.quote_id == quote.id))
        }
    # What Mike saw and approved, never today's 999.00.
    assert lines == {code: Decimal(shown[code]) for code in shown} | {"FS-1004": Decimal("80.00")}
    assert quote.subtotal == Decimal(decided.approved_payload["preview"]["subtotal"])
    # It continued from the gate it staged: nothing was looked up or rebuilt after the resume.
    assert any("Continuing from approval gate" in m for m in run_logs(run_id, "Continuing"))
    pricing_reads = [t for t in task_runs_of(run_id) if t.name.startswith("load_current_pricing")]
    assert len(pricing_reads) == 1, [t.state_name for t in pricing_reads]


def run_logs(run_id: str, needle: str, timeout: float = 20.0) -> list[str]:
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    deadline = time.monotonic() + timeout
    while True:
        with get_client(sync_client=True) as client:
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[UUID(run_id)])),
                limit=200,
            )
        messages = [log.message for log in logs]
        if any(needle in m for m in messages) or time.monotonic() > deadline:
            return messages
        time.sleep(0.5)
