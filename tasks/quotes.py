"""write_quote: the quote, its lines and the proposed pricing, in one transaction
(quoteflow.quote_store); and the preview Mike decides on."""

from __future__ import annotations

from prefect import task

from quoteflow import quote_store
from quoteflow.models import utcnow
from quoteflow.quote import QuoteContext, QuotePreview, QuoteRequest, build_preview
from quoteflow.quote_store import QuoteWriteRefused, WrittenQuote
from quoteflow.settings import get_settings
from tasks.policy import PermanentStepError, fanout_task_options


@task(name="write_quote", **fanout_task_options())
def write_quote(preview: QuotePreview, flow_run_id: str) -> WrittenQuote:
    """INSERT quotes + quote_lines (batch), lifecycle `proposed`; overridden prices are
    recorded as proposed pricing (pricing_master changes only when the customer accepts);
    the revised quote, if any, is superseded. A re-run finds the quote it wrote."""
    try:
        return quote_store.write_quote(preview, flow_run_id)
    except QuoteWriteRefused as exc:
        raise PermanentStepError(str(exc)) from exc


@task(persist_result=True)
def build_quote_preview(
    request: QuoteRequest,
    context: QuoteContext,
    quote_id: str,
    supersedes_quote_id: str | None,
) -> QuotePreview:
    """Price the requested items from the context: lines, totals, warnings. Persisted, so
    a resumed run shows and executes exactly what Mike saw."""
    settings = get_settings()
    return build_preview(
        request,
        context,
        quote_id=quote_id,
        supersedes_quote_id=supersedes_quote_id,
        now=utcnow(),
        validity_days=settings.quote_validity_days,
        margin_floor=settings.margin_floor_pct,
        currency=settings.currency,
        max_data_age_hours=settings.mirror_max_age_hours,
        local_tz=settings.local_timezone,
    )
