"""Load context: the contract's four read queries (parameterised, never formatted) and
the item lookup that the items_resolved check needs. Nothing here writes."""

from __future__ import annotations

import sqlalchemy as sa
from prefect import task
from pydantic import BaseModel

from quoteflow.db import session_scope
from quoteflow.lifecycle import TRANSITIONS, QuoteAction, open_proposals
from quoteflow.mirror.store import last_success
from quoteflow.models import OPEN_LIFECYCLE, Quote, UTCDateTime, utcnow
from quoteflow.quote import (
    CustomerRecord,
    DataAge,
    ItemRecord,
    OpenQuote,
    PricingRecord,
    ProposedPrice,
    QuoteRequest,
    pricing_as_of,
    quote_id_for_run,
    revision_id,
)
from tasks.policy import read_options

CUSTOMER_SQL = sa.text("SELECT * FROM customers WHERE id = :customer_id")
PROGRAMS_SQL = sa.text(
    "SELECT * FROM customer_programs WHERE customer_id = :customer_id"
    " AND status = 'active' AND deleted_at IS NULL"
)
# The customer's price-list rows for the quoted items in one school year.
_PRICING_ROWS = (
    " FROM pricing_master WHERE customer_id = :customer_id AND item_code IN :item_codes"
    " AND school_year = :school_year"
)
PRICING_SQL = (
    sa.text("SELECT item_code, case_price, cost_basis, margin_pct" + _PRICING_ROWS)
    .bindparams(sa.bindparam("item_codes", expanding=True))
    .columns(
        item_code=sa.String,
        case_price=sa.Numeric(12, 2),
        cost_basis=sa.Numeric(12, 2),
        margin_pct=sa.Numeric(7, 2),
    )
)
_OPEN_STATUSES = ",".join(f"'{status}'" for status in OPEN_LIFECYCLE)
# Past valid_until a quote is no longer open, even before housekeeping marks it expired.
OPEN_QUOTES_SQL = (
    sa.text(
        "SELECT id, generated_at FROM quotes WHERE customer_id = :customer_id"
        f" AND lifecycle_status IN ({_OPEN_STATUSES})"
        " AND (valid_until IS NULL OR valid_until >= :today)"
        " ORDER BY generated_at DESC LIMIT 3"
    )
    .bindparams(sa.bindparam("today", type_=sa.Date))
    .columns(id=sa.String, generated_at=UTCDateTime())
)
ITEMS_SQL = sa.text(
    "SELECT item_code, netsuite_item_id, description, catalog, pack_size, unit FROM spec_items"
    " WHERE item_code IN :item_codes"
).bindparams(sa.bindparam("item_codes", expanding=True))

# How current the quoted prices are (mirror_fresh): who wrote each row, and when.
PRICING_AGE_SQL = (
    sa.text("SELECT source, updated_at" + _PRICING_ROWS)
    .bindparams(sa.bindparam("item_codes", expanding=True))
    .columns(source=sa.String, updated_at=UTCDateTime())
)


@task(**read_options())
def load_customer(customer_id: str) -> CustomerRecord | None:
    """Query `customer`."""
    with session_scope() as s:
        row = s.execute(CUSTOMER_SQL, {"customer_id": customer_id}).mappings().first()
    return CustomerRecord.model_validate(dict(row)) if row else None


@task(**read_options())
def load_customer_programs(customer_id: str) -> list[str]:
    """Query `customer_programs` (active, not deleted): the program names."""
    with session_scope() as s:
        rows = s.execute(PROGRAMS_SQL, {"customer_id": customer_id}).mappings().all()
    return [f"{r['program_code']}: {r['name']}" for r in rows]


@task(**read_options())
def load_current_pricing(
    customer_id: str, item_codes: list[str], school_year: str
) -> list[PricingRecord]:
    """Query `current_pricing` for the requested items and school year. A row whose cost
    or margin is unknown (NULL) still prices its item; its margin is recomputed, never read."""
    params = {"customer_id": customer_id, "item_codes": item_codes, "school_year": school_year}
    with session_scope() as s:
        rows = s.execute(PRICING_SQL, params).mappings().all()
    return [PricingRecord.model_validate(dict(r)) for r in rows]


