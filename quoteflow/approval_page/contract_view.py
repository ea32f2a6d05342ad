"""What the contract page adds for the person reading it: the settings the quote runs
actually used (read from what they left behind, not from the page process's environment),
and which outside services are local stand-ins on this machine."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from pydantic import ValidationError

from quoteflow.models import ActionType, ActionView, as_utc
from quoteflow.presentation import format_day, format_when, local_day
from quoteflow.quote import QuotePreview

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})
# service -> (what it is for, the local stack's stand-in for it)
SERVICES = {
    "netsuite": ("NetSuite (estimates, customers, prices)", "the local stack's fake NetSuite"),
    "s3": ("PDF storage (S3)", "moto S3"),
    "smtp": ("Email to customers and Mike (SMTP relay)", "the SMTP sink (nothing leaves)"),
}


class RanWith(NamedTuple):
    setting: str
    as_run: str  # as the newest quote ran
    page: str  # this page process's own setting
    differs: bool


class ServiceNote(NamedTuple):
    service: str
    where: str
    stand_in: bool


def _minutes(value: float) -> str:
    return f"{value:g} min"


def ran_with(
    actions: Iterable[ActionView], *, window_minutes: float, validity_days: int
) -> tuple[list[RanWith], str | None]:
    """The approval window and quote validity the newest quote run used (from its gate's
    deadline and its preview), beside this process's settings; and which quote that was.
    Nothing when no quote has reached its gate yet."""
    gates = [a for a in actions if a.action_type == ActionType.quote_gate and a.expires_at]
    if not gates:
        return [], None
    newest = max(gates, key=lambda a: as_utc(a.created_at))
    assert newest.expires_at is not None
    window = round((as_utc(newest.expires_at) - as_utc(newest.created_at)).total_seconds() / 60, 1)
    rows = [
        RanWith(
            "Approval window",
            _minutes(window),
            _minutes(window_minutes),
            abs(window - window_minutes) >= 0.1,
        )
    ]
    source = f"the newest quote's gate, opened {format_when(newest.created_at)}"
    try:
        preview = QuotePreview.model_validate(newest.payload["preview"])
    except (KeyError, TypeError, ValidationError):
        return rows, source
    days = (preview.valid_until - local_day(preview.generated_at)).days
    rows.append(
        RanWith(
            "Quote valid for",
            f"{days} days (until {format_day(preview.valid_until)})",
            f"{validity_days} days",
            days != validity_days,
        )
    )
    return rows, source


def stand_ins(endpoints: Mapping[str, str | None]) -> list[ServiceNote]:
    """Where each outside service is, and whether it is a stand-in on this machine (a
    loopback address: the local stack's fakes)."""
    notes = []
    for key, (service, fake) in SERVICES.items():
        url = endpoints.get(key)
        if not url:
            notes.append(ServiceNote(service, "not configured or not readable here", False))
            continue
        host = urlsplit(url if "//" in url else f"//{url}").hostname or url
        if host in LOOPBACK:
            notes.append(ServiceNote(service, f"{fake} on this machine, at {url}", True))
        else:
            notes.append(ServiceNote(service, f"the real service at {host}", False))
    return notes


def service_endpoints() -> dict[str, str | None]:
    """The address of each outside service, read from its block (None when unreadable)."""
    from quoteflow.settings import get_settings

    settings = get_settings()

    def netsuite() -> str:
        from blocks.netsuite import NetSuiteCredentials

        return NetSuiteCredentials.load(settings.netsuite_block).rest_base_url

    def s3() -> str:
        from prefect_aws import S3Bucket

        bucket = S3Bucket.load(settings.s3_bucket_block)
        return bucket.credentials.aws_client_parameters.endpoint_url or "https://s3.amazonaws.com"

    def smtp() -> str:
        from prefect_email import EmailServerCredentials

        server = EmailServerCredentials.load(settings.smtp_block)
        return f"{server.smtp_server}:{server.smtp_port}"

    found: dict[str, str | None] = {}
    for key, read in (("netsuite", netsuite), ("s3", s3), ("smtp", smtp)):
        try:
            found[key] = read()
        except Exception:  # Prefect or the block unreachable: said as unknown
            found[key] = None
    return found


def contract_context() -> dict[str, Any]:
    """The contract page's additions (``ran_with``, ``ran_source``, ``services``)."""
    from quoteflow import approvals
    from quoteflow.settings import get_settings

    settings = get_settings()
    rows, source = ran_with(
        approvals.list_actions(action_type=ActionType.quote_gate),
        window_minutes=settings.approval_window_minutes,
        validity_days=settings.quote_validity_days,
    )
    return {"ran_with": rows, "ran_source": source, "services": stand_ins(service_endpoints())}
