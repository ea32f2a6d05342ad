"""Who and what can be quoted, in people's words: customers by name, catalog items with
their descriptions (and a customer's prices for a school year when known), the school
years that have prices. Read-only lookups for the approval page's drafts and its
new-quote form; one query each."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import sqlalchemy as sa
from pydantic import BaseModel

from quoteflow.db import session_scope
from quoteflow.models import Customer, PricingMaster, SpecItem


class CustomerEntry(BaseModel):
    id: str
    name: str
    entitystatus: str

    @property
    def label(self) -> str:
        """``Maple Valley ISD (1107)``: what the customer search offers and accepts."""
        return f"{self.name} ({self.id})"


class CatalogItem(BaseModel):
    item_code: str
    description: str
    catalog: str
    unit: str
    pack_size: int
    case_price: Decimal | None = None  # the customer's price for the school year, if any


def customers(url: str | None = None) -> list[CustomerEntry]:
    """Every customer, by name."""
    stmt = sa.select(Customer.id, Customer.name, Customer.entitystatus).order_by(
        Customer.name, Customer.id
    )
    with session_scope(url) as s:
        return [CustomerEntry(id=i, name=n, entitystatus=st) for i, n, st in s.execute(stmt).all()]


def find_customer(text: str, url: str | None = None) -> CustomerEntry | None:
    """The one customer a search names: its id, its label ``Name (id)``, or its name
    (whole, or a part only one name contains; case ignored). None when none or several."""
    wanted = text.strip()
    if not wanted:
        return None
    everyone = customers(url)
    for c in everyone:
        if wanted in (c.id, c.label):
            return c
    low = wanted.lower()
    exact = [c for c in everyone if c.name.lower() == low]
    if len(exact) == 1:
        return exact[0]
    partial = [c for c in everyone if low in c.name.lower()]
    return partial[0] if len(partial) == 1 else None


def customer_name(customer_id: str, url: str | None = None) -> str | None:
    with session_scope(url) as s:
        return s.execute(
            sa.select(Customer.name).where(Customer.id == customer_id)
        ).scalar_one_or_none()


def catalog_items(
    customer_id: str | None = None, school_year: str | None = None, url: str | None = None
) -> list[CatalogItem]:
    """Every catalog item by catalog and code; with a customer and a school year, the
    customer's case price for that year where pricing_master has one."""
    price = sa.null()
    stmt = sa.select(SpecItem)
    if customer_id and school_year:
        stmt = stmt.outerjoin(
            PricingMaster,
            sa.and_(
                PricingMaster.item_code == SpecItem.item_code,
                PricingMaster.customer_id == customer_id,
                PricingMaster.school_year == school_year,
            ),
        )
        price = PricingMaster.case_price
    stmt = stmt.add_columns(price).order_by(SpecItem.catalog, SpecItem.item_code)
    with session_scope(url) as s:
        return [
            CatalogItem(
                item_code=item.item_code,
                description=item.description,
                catalog=item.catalog,
                unit=item.unit,
                pack_size=item.pack_size,
                case_price=p,
            )
            for item, p in s.execute(stmt).all()
        ]


def item_descriptions(codes: Iterable[str], url: str | None = None) -> dict[str, str]:
    """{item code: description} for the codes in the catalog (others are left out)."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    stmt = sa.select(SpecItem.item_code, SpecItem.description).where(SpecItem.item_code.in_(wanted))
    with session_scope(url) as s:
        return {code: desc for code, desc in s.execute(stmt).all()}


def school_years(url: str | None = None) -> list[str]:
    """The school years pricing_master has prices for, newest first."""
    stmt = (
        sa.select(PricingMaster.school_year).distinct().order_by(PricingMaster.school_year.desc())
    )
    with session_scope(url) as s:
        return list(s.execute(stmt).scalars().all())
