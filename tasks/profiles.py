"""ar_forecast_touch: mark the customer's AR/credit forecast as having a new quote."""

from __future__ import annotations

from datetime import datetime

from prefect import task

from quoteflow.db import session_scope
from quoteflow.models import CustomerProfile, utcnow
from tasks.policy import PermanentStepError, fanout_task_options


@task(name="ar_forecast_touch", **fanout_task_options())
def touch_ar_forecast(customer_id: str, quote_id: str) -> datetime:
    """UPDATE customer_profiles SET last_quote_event = now WHERE customer_id = ?"""
    now = utcnow()
    with session_scope() as s:
        profile = s.get(CustomerProfile, customer_id)
        if profile is None:
            raise PermanentStepError(f"customer {customer_id} has no customer_profiles row")
        if profile.last_quote_id == quote_id and profile.last_quote_event is not None:
            return profile.last_quote_event  # this quote already touched it
        profile.last_quote_event = now
        profile.last_quote_id = quote_id
        profile.updated_at = now
        s.add(profile)
    return now
