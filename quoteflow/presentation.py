"""Presentation shared by every channel (PDF, email, notices, reports, the page, the
Prefect UI): money as people read it and the quote preview as rows and markdown. Pure:
no database, no Prefect, no network."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from quoteflow.mirror.pricing_csv import ImportReport, PriceMove
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
