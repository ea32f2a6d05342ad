"""Presentation shared by every channel (PDF, email, notices, reports, the page, the
Prefect UI): money as people read it and the quote preview as rows and markdown. Pure:
no database, no Prefect, no network."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from quoteflow.quote import QuotePreview

CENT = Decimal("0.01")
_SYMBOLS = {"USD": "$", "CAD": "CA$", "AUD": "A$", "EUR": "\u20ac", "GBP": "\u00a3"}


def format_money(amount: Decimal, currency: str = "USD") -> str:
    """``Decimal("1234.5")`` -> ``"$1,234.50"``; unknown currencies as ``"CHF 1,234.50"``."""
    cents = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    sign = "-" if cents < 0 else ""
    digits = f"{abs(cents):,.2f}"
    symbol = _SYMBOLS.get(currency.upper())
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{currency.upper()} {digits}"


def _zone(tz: str | None) -> ZoneInfo:
    if tz is None:
        from quoteflow.settings import get_settings

        tz = get_settings().local_timezone
    return ZoneInfo(tz)


def format_day(value: date | datetime | None, tz: str | None = None) -> str:
    """``Thu Dec 3, 2026``: a day as Mike and customers read it; a moment is shown as its
    day in ``tz`` (default: Mike's time zone from settings); a dash for none."""
    if value is None:
        return "\u2014"
    if isinstance(value, datetime):
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        value = aware.astimezone(_zone(tz)).date()
    return f"{value:%a %b} {value.day}, {value.year}"


def format_when(value: datetime | None, tz: str | None = None) -> str:
    """``Thu Dec 3, 2026, 6:19 PM CST``: the one way a moment is shown to Mike or a
    customer (page, notices, PDF, error pages), in ``tz`` (default: Mike's time zone)."""
    if value is None:
        return "\u2014"
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    local = aware.astimezone(_zone(tz))
    hour = local.strftime("%I").lstrip("0")
    return f"{format_day(local.date())}, {hour}:{local:%M %p %Z}"


def preview_rows(preview: QuotePreview) -> list[dict[str, str]]:
    """The preview as table rows: the Prefect UI artifact and the approval page."""

    def fmt(v: object) -> str:
        return "" if v is None else str(v)

    return [
        {
            "#": str(line.line_no),
            "item": line.item_code,
            "description": line.description or "(not in catalog)",
            "case price": format_money(line.case_price, preview.currency)
            if line.case_price is not None
            else "no pricing",
            "cost basis": fmt(line.cost_basis),
            "margin %": fmt(line.margin_pct),
            "source": line.price_source,
            "flags": ", ".join(line.flags),
        }
        for line in preview.lines
    ]


def _short(text: str, width: int = 30) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def preview_markdown(preview: QuotePreview) -> str:
    """The preview as markdown: shown above Mike's approval form and as an artifact."""
    warn = "\n".join(
        f"- **{w.check}**: {w.message} ({', '.join(w.item_codes)})" for w in preview.warnings
    )
    # Prices first and the description last (and short): the UI's resume dialog is narrow.
    rows = "\n".join(
        f"| {r['#']} | {r['item']} | {r['case price']} | {r['margin %']} | {r['flags']} | {_short(r['description'])} |"
        for r in preview_rows(preview)
    )
    revises = f" (revises {preview.supersedes_quote_id})" if preview.supersedes_quote_id else ""
    return (
        f"### Quote {preview.quote_id}{revises}\n"
        f"**{preview.customer_name}** ({preview.customer_id}), school year {preview.school_year}"
        f"{', catalog ' + preview.catalog if preview.catalog else ''}\n\n"
        f"| # | item | case price | margin % | flags | description |\n|---|---|---|---|---|---|\n{rows}\n\n"
        f"**Subtotal {format_money(preview.subtotal, preview.currency)}** over "
        f"{len(preview.quotable_lines)} quotable line(s); overall margin "
        f"{preview.margin_pct if preview.margin_pct is not None else 'n/a'}%. "
        f"Valid until {format_day(preview.valid_until)}. PDF: {'yes' if preview.include_pdf else 'no'}.\n\n"
        + (f"**Warnings**\n{warn}\n" if warn else "No warnings.\n")
    )
