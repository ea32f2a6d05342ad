"""Presentation shared by every channel (PDF, email, notices, reports, the page, the
Prefect UI): money as people read it and the quote preview as rows and markdown. Pure:
no database, no Prefect, no network."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from quoteflow.mirror.pricing_csv import ImportReport, PriceMove
from quoteflow.quote import DataAge, QuotePreview

CENT = Decimal("0.01")
_SYMBOLS = {"USD": "$", "CAD": "CA$", "AUD": "A$", "EUR": "\u20ac", "GBP": "\u00a3"}


def format_money(amount: Decimal, currency: str = "USD") -> str:
    """``Decimal("1234.5")`` -> ``"$1,234.50"``; unknown currencies as ``"CHF 1,234.50"``."""
    cents = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    sign = "-" if cents < 0 else ""
    digits = f"{abs(cents):,.2f}"
    symbol = _SYMBOLS.get(currency.upper())
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{currency.upper()} {digits}"


# ---------------------------------------------------------------- times


def local_time(moment: datetime, tz: str) -> str:
    """``Fri Nov 27, 2:05 PM CST``: how a person reads a moment, in Mike's time zone."""
    local = moment.astimezone(ZoneInfo(tz))
    hour = local.strftime("%I").lstrip("0")
    return f"{local:%a %b} {local.day}, {hour}:{local:%M %p %Z}"


def clock_time(moment: datetime, tz: str) -> str:
    """``2:05 PM``: a moment of today, in Mike's time zone."""
    local = moment.astimezone(ZoneInfo(tz))
    return f"{local.strftime('%I').lstrip('0')}:{local:%M %p}"


def span(seconds: float) -> str:
    """``42 min``, ``2 h 5 min``, ``3 days``: a duration as a person says it."""
    minutes = int(abs(seconds) // 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // (24 * 60)} days"


def data_age_text(age: DataAge | None, *, now: datetime, tz: str) -> str:
    """How old a quote's NetSuite data is: ``NetSuite data as of 2:05 PM, 12 min ago``
    (another day: ``as of Tue Dec 1, 2:05 PM CST, 3 days ago``)."""
    as_of = age.as_of if age is not None else None
    if as_of is None:
        return "NetSuite data: never synced from NetSuite (local data, age unknown)"
    zone = ZoneInfo(tz)
    same_day = as_of.astimezone(zone).date() == now.astimezone(zone).date()
    when = clock_time(as_of, tz) if same_day else local_time(as_of, tz)
    ago = (now - as_of).total_seconds()
    return (
        f"NetSuite data as of {when}, {span(ago)} ago"
        if ago >= 60
        else (f"NetSuite data as of {when}, just now")
    )


# ---------------------------------------------------------------- the preview


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


def preview_markdown(preview: QuotePreview, *, tz: str = "UTC", now: datetime | None = None) -> str:
    """The preview as markdown: shown above Mike's approval form and as an artifact;
    ``tz`` is Mike's time zone (the data's age reads in it)."""
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
        f"{data_age_text(preview.data_age, now=now or datetime.now(UTC), tz=tz)}.\n\n"
        f"| # | item | case price | margin % | flags | description |\n|---|---|---|---|---|---|\n{rows}\n\n"
        f"**Subtotal {format_money(preview.subtotal, preview.currency)}** over "
        f"{len(preview.quotable_lines)} quotable line(s); overall margin "
        f"{preview.margin_pct if preview.margin_pct is not None else 'n/a'}%. "
        f"Valid until {preview.valid_until:%Y-%m-%d}. PDF: {'yes' if preview.include_pdf else 'no'}.\n\n"
        + (f"**Warnings**\n{warn}\n" if warn else "No warnings.\n")
    )


# ---------------------------------------------------------------- pricing imports


def price_move_text(move: PriceMove, currency: str = "USD") -> str:
    """``row 17: customer 1107, FS-1001: $41.50 -> $44.00 (+$2.50, +6.0%)``."""
    sign = "+" if move.change >= 0 else "-"
    pct = f", {move.change_pct:+}%" if move.change_pct is not None else ""
    return (
        f"row {move.row}: customer {move.customer_id}, {move.item_code}: "
        f"{format_money(move.old_price, currency)} -> {format_money(move.new_price, currency)} "
        f"({sign}{format_money(abs(move.change), currency)}{pct})"
    )


def import_summary(report: ImportReport) -> str:
    """``prices.csv, school year 2026-27: 240 price rows: 12 new, 30 changed, 198 unchanged.``"""
    return (
        f"{report.file_name}, school year {report.school_year}: {report.rows} price row(s): "
        f"{report.new} new, {report.changed} changed, {report.unchanged} unchanged."
    )
