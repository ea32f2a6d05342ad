"""SQL of the pricing import: which customers and items exist, what a school year's
prices are now, and the one write of an import plan. SQL only; the caller owns the
session (one transaction for the whole plan)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from quoteflow.mirror.pricing_csv import CurrentPrice, Key, PriceRow
from quoteflow.models import Customer, PricingMaster, SpecItem
from quoteflow.quote import margin_pct

_CHUNK = 5_000  # IN lists and executemany batches stay well under every driver's limit
PRICING = PricingMaster.__table__


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(values), _CHUNK):
        yield values[i : i + _CHUNK]


def existing_customers(session: Session, ids: Iterable[str]) -> set[str]:
    wanted = sorted(set(ids))
    found: set[str] = set()
    for part in _chunks(wanted):
        found.update(session.execute(sa.select(Customer.id).where(Customer.id.in_(part))).scalars())
    return found


def existing_items(session: Session, codes: Iterable[str]) -> set[str]:
    wanted = sorted(set(codes))
    found: set[str] = set()
    for part in _chunks(wanted):
        found.update(
            session.execute(
                sa.select(SpecItem.item_code).where(SpecItem.item_code.in_(part))
            ).scalars()
        )
    return found


def current_prices(
    session: Session, school_year: str, customer_ids: Iterable[str]
) -> dict[Key, tuple[int, CurrentPrice]]:
    """{(customer, item): (row id, price and cost)} for these customers in the school year."""
    out: dict[Key, tuple[int, CurrentPrice]] = {}
    for part in _chunks(sorted(set(customer_ids))):
        stmt = sa.select(
            PRICING.c.id,
            PRICING.c.customer_id,
            PRICING.c.item_code,
            PRICING.c.case_price,
            PRICING.c.cost_basis,
        ).where(PRICING.c.school_year == school_year, PRICING.c.customer_id.in_(part))
        for row_id, customer, item, price, cost in session.execute(stmt):
            out[(customer, item)] = (row_id, CurrentPrice(case_price=price, cost_basis=cost))
    return out


def write_prices(
    session: Session,
    school_year: str,
    rows: Iterable[PriceRow],
    existing: dict[Key, tuple[int, CurrentPrice]],
    *,
    source: str,
    now: datetime,
) -> tuple[int, int]:
    """Insert the rows pricing_master lacks, update the others (a cost not given keeps the
    stored one; the margin follows price and cost). Returns (inserted, updated)."""
    inserts: list[dict[str, object]] = []
    updates: list[dict[str, object]] = []
    for r in rows:
        held = existing.get(r.key)
        cost = r.cost_basis if r.cost_basis is not None or held is None else held[1].cost_basis
        values = {
            "case_price": r.case_price,
            "cost_basis": cost,
            "margin_pct": margin_pct(r.case_price, cost),
            "source": source,
            "updated_at": now,
        }
        if held is None:
            inserts.append(
                {"customer_id": r.customer_id, "item_code": r.item_code, "school_year": school_year}
                | values
            )
        else:
            updates.append({"row_id": held[0]} | values)
    for i in range(0, len(inserts), _CHUNK):
        session.execute(sa.insert(PRICING), inserts[i : i + _CHUNK])
    # The SET clause comes from the parameters' keys (every update sets the same columns).
    update = sa.update(PRICING).where(PRICING.c.id == sa.bindparam("row_id"))
    for i in range(0, len(updates), _CHUNK):
        session.connection().execute(update, updates[i : i + _CHUNK])
    return len(inserts), len(updates)
