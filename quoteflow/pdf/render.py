"""Render a ``QuotePreview`` as the customer-facing quote PDF (xhtml2pdf + a Jinja2 template).

Pure: no database, no Prefect, no network. The renderer fetches nothing: the resource
policy denies remote and local reads, so the template must stay self-contained (any
image would have to be a ``data:`` URI).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path

import jinja2

from quoteflow.quote import QuoteLineView, QuotePreview

_TEMPLATES = Path(__file__).parent / "templates"
_CENT = Decimal("0.01")
_SYMBOLS = {"USD": "$", "CAD": "CA$", "AUD": "A$", "EUR": "\u20ac", "GBP": "\u00a3"}
OVERRIDE_MARK = "\u2020"  # dagger

log = logging.getLogger(__name__)


class QuotePdfError(RuntimeError):
    """xhtml2pdf could not render the quote, or the quote's figures do not add up."""


@dataclass(frozen=True)
class _Row:
    line_no: int
    item_code: str
    description: str
    unit_pack: str
    quantity: str
    price: str
    total: str
    override: bool


@dataclass(frozen=True)
class _Skipped:
    line_no: int
    item_code: str
    description: str
    reason: str


def format_money(amount: Decimal, currency: str = "USD") -> str:
    """``Decimal("1234.5")`` -> ``"$1,234.50"``; unknown currencies as ``"CHF 1,234.50"``."""
    cents = amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    sign = "-" if cents < 0 else ""
    digits = f"{abs(cents):,.2f}"
    symbol = _SYMBOLS.get(currency.upper())
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{currency.upper()} {digits}"


def _format_date(value: date | datetime) -> str:
    return f"{value:%B} {value.day}, {value.year}"


def _unit_pack(line: QuoteLineView) -> str:
    return f"{line.unit} of {line.pack_size}" if line.pack_size > 1 else line.unit


def _line_total(line: QuoteLineView) -> Decimal:
    assert line.case_price is not None  # only called for quotable lines
    expected = (line.case_price * line.quantity).quantize(_CENT, rounding=ROUND_HALF_UP)
    if line.line_total is None:
        return expected
    total = line.line_total.quantize(_CENT, rounding=ROUND_HALF_UP)
    if total != expected:
        raise QuotePdfError(
            f"line {line.line_no} ({line.item_code}): line_total {total} is not "
            f"case_price {line.case_price} x quantity {line.quantity} = {expected}"
        )
    return total


def _skip_reason(line: QuoteLineView, preview: QuotePreview) -> str:
    if not line.resolved:
        where = f"catalog {preview.catalog}" if preview.catalog else "our catalog"
        return f"item code not found in {where}"
    return f"no price available for the {preview.school_year} school year"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_quote_html(preview: QuotePreview, *, company_name: str, notes: str | None = None) -> str:
    """The XHTML that ``render_quote_pdf`` hands to xhtml2pdf (useful for debugging)."""
    currency = preview.currency
    rows: list[_Row] = []
    subtotal = Decimal("0.00")
    for line in preview.quotable_lines:
        assert line.case_price is not None
        total = _line_total(line)
        subtotal += total
        rows.append(
            _Row(
                line_no=line.line_no,
                item_code=line.item_code,
                description=line.description,
                unit_pack=_unit_pack(line),
                quantity=f"{line.quantity:,}",
                price=format_money(line.case_price, currency),
                total=format_money(total, currency),
                override=line.price_source == "override",
            )
        )
    if subtotal != preview.subtotal.quantize(_CENT, rounding=ROUND_HALF_UP):
        raise QuotePdfError(
            f"quote {preview.quote_id}: subtotal {preview.subtotal} is not the sum of the "
            f"quoted line totals ({subtotal})"
        )
    skipped = [
        _Skipped(line.line_no, line.item_code, line.description, _skip_reason(line, preview))
        for line in preview.lines
        if not line.quotable
    ]
    note_lines = [part.strip() for part in (notes or "").strip().splitlines()]
    template = _environment().get_template("quote.html")
    return template.render(
        company_name=company_name,
        quote=preview,
        generated_on=_format_date(preview.generated_at),
        valid_until=_format_date(preview.valid_until),
        rows=rows,
        skipped=skipped,
        any_override=any(row.override for row in rows),
        override_mark=OVERRIDE_MARK,
        subtotal=format_money(subtotal, currency),
        currency=currency.upper(),
        note_lines=note_lines,
    )


def render_quote_pdf(
    preview: QuotePreview, *, company_name: str, notes: str | None = None
) -> bytes:
    """Render the quote as PDF bytes.

    Only ``preview.quotable_lines`` are priced in the table; the others are listed
    under it with the reason. Cost and margin are never printed. Raises
    ``QuotePdfError`` when xhtml2pdf reports errors or the figures do not add up.
    """
    html = render_quote_html(preview, company_name=company_name, notes=notes)
    return html_to_pdf(html, label=f"quote {preview.quote_id}")


def html_to_pdf(html: str, *, label: str = "document") -> bytes:
    """Convert self-contained XHTML to PDF bytes; ``QuotePdfError`` on any xhtml2pdf error.

    Warnings (an unreadable image, say) do not fail the render; they are logged.
    """
    # Imported here, not at module load: xhtml2pdf + reportlab cost ~2 s of import and
    # only the render step needs them (format_money and the HTML are used everywhere).
    from xhtml2pdf import pisa
    from xhtml2pdf.config.resources import ResourceAccessPolicy

    out = io.BytesIO()
    # Nothing to fetch: no http(s), and base_dir=None denies local file reads too.
    no_resources = ResourceAccessPolicy(allow_remote=False, base_dir=None)
    try:
        status = pisa.CreatePDF(html, dest=out, encoding="utf-8", resource_policy=no_resources)
    except Exception as exc:
        raise QuotePdfError(f"{label}: xhtml2pdf failed: {type(exc).__name__}: {exc}") from exc
    if status.err:
        messages = "; ".join(
            f"line {lineno}: {msg}" for mode, lineno, msg, _ in status.log if mode == "error"
        )
        raise QuotePdfError(f"{label}: xhtml2pdf reported {status.err} error(s): {messages}")
    for mode, lineno, msg, fragment in status.log:
        if mode == "warning":
            log.warning("%s: xhtml2pdf warning at line %s: %s (%s)", label, lineno, msg, fragment)
    pdf = out.getvalue()
    if not pdf.startswith(b"%PDF"):
        raise QuotePdfError(f"{label}: xhtml2pdf produced no PDF")
    return pdf
