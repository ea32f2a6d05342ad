"""Pricing from a spreadsheet: the rules a pricing CSV must pass and what importing it
would change. Pure: no database, no files; the import service (quoteflow.mirror.
pricing_import) reads the file, asks the store which customers and items exist and what
is priced now, and writes the plan.

Rows are numbered as a spreadsheet numbers them: the header is row 1, the first price row
2. Prices follow the decision contract's one price rule (quoteflow.decision.price_problem).
"""

from __future__ import annotations

import csv
import heapq
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from pydantic import BaseModel, Field

from quoteflow.decision import price_problem

REQUIRED_COLUMNS: tuple[str, ...] = ("customer_id", "item_code", "case_price")
OPTIONAL_COLUMNS: tuple[str, ...] = ("cost_basis",)
MAX_ROWS = 250_000
MAX_CELL_CHARS = 200
LARGEST_MOVES = 10

Key = tuple[str, str]  # (customer_id, item_code)


class PricingFileError(ValueError):
    """The file as a whole cannot be read (encoding, header, no rows); names the rule."""


# The row types are plain dataclasses: a file holds up to MAX_ROWS of them, their values
# are checked by parse_pricing_csv, and a validating model per row would triple the time.
@dataclass(frozen=True, slots=True)
class PriceRow:
    """One price of the file: a customer's case price (and cost) for one item; ``row`` is
    its spreadsheet row number (the header is row 1)."""

    row: int
    customer_id: str
    item_code: str
    case_price: Decimal
    # None: not given (no column, or an empty cell); the cost pricing_master has is kept.
    cost_basis: Decimal | None = None

    @property
    def key(self) -> Key:
        return (self.customer_id, self.item_code)


@dataclass(frozen=True, slots=True)
class CurrentPrice:
    """What pricing_master holds now for one customer and item in the school year."""

    case_price: Decimal
    cost_basis: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PriceMove:
    """A changed price: old to new."""

    row: int
    customer_id: str
    item_code: str
    old_price: Decimal
    new_price: Decimal

    @property
    def change(self) -> Decimal:
        return self.new_price - self.old_price

    @property
    def change_pct(self) -> Decimal | None:
        if self.old_price == 0:
            return None
        return (self.change / self.old_price * 100).quantize(Decimal("0.1"))


@dataclass
class ImportPlan:
    """What importing the rows would do: which keys are new, changed or unchanged, and
    the largest price moves (by amount, then by percentage)."""

    new: list[PriceRow] = field(default_factory=list)
    changed: list[PriceRow] = field(default_factory=list)
    unchanged: list[PriceRow] = field(default_factory=list)
    largest_moves: list[PriceMove] = field(default_factory=list)


class ImportReport(BaseModel):
    """What an import found and did; ``errors`` non-empty means nothing was written."""

    file_name: str
    school_year: str
    dry_run: bool
    rows: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    largest_moves: list[PriceMove] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    written: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")  # a spreadsheet's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as exc:
        raise PricingFileError(
            f"the file is not UTF-8 text (byte {exc.start}): save it as 'CSV UTF-8'"
        ) from exc


def _check_header(header: list[str]) -> dict[str, int]:
    """{column: index}; PricingFileError naming what is missing, unknown or repeated."""
    names = [h.strip().lower() for h in header]
    expected = ", ".join(REQUIRED_COLUMNS) + " (optional: " + ", ".join(OPTIONAL_COLUMNS) + ")"
    if len(names) == 1 and ";" in names[0]:
        raise PricingFileError(
            f"header: {header[0]!r} is separated by semicolons; save the file with commas "
            f"(columns {expected})"
        )
    problems: list[str] = []
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"column(s) given twice: {', '.join(repeated)}")
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    unknown = [
        h
        for h, n in zip(header, names, strict=True)
        if n not in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
    ]
    if unknown:
        problems.append(f"unknown column(s): {', '.join(repr(u) for u in unknown)}")
    if problems:
        raise PricingFileError(f"header: {'; '.join(problems)}; expected columns {expected}")
    return {n: i for i, n in enumerate(names)}


def _price(row: int, column: str, text: str, errors: list[str]) -> Decimal | None:
    problem = price_problem(text)
    if problem is None:
        return Decimal(text)
    errors.append(f"row {row}, {column}: {text!r} is not a 2-decimal price ({problem})")
    return None


