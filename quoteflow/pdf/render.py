"""Render a ``QuotePreview`` as the customer-facing quote PDF (xhtml2pdf + a Jinja2 template).

Pure: no database, no Prefect, no network. The renderer fetches nothing: the resource
policy denies remote and local reads, so the template must stay self-contained (any
image would have to be a ``data:`` URI).
"""

from __future__ import annotations

import io
import logging
import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from quoteflow.presentation import CENT, format_money
from quoteflow.quote import QuoteLineView, QuotePreview

_TEMPLATES = Path(__file__).parent / "templates"
OVERRIDE_MARK = "\u2020"  # dagger

# The page-count guess (see render_quote_pdf). Units: 1/46 of a page's body. Fitted on
# this template: a page holds 38 one-line rows, 21 two-line rows, 11 four-line rows.
_PAGE_UNITS = 46.0
_ROW_UNITS = 0.253  # a row's padding and rule
_LINE_UNITS = 0.943  # each wrapped line in a row
_HEADER_UNITS = 11.0  # letterhead and customer block, first page only
_TRAILER_UNITS = 7.0  # totals and terms
_TABLE_PT = 518.4  # 7.2 in between the page margins
_CELL_PAD_PT = 8.0  # 4 pt left and right
# Column shares of the wrapping columns: #, item code, description, unit/pack, price.
_WRAPPING_COLUMNS = {True: (0.04, 0.17, 0.34, 0.11, 0.12), False: (0.05, 0.18, 0.47, 0.14, 0.16)}
_PDF_PAGE = re.compile(rb"/Type /Page\b")  # ReportLab writes page dictionaries uncompressed

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
    item_code: str
    description: str
    reason: str


@dataclass(frozen=True)
class SupplierContact:
    """Who the customer deals with, printed under the supplier's name: address lines, a
    phone number, a contact person and the address a reply reaches."""

    address_lines: tuple[str, ...] = ()
    phone: str = ""
    contact_name: str = ""
    contact_email: str = ""

    @classmethod
    def from_text(
        cls, address: str, *, phone: str = "", contact_name: str = "", contact_email: str = ""
    ) -> SupplierContact:
        """An address written on one line (parts separated by ' | ') or several."""
        parts = [p.strip() for chunk in address.splitlines() for p in chunk.split("|")]
        return cls(tuple(p for p in parts if p), phone, contact_name, contact_email)


def _format_date(value: date | datetime) -> str:
    from quoteflow.presentation import format_day

    return format_day(value)


def _unit_pack(line: QuoteLineView) -> str:
    return f"{line.unit} of {line.pack_size}" if line.pack_size > 1 else line.unit


def _line_total(line: QuoteLineView) -> Decimal:
    assert line.case_price is not None  # only called for quotable lines
    expected = (line.case_price * line.quantity).quantize(CENT, rounding=ROUND_HALF_UP)
    if line.line_total is None:
        return expected
    total = line.line_total.quantize(CENT, rounding=ROUND_HALF_UP)
    if total != expected:
        raise QuotePdfError(
            f"line {line.line_no} ({line.item_code}): line_total {total} is not "
            f"case_price {line.case_price} x quantity {line.quantity} = {expected}"
        )
    return total


def _skip_reason(line: QuoteLineView, preview: QuotePreview) -> str:
    if not line.resolved:
        return "we could not identify this item; we will contact you about it"
    return f"no price available for the {preview.school_year} school year"


def _with_quantities(preview: QuotePreview) -> bool:
    """Whether the request named quantities: only then does the quote read as an order
    (quantity, line totals, a total); a school-year price list has a price per case."""
    return any(line.quantity != 1 for line in preview.quotable_lines)


def _price_heading(preview: QuotePreview) -> str:
    units = {line.unit for line in preview.quotable_lines}
    return f"Price per {units.pop()}" if len(units) == 1 else "Price per unit"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_quote_html(
    preview: QuotePreview,
    *,
    company_name: str,
    notes: str | None = None,
    page_count: int | None = None,
    supplier: SupplierContact | None = None,
) -> str:
    """The XHTML that ``render_quote_pdf`` hands to xhtml2pdf (useful for debugging).
    The footer says "Page n of ``page_count``"; without it xhtml2pdf counts the pages
    itself, which costs it a second layout pass."""
    fields = _template_fields(preview, company_name=company_name, notes=notes, supplier=supplier)
    return _html(fields, page_count)


def _html(fields: dict[str, Any], page_count: int | None) -> str:
    return _environment().get_template("quote.html").render(**fields, page_count=page_count)


