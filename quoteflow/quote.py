"""The quote domain as plain pydantic models and pure functions (no database, no Prefect).

These are what flows and tasks pass around, what the approval gate shows Mike, what the
PDF template renders and what NetSuite receives. Everything here is tested without Prefect.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, StringConstraints, field_validator

from quoteflow.models import as_utc

PriceSource = Literal["pricing_master", "override", "none"]
CENT = Decimal("0.01")

ItemCode = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
    ),
]


def money(value: Decimal | float | int | str) -> Decimal:
    """Round to cents, half up, as money is rounded on an invoice."""
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def margin_pct(price: Decimal | None, cost: Decimal | None) -> Decimal | None:
    """(price - cost) / price as a percentage, 2 dp; None when it is undefined."""
    if price is None or cost is None or price == 0:
        return None
    return ((price - cost) / price * 100).quantize(CENT, rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------- the request


class QuoteRequest(BaseModel):
    """What Mike asks for: a quote for one customer, some items, one school year."""

    customer_id: str = Field(
        min_length=1,
        max_length=32,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="NetSuite internal id of the customer (school district), e.g. 1107.",
    )
    item_codes: list[ItemCode] = Field(
        min_length=1,
        max_length=200,
        description="Catalog item codes to quote, e.g. FS-1001. Unique, at most 200.",
    )
    school_year: str = Field(
        pattern=r"^\d{4}-\d{2}$",
        description="School year the prices apply to, e.g. 2026-27.",
    )
    quote_id: str | None = Field(
        default=None,
        max_length=40,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Revise this quote (it becomes superseded), or use this id for the new quote.",
    )
    catalog: str | None = Field(
        default=None, max_length=64, description="Only resolve items in this catalog."
    )
    include_pdf: bool = Field(default=True, description="Render and store the quote PDF.")

    @field_validator("item_codes")
    @classmethod
    def _unique_codes(cls, codes: list[str]) -> list[str]:
        seen: set[str] = set()
        dupes = sorted({c for c in codes if c in seen or seen.add(c)})  # type: ignore[func-returns-value]
        if dupes:
            raise ValueError(f"item codes must be unique; repeated: {', '.join(dupes)}")
        return codes

    @field_validator("school_year")
    @classmethod
    def _consecutive_years(cls, value: str) -> str:
        return check_school_year(value)


SCHOOL_YEAR_PATTERN = r"^\d{4}-\d{2}$"


def check_school_year(value: str) -> str:
    """A school year like 2026-27 (consecutive years, starting 2000-2099); ValueError
    naming the rule otherwise."""
    if not re.fullmatch(SCHOOL_YEAR_PATTERN, value):
        raise ValueError(f"school year {value!r} must look like 2026-27")
    start, end = int(value[:4]), int(value[5:])
    if (start + 1) % 100 != end:
        raise ValueError(
            f"school year must span consecutive years, e.g. {start}-{(start + 1) % 100:02d}"
        )
    if not 2000 <= start <= 2099:
        raise ValueError("school year must start between 2000 and 2099")
    return value


# ---------------------------------------------------------------- context (read side)


class CustomerRecord(BaseModel):
    id: str
    name: str
    entitystatus: str
    email: str | None = None
    contact_name: str | None = None
    isinactive: bool = False  # inactive in NetSuite, or gone from it (a full mirror pass)


class PricingRecord(BaseModel):
    """A pricing_master row. Cost and margin may be unknown (an item first priced by one of
    Mike's overrides, a zero price): the line then shows no margin, the load never fails."""

    item_code: str
    case_price: Decimal
    cost_basis: Decimal | None = None
    margin_pct: Decimal | None = None


class ItemRecord(BaseModel):
    item_code: str
    netsuite_item_id: str
    description: str
    catalog: str
    pack_size: int
    unit: str


class OpenQuote(BaseModel):
    id: str
    generated_at: datetime


class ProposedPrice(BaseModel):
    """A price Mike approved on an earlier quote that the customer has not accepted yet."""

    quote_id: str
    item_code: str
    new_price: Decimal


class DataAge(BaseModel):
    """How current the quote's NetSuite data is: when the customer row and the quoted
    prices were last known to match NetSuite. None: not known (never synced from NetSuite,
    e.g. demo data loaded by `db seed`)."""

    customer_as_of: datetime | None = None
    pricing_as_of: datetime | None = None

    @property
    def as_of(self) -> datetime | None:
        """The older of the two: the quote is only as current as its oldest part."""
        known = [t for t in (self.customer_as_of, self.pricing_as_of) if t is not None]
        return min(known) if known else None


def pricing_as_of(
    rows: list[tuple[str, datetime | None]], last_sync: datetime | None
) -> datetime | None:
    """The oldest moment the quoted prices were known current. A row quoteflow wrote itself
    (a spreadsheet import, an accepted price: ``source`` other than ``netsuite``) is current
    as of its own write, or the table's last successful sync if that is later; a row synced
    from NetSuite as of the last successful sync. None when no row's moment is known."""
    moments: list[datetime] = []
    for source, updated_at in rows:
        own = updated_at if source != "netsuite" else None
        known = [t for t in (own, last_sync) if t is not None]
        if known:
            moments.append(max(known))
    return min(moments) if moments else None


class QuoteContext(BaseModel):
    """The four contract queries, plus the item lookup that items_resolved needs and the
    open proposed prices (a note on the preview)."""

    customer: CustomerRecord | None
    programs: list[str] = Field(default_factory=list)
    pricing: list[PricingRecord] = Field(default_factory=list)
    open_quotes: list[OpenQuote] = Field(default_factory=list)
    items: list[ItemRecord] = Field(default_factory=list)
    proposals: list[ProposedPrice] = Field(default_factory=list)
    data_age: DataAge | None = None


# ---------------------------------------------------------------- the preview


class QuoteWarning(BaseModel):
    """A precondition that did not hold but does not block the run."""

    check: str
    message: str
    item_codes: list[str] = Field(default_factory=list)


class BlockReason(BaseModel):
    check: str
    message: str


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
    include_pdf: bool = True
    lines: list[QuoteLineView]
    subtotal: Decimal = Decimal("0.00")
    cost_total: Decimal = Decimal("0.00")
    margin_pct: Decimal | None = None
    warnings: list[QuoteWarning] = Field(default_factory=list)
    programs: list[str] = Field(default_factory=list)
    open_quote_ids: list[str] = Field(default_factory=list)
    proposals: list[ProposedPrice] = Field(default_factory=list)
    data_age: DataAge | None = None

    @property
    def quotable_lines(self) -> list[QuoteLineView]:
        return [line for line in self.lines if line.quotable]


# The precondition checks this module applies: (check, effect, rule). "block" halts the
# run before any write; "warn" goes on the preview Mike approves.
PRECONDITIONS: tuple[tuple[str, Literal["block", "warn"], str], ...] = (
    ("customer_exists", "block", "the customer id is in customers and not inactive"),
    ("customer_not_on_hold", "block", "the customer's entitystatus is not 'hold'"),
    ("items_resolved", "warn", "every item code is in spec_items (others are left off)"),
    ("pricing_found", "warn", "pricing_master has the item for the customer and school year"),
    ("margin_floor", "warn", "each line's margin is at least margin_floor_pct"),
    ("proposed_pricing", "warn", "no earlier quote proposes a price for the item, unanswered"),
    (
        "mirror_fresh",
        "warn",
        "the customer and the quoted prices were synced from NetSuite (or imported) within "
        "mirror_max_age_hours; never-synced data has no age and does not warn",
    ),
)
MIRROR_FRESH = "mirror_fresh"


def is_on_hold(entitystatus: str) -> bool:
    """customer_not_on_hold's rule: the customer's entitystatus is 'hold'."""
    return entitystatus.strip().lower() == "hold"


def check_blocking(context: QuoteContext, quote_id_problem: str | None = None) -> list[BlockReason]:
    """customer_exists and customer_not_on_hold: the two checks that halt a run; then
    ``quote_id_usable`` when the requested quote id cannot be used (``quote_id_problem``)."""
    customer = context.customer
    if customer is None or not customer.id:
        return [BlockReason(check="customer_exists", message="customer not found")]
    if customer.isinactive:
        return [
            BlockReason(
                check="customer_exists",
                message=f"customer {customer.id} ({customer.name}) is inactive in NetSuite",
            )
        ]
    if is_on_hold(customer.entitystatus):
        return [
            BlockReason(
                check="customer_not_on_hold",
                message=f"customer {customer.id} ({customer.name}) is on hold",
            )
        ]
    if quote_id_problem:
        return [BlockReason(check="quote_id_usable", message=quote_id_problem)]
    return []


def freshness_warning(
    age: DataAge | None, *, now: datetime, max_age_hours: float | None
) -> QuoteWarning | None:
    """mirror_fresh: the customer or the quoted prices were last known current more than
    ``max_age_hours`` ago. Unknown age (never synced) or no limit: no warning."""
    if age is None or age.as_of is None or max_age_hours is None:
        return None
    limit = timedelta(hours=max_age_hours)
    stale = [
        part
        for part, moment in (("the customer", age.customer_as_of), ("prices", age.pricing_as_of))
        if moment is not None and now - moment > limit
    ]
    if not stale:
        return None
    hours = (now - age.as_of).total_seconds() / 3600
    return QuoteWarning(
        check=MIRROR_FRESH,
        message=f"NetSuite data for {' and '.join(stale)} is {hours:.0f} h old, over the "
        f"{max_age_hours:g} h limit: check NetSuite before approving",
    )


def _recompute(
    lines: list[QuoteLineView], margin_floor: float, proposals: list[ProposedPrice]
) -> list[QuoteWarning]:
    warnings: list[QuoteWarning] = []
    unresolved = [line.item_code for line in lines if not line.resolved]
    if unresolved:
        warnings.append(
            QuoteWarning(
                check="items_resolved",
                message=f"{len(unresolved)} item code(s) not in spec_items; left off the quote",
                item_codes=unresolved,
            )
        )
    unpriced = [line.item_code for line in lines if line.resolved and line.case_price is None]
    if unpriced:
        warnings.append(
            QuoteWarning(
                check="pricing_found",
                message=f"{len(unpriced)} item(s) have no pricing for this customer and "
                "school year; left off unless Mike sets a price",
                item_codes=unpriced,
            )
        )
    floor = Decimal(str(margin_floor))
    low = [
        line.item_code
        for line in lines
        if line.quotable and line.margin_pct is not None and line.margin_pct < floor
    ]
    if low:
        warnings.append(
            QuoteWarning(
                check="margin_floor",
                message=f"{len(low)} line(s) under the {floor:g}% margin floor",
                item_codes=low,
            )
        )
    codes = {line.item_code for line in lines}
    pending = [p for p in proposals if p.item_code in codes]
    if pending:
        warnings.append(
            QuoteWarning(
                check="proposed_pricing",
                message="; ".join(
                    f"{p.item_code} {p.new_price} proposed in {p.quote_id}, not yet accepted"
                    for p in pending
                ),
                item_codes=sorted({p.item_code for p in pending}),
            )
        )
    return warnings


def _with_totals(preview: QuotePreview, margin_floor: float) -> QuotePreview:
    floor = Decimal(str(margin_floor))
    lines: list[QuoteLineView] = []
    for line in preview.lines:
        flags: list[str] = []
        total = money(line.case_price * line.quantity) if line.case_price is not None else None
        m = margin_pct(line.case_price, line.cost_basis)
        if not line.resolved:
            flags.append("unresolved")
        elif line.case_price is None:
            flags.append("no_pricing")
        if m is not None and m < floor:
            flags.append("below_margin_floor")
        if line.price_source == "override":
            flags.append("override")
        lines.append(line.model_copy(update={"line_total": total, "margin_pct": m, "flags": flags}))
    quotable = [line for line in lines if line.quotable]
    subtotal = money(sum((line.line_total or Decimal(0)) for line in quotable))
    costed = [line for line in quotable if line.cost_basis is not None]
    cost_total = money(sum((line.cost_basis or Decimal(0)) * line.quantity for line in costed))
    costed_revenue = sum((line.line_total or Decimal(0)) for line in costed)
    overall = margin_pct(Decimal(costed_revenue), cost_total) if costed else None
    updated = preview.model_copy(
        update={
            "lines": lines,
            "subtotal": subtotal,
            "cost_total": cost_total,
            "margin_pct": overall,
        }
    )
    # mirror_fresh is decided when the quote is priced; prices Mike sets do not change it.
    kept = [w for w in preview.warnings if w.check == MIRROR_FRESH]
    return updated.model_copy(
        update={"warnings": _recompute(lines, margin_floor, preview.proposals) + kept}
    )


def local_day_in(moment: datetime, tz: str) -> date:
    """The day ``moment`` falls on in the time zone ``tz``; a naive moment is UTC."""
    return as_utc(moment).astimezone(ZoneInfo(tz)).date()


def written_at(priced_at: datetime, approved_at: datetime | None) -> datetime:
    """When a quote was made, as people read it: it is priced before Mike's approval but
    only written once he approved, so it is never shown before that approval."""
    if approved_at is None:
        return priced_at
    return max(as_utc(priced_at), as_utc(approved_at))


def build_preview(
    request: QuoteRequest,
    context: QuoteContext,
    *,
    quote_id: str,
    supersedes_quote_id: str | None,
    now: datetime,
    validity_days: int,
    margin_floor: float,
    currency: str = "USD",
    max_data_age_hours: float | None = None,
    local_tz: str = "UTC",
) -> QuotePreview:
    """The quote Mike will be asked to approve. Requires a customer (check_blocking first).
    Valid until ``validity_days`` after the day the quote is made in ``local_tz`` (the day
    printed on it), not after the UTC day."""
    if context.customer is None:
        raise ValueError("build_preview needs a customer; run check_blocking first")
    items = {item.item_code: item for item in context.items}
    prices = {p.item_code: p for p in context.pricing}
    lines: list[QuoteLineView] = []
    for n, code in enumerate(request.item_codes, start=1):
        item = items.get(code)
        price = prices.get(code) if item else None
        lines.append(
            QuoteLineView(
                line_no=n,
                item_code=code,
                description=item.description if item else "",
                netsuite_item_id=item.netsuite_item_id if item else None,
                unit=item.unit if item else "case",
                pack_size=item.pack_size if item else 1,
                case_price=money(price.case_price) if price else None,
                cost_basis=money(price.cost_basis)
                if price and price.cost_basis is not None
                else None,
                price_source="pricing_master" if price else "none",
                resolved=item is not None,
            )
        )
    preview = QuotePreview(
        quote_id=quote_id,
        customer_id=context.customer.id,
        customer_name=context.customer.name,
        customer_email=context.customer.email,
        contact_name=context.customer.contact_name,
        school_year=request.school_year,
        catalog=request.catalog,
        currency=currency,
        generated_at=now,
        valid_until=local_day_in(now, local_tz) + timedelta(days=validity_days),
        supersedes_quote_id=supersedes_quote_id,
        include_pdf=request.include_pdf,
        lines=lines,
        programs=context.programs,
        open_quote_ids=[q.id for q in context.open_quotes],
        proposals=context.proposals,
        data_age=context.data_age,
    )
    stale = freshness_warning(context.data_age, now=now, max_age_hours=max_data_age_hours)
    if stale is not None:
        preview.warnings.append(stale)
    return _with_totals(preview, margin_floor)


def apply_price_overrides(
    preview: QuotePreview, overrides: dict[str, Decimal], *, margin_floor: float
) -> QuotePreview:
    """Mike's approved prices replace the line prices; totals and warnings follow. The
    prices were checked by quoteflow.decision.parse_price (finite, 2 dp, not negative)."""
    unknown = sorted(set(overrides) - {line.item_code for line in preview.lines})
    if unknown:
        raise ValueError(f"price_overrides: item code(s) not on this quote: {', '.join(unknown)}")
    unresolved = sorted(
        line.item_code
        for line in preview.lines
        if line.item_code in overrides and not line.resolved
    )
    if unresolved:
        raise ValueError(
            f"price_overrides: item code(s) not in the catalog cannot be priced: {', '.join(unresolved)}"
        )
    bad = sorted(
        code for code, price in overrides.items() if not Decimal(price).is_finite() or price < 0
    )
    if bad:
        raise ValueError(
            f"price_overrides: price must be a finite number >= 0 for {', '.join(bad)}"
        )
    lines = [
        line.model_copy(
            update={"case_price": money(overrides[line.item_code]), "price_source": "override"}
        )
        if line.item_code in overrides
        else line
        for line in preview.lines
    ]
    return _with_totals(preview.model_copy(update={"lines": lines}), margin_floor)


def payload_hash(payload: Any) -> str:
    """SHA-256 of the canonical JSON of a payload (what Mike approved, byte for byte)."""
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def quote_id_for_run(flow_run_id: str, school_year: str) -> str:
    """A stable quote id per run, so a re-run of the same run finds its own quote."""
    compact = school_year.replace("-", "")[2:]
    return f"Q{compact}-{flow_run_id.replace('-', '')[:10].upper()}"


_REVISION = re.compile(r"^(?P<root>.+?)-R(?P<n>\d+)$")


def revision_id(existing_id: str, existing_revision_ids: list[str]) -> str:
    """The next revision id of a quote: Q2627-ABC -> Q2627-ABC-R2 -> Q2627-ABC-R3."""
    m = _REVISION.match(existing_id)
    root = m.group("root") if m else existing_id
    numbers = [1]
    for other in [existing_id, *existing_revision_ids]:
        mm = _REVISION.match(other)
        if mm and mm.group("root") == root:
            numbers.append(int(mm.group("n")))
    return f"{root}-R{max(numbers) + 1}"
