"""ar_forecast_touch: mark the customer's AR/credit forecast as having a new quote."""

from __future__ import annotations

from datetime import datetime

from prefect import get_run_logger, task

from quoteflow import quote_store
from tasks.policy import fanout_task_options


@task(name="ar_forecast_touch", **fanout_task_options())
def touch_ar_forecast(customer_id: str, quote_id: str) -> datetime | None:
    """UPDATE customer_profiles SET last_quote_event = now WHERE customer_id = ?

    A customer without a profile row: the contract's UPDATE matches nothing, a normal
    no-op (logged as a warning), not a failed step. Returns None then."""
    touched = quote_store.touch_ar_forecast(customer_id, quote_id)
    if touched is None:
        get_run_logger().warning(
            "ar_forecast_touch: customer %s has no customer_profiles row; nothing to "
            "update (no-op)",
            customer_id,
        )
    return touched
