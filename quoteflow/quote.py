"""Plain pydantic models of a quote as the workflow sees it (no database, no Prefect).

These are what flows and tasks pass around, what the approval gate shows Mike, what
the PDF template renders and what NetSuite receives.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

PriceSource = Literal["pricing_master", "override", "none"]


class QuoteWarning(BaseModel):
    """A precondition that did not hold but does not block the run."""

    check: str
    message: str
    item_codes: list[str] = Field(default_factory=list)


class QuoteLineView(BaseModel):
    line_no: int
    item_code: str
    description: str = ""
    netsuite_item_id: str | None = None
    unit: str = "case"
    pack_size: int = 1
    quantity: int = 1
    case_price: Decimal | None = None
    cost_basis: Decimal | None = None
    margin_pct: Decimal | None = None
    line_total: Decimal | None = None
    price_source: PriceSource = "none"
    resolved: bool = True
    flags: list[str] = Field(default_factory=list)

    @property
    def quotable(self) -> bool:
        """A line goes on the quote only when the item exists and has a price."""
        return self.resolved and self.case_price is not None


class QuotePreview(BaseModel):
    """What will happen if Mike approves: the quote with its lines, totals and warnings."""

    quote_id: str
    customer_id: str
    customer_name: str
    customer_email: str | None = None
    contact_name: str | None = None
    school_year: str
    catalog: str | None = None
    currency: str = "USD"
    generated_at: datetime
    valid_until: date
    supersedes_quote_id: str | None = None
    lines: list[QuoteLineView]
    subtotal: Decimal = Decimal("0.00")
    cost_total: Decimal = Decimal("0.00")
    margin_pct: Decimal | None = None
    warnings: list[QuoteWarning] = Field(default_factory=list)
    programs: list[str] = Field(default_factory=list)
    open_quote_ids: list[str] = Field(default_factory=list)

    @property
    def quotable_lines(self) -> list[QuoteLineView]:
        return [line for line in self.lines if line.quotable]
