"""ar_forecast_touch: mark the customer's AR/credit forecast as having a new quote."""

from __future__ import annotations

from datetime import datetime

from prefect import get_run_logger, task

from quoteflow.db import session_scope
from quoteflow.models import CustomerProfile, utcnow
from tasks.policy import fanout_task_options


@task(name="ar_forecast_touch", **fanout_task_options())
def touch_ar_forecast(customer_id: str, quote_id: str) -> datetime | None:
    """UPDATE customer_profiles SET last_quote_event = now WHERE customer_id = ?

    A customer without a profile row: the contract's UPDATE matches nothing, a normal
    no-op (logged as a warning), not a failed step. Returns None then."""
    now = utcnow()
    with session_scope() as s:
        profile = s.get(CustomerProfile, customer_id)
        if profile is None:
            get_run_logger().warning(
                "ar_forecast_touch: customer %s has no customer_profiles row; nothing to "
                "update (no-op)",
                customer_id,
            )
            return None
        if profile.last_quote_id == quote_id and profile.last_quote_event is not None:
            return profile.last_quote_event  # this quote already touched it
        profile.last_quote_event = now
        profile.last_quote_id = quote_id
        profile.updated_at = now
        s.add(profile)
    return now
