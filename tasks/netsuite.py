"""ns_push: the quote as a NetSuite estimate, through the ns_pending_pushes outbox."""

from __future__ import annotations

from prefect import get_run_logger, task

from blocks.netsuite import NetSuiteCredentials
from quoteflow.mirror.config import load_config
from quoteflow.mirror.hold import customer_status_query, live_block_reason
from quoteflow.netsuite.estimate import build_estimate_body, estimate_lines_from_preview
from quoteflow.outbox import PushView, apply_push, stage_push, stage_superseded_push
from quoteflow.quote import QuotePreview
from tasks.policy import (
    fanout_task_options,
    final_attempt,
    live_read_options,
    throttled_netsuite,
)


@task(name="ns_push", **fanout_task_options())
def push_estimate(
    preview: QuotePreview, netsuite: NetSuiteCredentials, flow_run_id: str
) -> PushView:
    """Stage the estimate in ns_pending_pushes, upsert it in NetSuite by external id =
    quote id, and flip the row to applied with NetSuite's id once NetSuite confirms. A
    revision then marks the old quote's estimate superseded (its own outbox row, once)."""
    body = build_estimate_body(
        customer_id=preview.customer_id,
        lines=estimate_lines_from_preview(preview),
        external_id=preview.quote_id,
        memo=f"quoteflow quote {preview.quote_id}, school year {preview.school_year}",
    )
    push = stage_push(
        external_id=preview.quote_id, quote_id=preview.quote_id, payload=body, run_id=flow_run_id
    )
    if push.status != "applied":
        push = apply_staged_push(push.id, netsuite)
    if preview.supersedes_quote_id:
        old = stage_superseded_push(preview.supersedes_quote_id, preview.quote_id, flow_run_id)
        if old is None:
            get_run_logger().info(
                "Quote %s has no confirmed NetSuite estimate yet: quote-housekeeping marks it "
                "superseded once it has one",
                preview.supersedes_quote_id,
            )
        elif old.status != "applied":
            apply_staged_push(old.id, netsuite)
    return push


def apply_staged_push(push_id: int, netsuite: NetSuiteCredentials) -> PushView:
    """Apply one staged outbox row in NetSuite (inside a task), throttled like every push."""
    with throttled_netsuite(netsuite) as client:
        return apply_push(push_id, client, final_attempt=final_attempt())


@task(**live_read_options())
def check_live_hold(
    customer_id: str, customer_name: str, netsuite: NetSuiteCredentials
) -> str | None:
    """Ask NetSuite for the customer's status now (one SuiteQL query): why the approved
    quote must not be written (on hold, inactive, gone), or None when it may."""
    customers = load_config().tables["customers"]
    with throttled_netsuite(netsuite) as client:
        page = client.suiteql(customer_status_query(customer_id, customers), limit=1)
    return live_block_reason(f"{customer_name} ({customer_id})", page.items, customers)
