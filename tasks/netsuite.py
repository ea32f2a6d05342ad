"""ns_push: the quote as a NetSuite estimate, through the ns_pending_pushes outbox."""

from __future__ import annotations

from prefect import task
from prefect.runtime import task_run

from blocks.netsuite import NetSuiteCredentials
from quoteflow.netsuite.estimate import build_estimate_body, estimate_lines_from_preview
from quoteflow.outbox import PushView, apply_push, stage_push
from quoteflow.quote import QuotePreview
from quoteflow.settings import get_settings
from tasks.policy import fanout_task_options
from tasks.throttle import limit_slot


def _final_attempt() -> bool:
    return task_run.run_count >= get_settings().retry_attempts


@task(name="ns_push", **fanout_task_options())
def push_estimate(
    preview: QuotePreview, netsuite: NetSuiteCredentials, flow_run_id: str
) -> PushView:
    """Stage the estimate in ns_pending_pushes, upsert it in NetSuite by external id =
    quote id, and flip the row to applied with NetSuite's id once NetSuite confirms."""
    body = build_estimate_body(
        customer_id=preview.customer_id,
        lines=estimate_lines_from_preview(preview),
        external_id=preview.quote_id,
        memo=f"quoteflow quote {preview.quote_id}, school year {preview.school_year}",
    )
    push = stage_push(
        external_id=preview.quote_id, quote_id=preview.quote_id, payload=body, run_id=flow_run_id
    )
    if push.status == "applied":
        return push
    # A Prefect global concurrency limit throttles every NetSuite writer (flows and retries).
    settings = get_settings()
    with (
        limit_slot(
            settings.netsuite_concurrency_limit, hold_seconds=settings.netsuite_timeout_seconds
        ),
        netsuite.get_client() as client,
    ):
        return apply_push(push.id, client, final_attempt=_final_attempt())