@task(**read_options())
def load_data_age(customer_id: str, item_codes: list[str], school_year: str) -> DataAge:
    """When the customer and the quoted prices were last known current: the mirror's last
    successful sync of each table, or a price's own write when quoteflow wrote it."""
    params = {"customer_id": customer_id, "item_codes": item_codes, "school_year": school_year}
    with session_scope() as s:
        rows = s.execute(PRICING_AGE_SQL, params).all()
        customers_synced = last_success(s, "customers")
        pricing_synced = last_success(s, "pricing_master")
    return DataAge(
        customer_as_of=customers_synced,
        pricing_as_of=pricing_as_of([(r.source, r.updated_at) for r in rows], pricing_synced),
    )


@task(**read_options())
def load_open_quotes(customer_id: str) -> list[OpenQuote]:
    """Query `open_quotes`: the customer's three newest draft/proposed/sent quotes that
    are still valid (valid_until today or later)."""
    params = {"customer_id": customer_id, "today": utcnow().date()}
    with session_scope() as s:
        rows = s.execute(OPEN_QUOTES_SQL, params).all()
    return [OpenQuote(id=r.id, generated_at=r.generated_at) for r in rows]


@task(**read_options())
def load_open_proposals(customer_id: str, item_codes: list[str]) -> list[ProposedPrice]:
    """Prices Mike approved on earlier quotes for these items, not yet accepted."""
    return [
        ProposedPrice(quote_id=p.quote_id, item_code=p.item_code, new_price=p.new_price)
        for p in open_proposals(customer_id, item_codes)
    ]


@task(**read_options())
def resolve_items(item_codes: list[str], catalog: str | None) -> list[ItemRecord]:
    """Look the item codes up in spec_items (restricted to one catalog if given)."""
    with session_scope() as s:
        rows = s.execute(ITEMS_SQL, {"item_codes": item_codes}).mappings().all()
    items = [ItemRecord.model_validate(dict(r)) for r in rows]
    return [i for i in items if catalog is None or i.catalog == catalog]


class QuoteIdentity(BaseModel):
    quote_id: str
    supersedes_quote_id: str | None = None
    problem: str | None = None  # why the requested quote_id cannot be used


@task(**read_options())
def allocate_quote_id(request: QuoteRequest, flow_run_id: str) -> QuoteIdentity:
    """The quote id this run writes, and the quote it supersedes (when revising).

    A re-run of the same flow run gets the id it had before."""
    with session_scope() as s:
        own = s.execute(sa.select(Quote).where(Quote.flow_run_id == flow_run_id)).scalars().first()
        if own is not None:
            return QuoteIdentity(quote_id=own.id, supersedes_quote_id=own.supersedes_quote_id)
        if request.quote_id is None:
            return QuoteIdentity(quote_id=quote_id_for_run(flow_run_id, request.school_year))
        old = s.get(Quote, request.quote_id)
        if old is None:
            return QuoteIdentity(quote_id=request.quote_id)
        if old.customer_id != request.customer_id:
            return QuoteIdentity(
                quote_id=old.id,
                problem=f"quote_id: quote {old.id} belongs to customer {old.customer_id}, "
                f"not {request.customer_id}",
            )
        if old.lifecycle_status == "superseded":
            return QuoteIdentity(
                quote_id=old.id, problem=f"quote_id: quote {old.id} is already superseded"
            )
        if old.lifecycle_status not in TRANSITIONS[QuoteAction.supersede].allowed_from:
            return QuoteIdentity(
                quote_id=old.id,
                problem=f"quote_id: quote {old.id} is {old.lifecycle_status} and cannot be "
                "revised (the customer accepted it)",
            )
        root = old.id.split("-R")[0] if "-R" in old.id else old.id
        siblings = s.execute(sa.select(Quote.id).where(Quote.id.like(f"{root}-R%"))).scalars().all()
        return QuoteIdentity(
            quote_id=revision_id(old.id, list(siblings)), supersedes_quote_id=old.id
        )
