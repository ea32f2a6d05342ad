"""The quote PDF, read back with pypdf the way a customer's viewer would show it."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pypdf import PdfReader

from quoteflow.pdf import QuotePdfError, html_to_pdf, render_quote_pdf
from quoteflow.pdf import render as render_module
from quoteflow.quote import PriceSource, QuoteLineView, QuotePreview

COMPANY = "Northwind Janitorial Supply"


def _line(
    line_no: int,
    item_code: str,
    price: str | None,
    quantity: int,
    *,
    source: PriceSource = "pricing_master",
    resolved: bool = True,
    description: str = "Paper towels, multifold, white",
    pack_size: int = 12,
) -> QuoteLineView:
    case_price = Decimal(price) if price is not None else None
    return QuoteLineView(
        line_no=line_no,
        item_code=item_code,
        description=description,
        netsuite_item_id=str(500 + line_no) if resolved else None,
        pack_size=pack_size,
        quantity=quantity,
        case_price=case_price,
        # Distinctive figures so the test can tell whether they leaked into the PDF.
        cost_basis=Decimal("7.31") if case_price is not None else None,
        margin_pct=Decimal("23.47") if case_price is not None else None,
        line_total=case_price * quantity if case_price is not None else None,
        price_source=source if case_price is not None else "none",
        resolved=resolved,
    )


def _preview(
    lines: list[QuoteLineView],
    *,
    customer_name: str = "Springfield Unified School District",
    supersedes: str | None = None,
) -> QuotePreview:
    subtotal = sum(
        (line.line_total for line in lines if line.quotable and line.line_total is not None),
        Decimal("0.00"),
    )
    return QuotePreview(
        quote_id="Q-2026-00042",
        customer_id="107",
        customer_name=customer_name,
        customer_email="purchasing@springfield.k12.example",
        contact_name="Dana Whitfield",
        school_year="2026-27",
        catalog="JANSAN-2026",
        generated_at=datetime(2026, 6, 3, 14, 5, tzinfo=UTC),
        valid_until=date(2026, 7, 3),
        supersedes_quote_id=supersedes,
        lines=lines,
        subtotal=subtotal,
        cost_total=Decimal("98765.43"),
        margin_pct=Decimal("31.59"),
    )


def _pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


@pytest.fixture(scope="module")
def mixed_preview() -> QuotePreview:
    return _preview(
        [
            _line(1, "JS-1001", "1234.5", 3),
            _line(2, "JS-2002", "18.75", 40, source="override"),
            _line(3, "GHOST-777", "777.77", 5, resolved=False, description="Mystery mop"),
            _line(4, "NOPRICE-9", None, 2, description="Floor wax, 5 gal"),
            _line(5, "JS-3003", "42.00", 1000, pack_size=1),
        ],
        supersedes="Q-2026-00031",
    )


@pytest.fixture(scope="module")
def mixed_pdf(mixed_preview: QuotePreview) -> bytes:
    return render_quote_pdf(mixed_preview, company_name=COMPANY, notes="Deliver to dock B.")


@pytest.fixture(scope="module")
def mixed_text(mixed_pdf: bytes) -> str:
    return "\n".join(_pages(mixed_pdf))


def test_bytes_are_a_readable_pdf(mixed_pdf: bytes) -> None:
    assert mixed_pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(mixed_pdf))
    assert len(reader.pages) == 1
    assert reader.metadata is not None
    assert reader.metadata.title == f"Quote Q-2026-00042 - {COMPANY}"


def test_header_names_the_quote_customer_and_dates(mixed_text: str) -> None:
    for expected in (
        COMPANY,
        "Quote Q-2026-00042",
        "Springfield Unified School District",
        "Dana Whitfield",
        "2026-27",
        "Wed Jun 3, 2026",  # generated (the day in Mike's time zone)
        "Fri Jul 3, 2026",  # valid until
        "JANSAN-2026",
        "Revises Q-2026-00031",
        "Deliver to dock B.",
    ):
        assert expected in mixed_text, expected


def test_every_quotable_line_shows_its_code_and_formatted_prices(mixed_text: str) -> None:
    # price and line total, formatted by hand: $, thousands separators, 2 decimals
    for code, price, total in (
        ("JS-1001", "$1,234.50", "$3,703.50"),
        ("JS-2002", "$18.75", "$750.00"),
        ("JS-3003", "$42.00", "$42,000.00"),
    ):
        assert code in mixed_text
        assert price in mixed_text
        assert total in mixed_text
    assert "1,000" in mixed_text  # quantity with a thousands separator
    assert "case of 12" in mixed_text
    assert "Subtotal" in mixed_text
    # 3,703.50 + 750.00 + 42,000.00
    assert mixed_text.count("$46,453.50") == 2  # subtotal and total


def test_cost_and_margin_are_not_printed(mixed_text: str) -> None:
    lowered = mixed_text.lower()
    assert "cost" not in lowered
    assert "margin" not in lowered
    for leaked in ("7.31", "23.47", "98,765.43", "98765.43", "31.59"):
        assert leaked not in mixed_text, leaked


def test_unquotable_lines_are_only_in_the_not_quoted_note(mixed_text: str) -> None:
    table_part, _, note_part = mixed_text.partition("Not quoted")
    assert note_part, "the 'Not quoted' note is missing"
    assert "NOPRICE-9" not in table_part and "NOPRICE-9" in note_part
    assert "GHOST-777" not in mixed_text  # a code not in the catalog is our typo, not shown
    # an unresolved line's price never reaches the document
    assert "777.77" not in mixed_text
    assert "Mystery mop: we could not identify this item; we will contact you" in note_part
    assert "Line 3" not in note_part and "Line 4" not in note_part  # no skipping numbers
    assert "no price available for the 2026-27 school year" in note_part


def test_override_marker_only_on_the_overridden_line(mixed_text: str) -> None:
    assert "$18.75 \u2020" in mixed_text
    assert "$1,234.50 \u2020" not in mixed_text
    assert "$42.00 \u2020" not in mixed_text
    assert "\u2020 Special price for this quote." in mixed_text


def test_no_marker_or_footnote_without_overrides() -> None:
    pdf = render_quote_pdf(_preview([_line(1, "JS-1001", "10.00", 1)]), company_name=COMPANY)
    text = "\n".join(_pages(pdf))
    assert "\u2020" not in text
    assert "Not quoted" not in text
    assert "Revises" not in text


def test_sixty_lines_span_pages_with_header_and_page_numbers_on_each() -> None:
    lines = [_line(n, f"SKU-{n:04d}", f"{n * 3}.25", n) for n in range(1, 61)]
    pages = _pages(render_quote_pdf(_preview(lines), company_name=COMPANY))
    assert len(pages) > 1
    for number, text in enumerate(pages, start=1):
        for heading in ("#", "Item code", "Description", "Qty", "Case price", "Line total"):
            assert heading in text, f"page {number} lacks the table header {heading!r}"
        assert f"Page {number} of {len(pages)}" in text
    everything = "\n".join(pages)
    for n in range(1, 61):
        assert f"SKU-{n:04d}" in everything
    assert "$180.25" in everything  # line 60: 60 x 3 + 0.25
    assert "$10,815.00" in everything  # its total: 60 x 180.25


@pytest.mark.parametrize("guess", [1, 9], ids=["too-few", "too-many"])
def test_page_count_is_right_when_the_one_pass_guess_is_wrong(
    monkeypatch: pytest.MonkeyPatch, guess: int
) -> None:
    monkeypatch.setattr(render_module, "_estimated_pages", lambda *args: guess)
    lines = [_line(n, f"SKU-{n:04d}", f"{n}.50", n) for n in range(1, 41)]
    pages = _pages(render_quote_pdf(_preview(lines), company_name=COMPANY))
    assert len(pages) not in (1, 9)
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in text


def test_markup_characters_in_customer_text_render_literally() -> None:
    name = 'Smith & Jones <Unified> "ISD"'
    lines = [_line(1, "JS-1001", "10.00", 1, description="Wax <b>bold</b> & shine")]
    pdf = render_quote_pdf(
        _preview(lines, customer_name=name), company_name="A&B <Supply>", notes="<i>x</i> & y"
    )
    text = "\n".join(_pages(pdf))
    assert name in text
    assert "Wax <b>bold</b> & shine" in text
    assert "A&B <Supply>" in text
    assert "<i>x</i> & y" in text
    assert "&amp;" not in text and "&lt;" not in text


def test_a_subtotal_that_does_not_add_up_is_refused(mixed_preview: QuotePreview) -> None:
    wrong = mixed_preview.model_copy(update={"subtotal": Decimal("1.00")})
    with pytest.raises(QuotePdfError, match="not the sum of the quoted line totals"):
        render_quote_pdf(wrong, company_name=COMPANY)


def test_xhtml2pdf_errors_raise_a_clear_error() -> None:
    broken = (
        "<html><head><style>@font-face { font-family: X; "
        "src: url(data:font/ttf;base64,AAAA); } p { font-family: X; }</style></head>"
        "<body><p>x</p></body></html>"
    )
    with pytest.raises(QuotePdfError, match="quote Q-BROKEN: xhtml2pdf failed"):
        html_to_pdf(broken, label="quote Q-BROKEN")


def test_a_line_total_that_is_not_price_times_quantity_is_refused() -> None:
    line = _line(1, "JS-1001", "10.00", 3).model_copy(update={"line_total": Decimal("31.00")})
    preview = _preview([line]).model_copy(update={"subtotal": Decimal("31.00")})
    with pytest.raises(QuotePdfError, match=r"JS-1001.*line_total 31.00"):
        render_quote_pdf(preview, company_name=COMPANY)


def test_a_quote_with_nothing_priced_says_so_and_lists_the_reasons() -> None:
    lines = [_line(1, "NOPRICE-1", None, 4), _line(2, "GHOST-2", None, 1, resolved=False)]
    text = "\n".join(_pages(render_quote_pdf(_preview(lines), company_name=COMPANY)))
    assert "No items could be priced on this quote." in text
    assert "Case price" not in text  # no table header
    assert "NOPRICE-1" in text and "no price available" in text
    assert "GHOST-2" not in text and "we could not identify this item" in text


SUPPLIER = render_module.SupplierContact.from_text(
    "1200 Commerce Drive | Springfield, IL 62701",
    phone="(217) 555-0142",
    contact_name="Mike Reyes",
    contact_email="mike@northwind.example",
)


def _pdftotext(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "quote.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def price_list() -> QuotePreview:
    """A school-year price list as the page makes it: no quantities (each line 1 case),
    a code Mike mistyped and an item with no price this year, late in the evening in
    Mike's time zone (already the next day in UTC)."""
    lines = [
        _line(1, "JS-1001", "41.50", 1),
        _line(2, "FS-9999", None, 1, resolved=False, description=""),
        _line(3, "JS-2002", "18.75", 1, source="override"),
        _line(4, "NOPRICE-9", None, 1, description="Floor wax, 5 gal"),
        _line(5, "JS-3003", "42.00", 1),
    ]
    return _preview(lines).model_copy(
        update={"generated_at": datetime(2026, 12, 4, 4, 30, tzinfo=UTC)}  # Dec 3, 10:30 PM CST
    )


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler's pdftotext")
def test_a_price_list_reads_as_prices_per_case_with_the_supplier_and_no_internal_codes(
    price_list: QuotePreview, tmp_path
) -> None:
    pdf = render_quote_pdf(price_list, company_name=COMPANY, supplier=SUPPLIER)
    text = _pdftotext(pdf, tmp_path)
    for shown in (
        "1200 Commerce Drive",
        "Springfield, IL 62701",
        "Phone (217) 555-0142",
        "Your contact: Mike Reyes, mike@northwind.example",
        "Price per case",
        "$41.50",
        "$18.75",
        "$42.00",
        "This is a price list, not an order",
        "Thu Dec 3, 2026",  # the day it was made where the supplier is, not the UTC day
        "A requested item: we could not identify this item",
    ):
        assert shown in text, shown
    for hidden in ("Qty", "Line total", "Total (USD)", "Subtotal", "$102.25"):
        assert hidden not in text, hidden  # a price list is not an order
    for internal in (
        "FS-9999",  # Mike's typo
        "UTC",
        "2026-12-04",
        "Fri Dec 4",
        "pricing_master",
        "no_pricing",
        "unresolved",
        "override",
        "price_source",
    ):
        assert internal not in text, internal
    numbers = [
        int(m.group(1)) for m in re.finditer(r"^\s*(\d+)\s+JS-\d{4}", text, flags=re.MULTILINE)
    ]
    assert numbers == [1, 2, 3]  # as printed: the unquoted lines leave no gaps


def test_quantities_when_the_request_has_them_keep_totals_and_number_from_one(
    mixed_text: str,
) -> None:
    assert "Qty" in mixed_text and "Total (USD)" in mixed_text
    assert "Price per case" not in mixed_text
    table = mixed_text.partition("Not quoted")[0]
    assert re.search(r"^\s*3\s+JS-3003", table, flags=re.MULTILINE), table


def test_valid_until_counts_from_the_local_day_the_quote_was_made() -> None:
    from quoteflow.quote import QuoteContext, QuoteRequest, build_preview

    request = QuoteRequest(customer_id="107", item_codes=["JS-1001"], school_year="2026-27")
    context = QuoteContext(
        customer={"id": "107", "name": "Springfield USD", "entitystatus": "13"},
    )
    late_evening = datetime(2026, 12, 4, 4, 30, tzinfo=UTC)  # Dec 3 in Chicago
    made = build_preview(
        request,
        context,
        quote_id="Q-1",
        supersedes_quote_id=None,
        now=late_evening,
        validity_days=30,
        margin_floor=15,
        local_tz="America/Chicago",
    )
    assert made.valid_until == date(2027, 1, 2)  # Dec 3 + 30 days
