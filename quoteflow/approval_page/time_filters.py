"""The page's times as Mike reads them, as template filters: a moment in his time zone,
how old a quote's data is, and "expires in ..." for a deadline."""

from __future__ import annotations

from datetime import UTC, datetime

from quoteflow.models import as_utc
from quoteflow.presentation import data_age_text, format_when, span
from quoteflow.quote import DataAge


def local(value: datetime | None, tz: str) -> str:
    """``Fri Nov 27, 2026, 2:05 PM CST``; a dash for no time."""
    return format_when(value, tz)


def data_age(age: DataAge | None, tz: str, now: datetime | None = None) -> str:
    """``NetSuite data as of 2:05 PM, 12 min ago``: how old a quote's data is, now."""
    return data_age_text(age, now=now or datetime.now(UTC), tz=tz)


def expires(expires_at: datetime | None, now: datetime | None = None) -> str:
    """``expires in 42 min`` / ``expired 5 min ago`` / ``no deadline``."""
    if expires_at is None:
        return "no deadline"
    left = (as_utc(expires_at) - (now or datetime.now(UTC))).total_seconds()
    return f"expires in {span(left)}" if left > 0 else f"expired {span(left)} ago"
