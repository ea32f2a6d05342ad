"""Presentation shared by every channel (PDF, email, notices, reports, the page, the
Prefect UI): money as people read it and the quote preview as rows and markdown. Pure:
no database, no Prefect, no network."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from quoteflow.quote import QuotePreview

CENT = Decimal("0.01")
# Line flags and price sources as people say them.
FLAG_WORDS = {
    "below_margin_floor": "under margin floor",
    "no_pricing": "no price",
    "unresolved": "not in catalog",
    "override": "your price",
    "pricing_master": "price list",
    "none": "\u2014",
}
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
            else "no price",
            "cost basis": fmt(line.cost_basis),
            "margin %": fmt(line.margin_pct),
            "source": line.price_source,
            "flags": ", ".join(FLAG_WORDS.get(f, f) for f in line.flags),
        }
        for line in preview.lines
    ]


def _line_name(code: str, descriptions: dict[str, str]) -> str:
    desc = descriptions.get(code)
    return f"{code} ({desc})" if desc else code


def plain_warnings(preview: QuotePreview, margin_floor: float) -> list[str]:
    """Each warning of the preview as a sentence Mike reads at a glance, e.g.
    ``FS-1004 (Cheese Pizza, ...) would earn 11.5%, under your 15% floor.``"""
    lines = {line.item_code: line for line in preview.lines}
    names = {code: line.description for code, line in lines.items() if line.description}
    out: list[str] = []
    for w in preview.warnings:
        if w.check == "margin_floor":
            for code in w.item_codes:
                line = lines.get(code)
                if line is None or line.margin_pct is None:
                    continue
                out.append(
                    f"{_line_name(code, names)} would earn {line.margin_pct.normalize():f}%, "
                    f"under your {margin_floor:g}% floor."
                )
        elif w.check == "items_resolved":
            out += [
                f"{code} is not in the catalog: it is left off the quote." for code in w.item_codes
            ]
        elif w.check == "pricing_found":
            out += [
                f"{_line_name(code, names)} has no price for {preview.customer_name} in "
                f"{preview.school_year}: it is left off unless you set a price."
                for code in w.item_codes
            ]
        elif w.check == "proposed_pricing":
            codes = set(w.item_codes)
            out += [
                f"{_line_name(p.item_code, names)}: {format_money(p.new_price, preview.currency)} "
                f"was proposed in quote {p.quote_id}; the customer has not answered yet."
                for p in preview.proposals
                if p.item_code in codes
            ]
        else:
            out.append(w.message)
    return out


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
        f"{len(preview.quotable_lines)} priced line(s); overall margin "
        f"{str(preview.margin_pct) + '%' if preview.margin_pct is not None else 'unknown'}. "
        f"Valid until {format_day(preview.valid_until)}. PDF: {'yes' if preview.include_pdf else 'no'}.\n\n"
        + (f"**Warnings**\n{warn}\n" if warn else "No warnings.\n")
    )


def resume_description(
    preview: QuotePreview,
    *,
    page_url: str,
    decide_by: datetime | None,
    margin_floor: float,
    problem: str | None = None,
) -> str:
    """The short markdown above the Prefect UI's resume form: the refusal reason first,
    then the totals, the warnings as sentences, the deadline and a link to Mike's page
    (the place made for deciding; the full table is there)."""
    margin = (
        f"margin {preview.margin_pct.normalize():f}%"
        if preview.margin_pct is not None
        else "margin unknown (some lines have no cost)"
    )
    warnings = plain_warnings(preview, margin_floor)
    parts = [f"**Not done, please decide again:** {problem}\n" if problem else ""]
    parts.append(
        f"**Quote {preview.quote_id} for {preview.customer_name}**, school year "
        f"{preview.school_year}: {len(preview.quotable_lines)} priced line(s), subtotal "
        f"**{format_money(preview.subtotal, preview.currency)}**, {margin}."
    )
    if decide_by is not None:
        parts.append(f"Decide by {format_when(decide_by)}.")
    parts.append("\n".join(f"- {w}" for w in warnings) if warnings else "No warnings.")
    parts.append(
        f"[Open it on your approval page]({page_url}) to see every line, change prices and "
        "review them before approving. Here: choose approve or reject and submit."
    )
    return "\n\n".join(p for p in parts if p)