def parse_pricing_csv(data: bytes | str) -> tuple[list[PriceRow], list[str]]:
    """The file's price rows and every row error (``row 17, case_price: '14,90' is not a
    2-decimal price (...)``), duplicates included. PricingFileError when the file as a
    whole is unreadable: not UTF-8, a bad header, no rows, too many rows."""
    text = _decode(data) if isinstance(data, bytes) else data.removeprefix("\ufeff")
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise PricingFileError(f"not a readable CSV file: {exc}") from exc
    if not records or not any(cell.strip() for cell in records[0]):
        raise PricingFileError(
            "the file is empty: the first row must be the header "
            + ",".join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
        )
    columns = _check_header(records[0])
    body = [(n, r) for n, r in enumerate(records[1:], start=2) if any(c.strip() for c in r)]
    if not body:
        raise PricingFileError("the file has a header but no price rows")
    if len(body) > MAX_ROWS:
        raise PricingFileError(f"{len(body)} price rows: at most {MAX_ROWS} per file")
    rows: list[PriceRow] = []
    errors: list[str] = []
    first_row: dict[Key, int] = {}
    for n, record in body:
        if len(record) != len(columns):
            errors.append(f"row {n}: {len(record)} cells, the header has {len(columns)}")
            continue
        cells = {name: record[i].strip() for name, i in columns.items()}
        long = [name for name, v in cells.items() if len(v) > MAX_CELL_CHARS]
        if long:
            errors.append(f"row {n}, {long[0]}: longer than {MAX_CELL_CHARS} characters")
            continue
        before = len(errors)
        customer, item = cells["customer_id"], cells["item_code"]
        if not customer:
            errors.append(f"row {n}, customer_id: empty")
        if not item:
            errors.append(f"row {n}, item_code: empty")
        price = _price(n, "case_price", cells["case_price"], errors)
        cost_text = cells.get("cost_basis", "")
        cost = _price(n, "cost_basis", cost_text, errors) if cost_text else None
        if len(errors) > before:
            continue
        assert price is not None
        key = (customer, item)
        if key in first_row:
            errors.append(
                f"row {n}: customer {customer} item {item} is priced twice "
                f"(also row {first_row[key]}); keep one row"
            )
            continue
        first_row[key] = n
        rows.append(
            PriceRow(row=n, customer_id=customer, item_code=item, case_price=price, cost_basis=cost)
        )
    return rows, errors


def unknown_references(rows: Iterable[PriceRow], customers: set[str], items: set[str]) -> list[str]:
    """Row errors for customers and items the mirror does not know."""
    errors: list[str] = []
    for r in rows:
        if r.customer_id not in customers:
            errors.append(f"row {r.row}, customer_id: {r.customer_id!r} is not a known customer")
        if r.item_code not in items:
            errors.append(f"row {r.row}, item_code: {r.item_code!r} is not a catalog item")
    return errors


def plan_import(rows: Iterable[PriceRow], current: Mapping[Key, CurrentPrice]) -> ImportPlan:
    """Sort the rows into new, changed (price or cost) and unchanged; keep the
    LARGEST_MOVES largest price changes (by amount, then by percentage)."""
    plan = ImportPlan()
    moves: list[tuple[Decimal, Decimal, int, PriceRow, Decimal]] = []
    for r in rows:
        now = current.get(r.key)
        if now is None:
            plan.new.append(r)
        elif now.case_price == r.case_price and r.cost_basis in (None, now.cost_basis):
            plan.unchanged.append(r)
        else:
            plan.changed.append(r)
            if now.case_price != r.case_price:
                change = abs(r.case_price - now.case_price)
                ratio = change / now.case_price if now.case_price else Decimal(0)
                moves.append((change, ratio, -r.row, r, now.case_price))
    top = heapq.nlargest(LARGEST_MOVES, moves, key=lambda m: m[:3])
    plan.largest_moves = [
        PriceMove(
            row=r.row,
            customer_id=r.customer_id,
            item_code=r.item_code,
            old_price=old,
            new_price=r.case_price,
        )
        for _, _, _, r, old in top
    ]
    return plan
