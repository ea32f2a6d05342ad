"""Presentation shared by every channel (PDF, email, notices, reports, the page, the
Prefect UI): money as people read it and the quote preview as rows and markdown. Pure:
no database, no Prefect, no network."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from quoteflow.mirror.pricing_csv import ImportReport, PriceMove
from quoteflow.models import as_utc
from quoteflow.quote import CENT, DataAge, QuotePreview, local_day_in

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


def local_day(moment: datetime, tz: str | None = None) -> date:
    """The day ``moment`` falls on in ``tz`` (default: Mike's time zone); naive is UTC."""
    return local_day_in(moment, _zone(tz).key)


def format_day(value: date | datetime | None, tz: str | None = None) -> str:
    """``Thu Dec 3, 2026``: a day as Mike and customers read it; a moment is shown as its
    day in ``tz`` (default: Mike's time zone from settings); a dash for none."""
    if value is None:
        return "\u2014"
    if isinstance(value, datetime):
        value = local_day(value, tz)
    return f"{value:%a %b} {value.day}, {value.year}"


def format_when(value: datetime | None, tz: str | None = None) -> str:
    """``Thu Dec 3, 2026, 6:19 PM CST``: the one way a moment is shown to Mike or a
    customer (page, notices, PDF, error pages), in ``tz`` (default: Mike's time zone)."""
    if value is None:
        return "\u2014"
    local = as_utc(value).astimezone(_zone(tz))
    hour = local.strftime("%I").lstrip("0")
    return f"{format_day(local.date())}, {hour}:{local:%M %p %Z}"


# ---------------------------------------------------------------- times


def local_time(moment: datetime, tz: str) -> str:
    """A moment in Mike's time zone, in the one format (``format_when``)."""
    return format_when(moment, tz)


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


def time_left(deadline: datetime, now: datetime) -> str:
    """``2 h 5 min``: what remains until ``deadline`` (``span``), ``less than a minute``
    once it has passed."""
    return span(max((as_utc(deadline) - now).total_seconds(), 0.0))


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


def _listed(parts: list[str]) -> str:
    """``a, b and c``."""
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


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
        elif w.check == "items_resolved" and len(w.item_codes) > 1:
            out.append(
                f"{len(w.item_codes)} items are not in the catalog: "
                f"{_listed(w.item_codes)}. They are left off the quote."
            )
        elif w.check == "items_resolved":
            out += [
                f"{code} is not in the catalog: it is left off the quote." for code in w.item_codes
            ]
        elif w.check == "pricing_found" and len(w.item_codes) > 1:
            out.append(
                f"{len(w.item_codes)} items have no price for {preview.customer_name} in "
                f"{preview.school_year}: "
                f"{_listed([_line_name(code, names) for code in w.item_codes])}. They are left "
                "off unless you set a price."
            )
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
        f"{len(preview.quotable_lines)} priced line(s); overall margin "
        f"{str(preview.margin_pct) + '%' if preview.margin_pct is not None else 'unknown'}. "
        f"Valid until {format_day(preview.valid_until)}. PDF: {'yes' if preview.include_pdf else 'no'}.\n\n"
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
    parts.append(data_age_text(preview.data_age, now=datetime.now(UTC), tz=_zone(None).key) + ".")
    parts.append("\n".join(f"- {w}" for w in warnings) if warnings else "No warnings.")
    parts.append(
        f"[Open it on your approval page]({page_url}) to see every line, change prices and "
        "review them before approving. Here: choose approve or reject and submit."
    )
    return "\n\n".join(p for p in parts if p)


# ---------------------------------------------------------------- a quote's record

# The checks made after a quote is written, as Mike says them.
CHECK_WORDS = {
    "quote_persisted": "Quote saved",
    "pdf_stored": "PDF stored",
    "email_sent": "Email sent to the customer",
}
# Stored check details say where they looked; shown, they say what it means.
_DETAIL_WORDS = (
    (re.compile(r"quote (\S+) is in quotes \(lifecycle (\w+)\)"), r"quote \1 is saved (\2)"),
    (re.compile(r"quote (\S+) is not in quotes"), r"quote \1 is not saved"),
    (re.compile(r"quote (\S+) emailed \(outbound_email_log id \d+\)"), r"quote \1 was emailed"),
    (re.compile(r"no outbound_email_log row for quote (\S+) yet"), r"quote \1 is not emailed yet"),
    (re.compile(r", %PDF signature, content type [^\s,;]+"), ""),
    (re.compile(r"params has no quote_id"), "the check names no quote"),
    (re.compile(r"params has no object key"), "the check names no PDF"),
    (re.compile(r"unknown check '(\w+)'"), "not a check quoteflow knows"),
    (re.compile(r"not satisfied by the deadline"), "not done by"),
    (re.compile(r"; retrying until"), "; checking again until"),
)
_GATE_WORDS = {
    "approved": "Approved",
    "rejected": "Rejected",
    "expired": "Nobody approved it in time",
    "cancelled": "Approval cancelled",
}
_EVENT_WORDS = {
    "quote.accepted": "Marked accepted",
    "quote.declined": "Marked declined",
    "quote.expired": "Expired (past its valid-until day)",
    "quote.superseded": "Replaced",
}


def check_text(check_name: str) -> str:
    """``email_sent`` -> ``Email sent to the customer``."""
    return CHECK_WORDS.get(check_name, check_name.replace("_", " ").capitalize())


def check_detail_text(detail: str | None) -> str:
    """A recorded check detail in Mike's words (no table or field names)."""
    text = detail or ""
    for pattern, words in _DETAIL_WORDS:
        text = pattern.sub(words, text)
    return text[:1].upper() + text[1:]


def history_text(
    kind: str, status: str | None = None, ref: str | None = None, by: str | None = None
) -> str:
    """One line of a quote's history as a sentence: the approval (``kind`` "gate", its
    ``status``), the quote written (``ref``: the quote it revises), a ledger event
    (``status``: its type; ``ref``: the revision that replaced it), a revision written;
    ``by`` whoever did it (an expiry is nobody's doing)."""
    if kind == "gate":
        said = _GATE_WORDS.get(status or "", f"Approval {status}")
    elif kind == "written":
        said = "Quote written" + (f", revising {ref}" if ref else "")
    elif kind == "revision":
        said = f"Revision {ref} written"
    else:
        said = _EVENT_WORDS.get(status or "", (status or "").replace(".", " ").replace("_", " "))
        said += f" by revision {ref}" if ref else ""
    expired = status in ("expired", "quote.expired")
    return said + (f" by {by}" if by and not expired and kind in ("gate", "event") else "")
