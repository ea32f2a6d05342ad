"""ns-push-retry on the real Prefect engine against the fake NetSuite server: pushes a
crash left pending or an outage left failed end up applied, once; applied rows and
pushes still in flight are not touched."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from sqlmodel import Session

from blocks.netsuite import NetSuiteCredentials
from flows.ns_push_retry import ns_push_retry
from quoteflow.db import get_engine
from quoteflow.models import NsPendingPush, PricingMaster, Quote, SpecItem
from quoteflow.netsuite import EstimateLine, NetSuiteRetryableError, build_estimate_body
from quoteflow.outbox import PushView, apply_push, stage_push
from quoteflow.settings import get_settings
from tasks.outbox import REDRIVE_ARTIFACT_KEY
from tests.fixtures.demo import DEMO_CUSTOMER_ID, DEMO_SCHOOL_YEAR

ITEMS = (("FS-1002", 40), ("FS-1007", 12))


@pytest.fixture
def env(stack, seeded_db):
    get_settings.cache_clear()
    ns(stack, "reset")
    yield stack
    ns(stack, "reset")
    get_settings.cache_clear()


def ns(stack, action: str, **body: Any) -> Any:
    url = f"{stack.netsuite.base_url}/_fake/{action}"
    if action in ("estimates", "requests"):
        return httpx.get(url, timeout=10).json()
    response = httpx.post(url, json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def estimates_for(stack, external_id: str) -> list[dict[str, Any]]:
    return [e for e in ns(stack, "estimates")["estimates"] if e["external_id"] == external_id]


def requests_for(stack, external_id: str) -> list[dict[str, Any]]:
    return [r for r in ns(stack, "requests")["recent"] if r["path"].endswith(f"eid:{external_id}")]


def _session() -> Session:
    return Session(get_engine(), expire_on_commit=False)


def stage_estimate() -> tuple[PushView, dict[str, Any]]:
    """A quote row and its staged (pending) estimate push, as the customer-quote flow
    leaves them just before calling NetSuite."""
    quote_id = f"Q-NSR-{uuid.uuid4().hex[:10].upper()}"
    lines = []
    with _session() as s:
        for code, quantity in ITEMS:
            item = s.get(SpecItem, code)
            assert item is not None
            price = s.execute(
                sa.select(PricingMaster.case_price).where(
                    PricingMaster.customer_id == DEMO_CUSTOMER_ID,
                    PricingMaster.item_code == code,
                    PricingMaster.school_year == DEMO_SCHOOL_YEAR,
                )
            ).scalar_one()
            lines.append(
                EstimateLine(netsuite_item_id=item.netsuite_item_id, quantity=quantity, rate=price)
            )
        s.add(Quote(id=quote_id, customer_id=DEMO_CUSTOMER_ID, school_year=DEMO_SCHOOL_YEAR))
        s.commit()
    body = build_estimate_body(
        customer_id=DEMO_CUSTOMER_ID, lines=lines, external_id=quote_id, memo=f"test {quote_id}"
    )
    push = stage_push(external_id=quote_id, quote_id=quote_id, payload=body, run_id=None)
    assert push.status == "pending"
    return push, body


def push_now(push_id: int) -> PushView:
    netsuite = NetSuiteCredentials.load(get_settings().netsuite_block)
    with netsuite.get_client() as client:
        return apply_push(push_id, client, final_attempt=True)


def row(push_id: int) -> NsPendingPush:
    with _session() as s:
        found = s.get(NsPendingPush, push_id)
        assert found is not None
        return found


def lines_of(estimate: dict[str, Any]) -> list[tuple[str, int, Decimal]]:
    return [
        (line["item"]["id"], line["quantity"], Decimal(str(line["rate"])))
        for line in estimate["record"]["lines"]
    ]


def expected_lines(body: dict[str, Any]) -> list[tuple[str, int, Decimal]]:
    return [
        (line["item"]["id"], line["quantity"], Decimal(str(line["rate"])))
        for line in body["item"]["items"]
    ]


def artifact_rows(flow_run_id: Any) -> list[dict[str, str]]:
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    [artifact] = [a for a in artifacts if a.key == REDRIVE_ARTIFACT_KEY]
    assert artifact.type == "table"
    return json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data


def test_failed_and_pending_pushes_are_applied_and_applied_ones_left_alone(env) -> None:
    stack = env
    # An outage: NetSuite answers 503, the push's last attempt marks the row failed.
    failed, failed_body = stage_estimate()
    ns(stack, "inject", mode="status", status=503, count=1)
    with pytest.raises(NetSuiteRetryableError):
        push_now(failed.id)
    assert row(failed.id).status == "failed" and "503" in (row(failed.id).last_error or "")
    # A crash: staged, never sent.
    pending, pending_body = stage_estimate()
    # Already applied: must not be pushed again.
    applied, _ = stage_estimate()
    done = push_now(applied.id)
    assert done.status == "applied"
    assert estimates_for(stack, failed.external_id) == []
    ns(stack, "reset")  # NetSuite is back; request log starts empty

    state = ns_push_retry(older_than_minutes=0, limit=1000, return_state=True)

    assert state.is_completed(), state.message
    result = state.result()
    by_id = {o.push_id: o for o in result.pushes}
    assert by_id[failed.id].status_before == "failed" and by_id[failed.id].status == "applied"
    assert by_id[pending.id].status_before == "pending" and by_id[pending.id].status == "applied"
    assert applied.id not in by_id
    assert result.applied >= 2 and result.applied + result.still_failed == len(result.pushes)
    for push, body in ((failed, failed_body), (pending, pending_body)):
        now = row(push.id)
        assert now.status == "applied" and now.applied_at is not None and now.last_error is None
        [estimate] = estimates_for(stack, push.external_id)
        assert estimate["writes"] == 1
        assert str(estimate["id"]) == now.netsuite_id
        assert estimate["record"]["entity"] == {"id": DEMO_CUSTOMER_ID}
        assert lines_of(estimate) == expected_lines(body)
        with _session() as s:
            quote = s.get(Quote, push.quote_id)
            assert quote is not None and quote.netsuite_id == now.netsuite_id
    assert row(failed.id).attempts == 2 and row(pending.id).attempts == 1
    # The applied row: no request for it, still one write at NetSuite, row unchanged.
    assert requests_for(stack, applied.external_id) == []
    [untouched] = estimates_for(stack, applied.external_id)
    assert untouched["writes"] == 1
    assert row(applied.id).attempts == 1 and row(applied.id).updated_at == done.updated_at

    table = artifact_rows(state.state_details.flow_run_id)
    shown = {r["quote"]: r for r in table}
    assert shown[failed.quote_id]["was"] == "failed" and shown[failed.quote_id]["now"] == "applied"
    assert shown[pending.quote_id]["was"] == "pending"
    assert applied.quote_id not in shown

    # A second run finds nothing of ours to do.
    again = ns_push_retry(older_than_minutes=0, limit=1000)
    assert not {failed.id, pending.id, applied.id} & {o.push_id for o in again.pushes}
    assert all(len(estimates_for(stack, p.external_id)) == 1 for p in (failed, pending, applied))


def test_a_push_in_flight_is_left_alone(env) -> None:
    stack = env
    fresh, _ = stage_estimate()  # staged a moment ago: its own run may still be pushing it

    result = ns_push_retry()  # default: only rows untouched for 5 minutes

    assert fresh.id not in {o.push_id for o in result.pushes}
    assert row(fresh.id).status == "pending" and row(fresh.id).attempts == 0
    assert requests_for(stack, fresh.external_id) == []


def test_a_push_still_failing_stays_failed_and_is_reported(env) -> None:
    stack = env
    push, _ = stage_estimate()
    ns(stack, "inject", mode="status", status=503, count=1)
    with pytest.raises(NetSuiteRetryableError):
        push_now(push.id)
    ns(stack, "inject", mode="status", status=503, count=1000)  # the outage goes on

    result = ns_push_retry(older_than_minutes=0, limit=1000)

    [outcome] = [o for o in result.pushes if o.push_id == push.id]
    attempts = get_settings().retry_attempts
    assert outcome.status == "failed" and outcome.attempts == 1 + attempts
    assert "503" in (outcome.error or "")
    assert result.still_failed >= 1
    assert row(push.id).status == "failed"
    assert estimates_for(stack, push.external_id) == []

    # Once NetSuite is back, the next run applies it.
    ns(stack, "reset")
    later = ns_push_retry(older_than_minutes=0, limit=1000)
    [outcome] = [o for o in later.pushes if o.push_id == push.id]
    assert outcome.status == "applied"
    assert len(estimates_for(stack, push.external_id)) == 1
