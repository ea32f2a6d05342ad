"""The page's words for people: times in Mike's timezone, "expires in ...", and the
preview's warnings as sentences with the margin floor shown. Presentation only: the
warnings themselves come from quoteflow.quote's precondition checks."""

from __future__ import annotations

from datetime import UTC, datetime

from quoteflow.presentation import format_money, format_when
from quoteflow.quote import QuotePreview

# Line flags and price sources as people say them.
WORDS = {
    "below_margin_floor": "under margin floor",
    "no_pricing": "no price",
    "unresolved": "not in catalog",
    "override": "your price",
    "pricing_master": "price list",
    "none": "—",
}


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def local(value: datetime | None, tz: str) -> str:
    """``Fri Nov 27, 2026, 2:05 PM CST``; a dash for no time."""
    return format_when(value, tz)


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


def expires(expires_at: datetime | None, now: datetime | None = None) -> str:
    """``expires in 42 min`` / ``expired 5 min ago`` / ``no deadline``."""
    if expires_at is None:
        return "no deadline"
    left = (_aware(expires_at) - (now or datetime.now(UTC))).total_seconds()
    return f"expires in {span(left)}" if left > 0 else f"expired {span(left)} ago"


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