def _template_fields(
    preview: QuotePreview,
    *,
    company_name: str,
    notes: str | None,
    supplier: SupplierContact | None = None,
) -> dict[str, Any]:
    """Everything the template shows, formatted; checks the figures add up."""
    currency = preview.currency
    rows: list[_Row] = []
    subtotal = Decimal("0.00")
    # Numbered as printed: the lines left off the table do not leave gaps.
    for number, line in enumerate(preview.quotable_lines, start=1):
        assert line.case_price is not None
        total = _line_total(line)
        subtotal += total
        rows.append(
            _Row(
                line_no=number,
                item_code=line.item_code,
                description=line.description,
                unit_pack=_unit_pack(line),
                quantity=f"{line.quantity:,}",
                price=format_money(line.case_price, currency),
                total=format_money(total, currency),
                override=line.price_source == "override",
            )
        )
    if subtotal != preview.subtotal.quantize(CENT, rounding=ROUND_HALF_UP):
        raise QuotePdfError(
            f"quote {preview.quote_id}: subtotal {preview.subtotal} is not the sum of the "
            f"quoted line totals ({subtotal})"
        )
    skipped = [
        _Skipped(
            # A code that is not in the catalog is a typo of ours: never shown to the customer.
            line.item_code if line.resolved else "",
            line.description or ("" if line.resolved else "A requested item"),
            _skip_reason(line, preview),
        )
        for line in preview.lines
        if not line.quotable
    ]
    note_lines = [part.strip() for part in (notes or "").strip().splitlines()]
    return dict(
        company_name=company_name,
        supplier=supplier or SupplierContact(),
        with_quantities=_with_quantities(preview),
        price_heading=_price_heading(preview),
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


def _wrapped_lines(text: str, width_pt: float) -> int:
    """Lines ``text`` takes in 9 pt Helvetica at ``width_pt``, breaking at spaces (a word
    wider than the column is broken where it overflows)."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    space = stringWidth(" ", "Helvetica", 9)
    lines, used = 1, 0.0
    for word in text.split():
        width = stringWidth(word, "Helvetica", 9)
        if width > width_pt:
            lines += (1 if used else 0) + math.ceil(width / width_pt) - 1
            used = width % width_pt
        elif used and used + space + width > width_pt:
            lines, used = lines + 1, width
        else:
            used = used + space + width if used else width
    return lines


def _estimated_pages(
    rows: list[_Row], skipped: int, notes: int, with_quantities: bool = True
) -> int:
    """A guess at the quote's page count: lay its rows out on pages by wrapped lines."""
    columns = _WRAPPING_COLUMNS[with_quantities]
    pages, used = 1, _HEADER_UNITS
    for row in rows:
        price = f"{row.price} {OVERRIDE_MARK}" if row.override else row.price
        texts = (str(row.line_no), row.item_code, row.description, row.unit_pack, price)
        wrapped = max(
            _wrapped_lines(text, share * _TABLE_PT - _CELL_PAD_PT)
            for text, share in zip(texts, columns, strict=True)
        )
        height = _ROW_UNITS + _LINE_UNITS * wrapped
        if used + height > _PAGE_UNITS:
            pages, used = pages + 1, 0.0
        used += height
    used += _TRAILER_UNITS + (3 + 1.5 * skipped if skipped else 0) + (3 + notes if notes else 0)
    return pages + math.ceil(max(0.0, used - _PAGE_UNITS) / _PAGE_UNITS)


def count_pages(pdf: bytes) -> int:
    """Pages in a PDF that ReportLab wrote."""
    return len(_PDF_PAGE.findall(pdf))


def render_quote_pdf(
    preview: QuotePreview,
    *,
    company_name: str,
    notes: str | None = None,
    supplier: SupplierContact | None = None,
) -> bytes:
    """Render the quote as PDF bytes.

    Only ``preview.quotable_lines`` are priced in the table, numbered as printed; the
    others are listed under it with the reason, never with a code that is not in the
    catalog. Quantities, line totals and a total only when the request named quantities;
    otherwise a price per case. Cost and margin are never printed. Raises
    ``QuotePdfError`` when xhtml2pdf reports errors or the figures do not add up.
    """
    # "Page n of m" in one layout pass: xhtml2pdf's <pdf:pagecount/> lays the whole quote
    # out twice (a third of the render). The footer is a frame of its own, so its text
    # never moves the body: render with a guessed m; if the guess was wrong, render again
    # with the count the first render produced (same pages, so then it is right).
    label = f"quote {preview.quote_id}"
    fields = _template_fields(preview, company_name=company_name, notes=notes, supplier=supplier)
    guess = _estimated_pages(
        fields["rows"],
        len(fields["skipped"]),
        len(fields["note_lines"]),
        fields["with_quantities"],
    )
    pdf = html_to_pdf(_html(fields, guess), label=label)
    pages = count_pages(pdf)
    if pages == guess:
        return pdf
    log.debug("%s: guessed %d pages, rendered %d; rendering again", label, guess, pages)
    pdf = html_to_pdf(_html(fields, pages), label=label)
    if count_pages(pdf) != pages:
        raise QuotePdfError(f"{label}: page count changed between renders ({pages} pages first)")
    return pdf


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
