"""The demo dataset: six school districts, two catalogs, two school years of pricing.

``load_demo_data()`` upserts it by natural keys, so loading twice leaves the same rows
with the same ids. It resets the NetSuite-mirror columns to the dataset values and
never deletes anything; workflow state (quotes, ``customer_profiles.last_quote_*``) and
every price already in ``pricing_master`` (an accepted quote writes its prices there) are
left alone: only missing prices are added.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import NamedTuple

from sqlmodel import Session, select

from quoteflow.db import session_scope
from quoteflow.models import (
    Customer,
    CustomerProfile,
    CustomerProgram,
    PricingMaster,
    SpecItem,
)
from quoteflow.quote import margin_pct, money

# A fixed "synced from NetSuite" instant: re-seeding must not change any row.
SEEDED_AT = datetime(2025, 8, 1, 14, 0, tzinfo=UTC)


class CustomerRecord(NamedTuple):
    id: str
    name: str
    entitystatus: str
    contact_name: str
    email: str
    state: str


class ItemRecord(NamedTuple):
    item_code: str
    netsuite_item_id: str
    description: str
    pack_size: int
    unit: str
    cost_2026_27: Decimal  # cost basis per unit of sale; 2025-26 was 4 % lower

    @property
    def catalog(self) -> str:
        return CATALOG_BY_PREFIX[self.item_code.split("-", 1)[0]]


class ProgramRecord(NamedTuple):
    customer_id: str
    program_code: str
    name: str
    status: str
    starts_on: date | None
    ends_on: date | None
    deleted_at: datetime | None


class ProfileRecord(NamedTuple):
    customer_id: str
    credit_limit: Decimal
    ar_balance: Decimal
    forecast_90d: Decimal
    payment_terms: str


class PriceRecord(NamedTuple):
    customer_id: str
    item_code: str
    school_year: str
    case_price: Decimal
    cost_basis: Decimal
    margin_pct: Decimal


CATALOG_BY_PREFIX = {"FS": "food-service", "CU": "custodial"}

CUSTOMERS: tuple[CustomerRecord, ...] = (
    CustomerRecord(
        "1107",
        "Cedar Ridge Unified School District",
        "active",
        "Dana Whitfield",
        "dana.whitfield@cedarridgeusd.example",
        "CA",
    ),
    CustomerRecord(
        "1112",
        "Maple Hollow Independent School District",
        "active",
        "Marcus Oyelaran",
        "m.oyelaran@maplehollowisd.example",
        "TX",
    ),
    CustomerRecord(
        "1125",
        "Pine Bluff County Schools",
        "active",
        "Jolene Sandoval",
        "jsandoval@pinebluffschools.example",
        "GA",
    ),
    CustomerRecord(
        "1131",
        "Silver Lake Public Schools",
        "hold",
        "Greta Lindqvist",
        "glindqvist@silverlakeps.example",
        "MN",
    ),
    CustomerRecord(
        "1148",
        "Harbor Point School District",
        "prospect",
        "Owen Castellanos",
        "ocastellanos@harborpointsd.example",
        "WA",
    ),
    CustomerRecord(
        "1156",
        "Red Mesa Unified School District",
        "active",
        "Tomasina Begay",
        "tbegay@redmesausd.example",
        "AZ",
    ),
)

_D = Decimal

# item code | NetSuite internal id | pack size | unit | 2026-27 cost basis | description
_ITEM_TABLE = """
FS-1001 | 4117 |  120 | case | 58.40 | Chicken Breast Fillet, Whole Grain Breaded, 3.3 oz, Cooked
FS-1002 | 4123 |  160 | case | 71.25 | Beef Patty, 100% Beef, 2.0 oz, Fully Cooked
FS-1003 | 4130 |    4 | case | 49.80 | Turkey Ham, Sliced, 0.5 oz, Reduced Sodium, 5 lb
FS-1004 | 4136 |   12 | case | 66.90 | Cheese Pizza, Whole Grain Crust, 16 in, 8 Cut
FS-1005 | 4142 |   50 | case | 16.75 | Milk, 1% Lowfat White, Half Pint
FS-1006 | 4149 |   50 | case | 17.40 | Milk, Fat Free Chocolate, Half Pint
FS-1007 | 4155 |  100 | case | 38.60 | Apple Slices, Fresh, 2 oz Bag
FS-1008 | 4161 |  100 | case | 34.20 | Baby Carrots, Fresh, 3 oz Bag
FS-1009 | 4168 |   96 | case | 27.90 | Orange Juice, 100%, 4 fl oz Cup
FS-1010 | 4174 |   72 | case | 31.15 | Whole Grain Mini Pancakes, 0.4 oz
FS-1011 | 4180 |   48 | case | 22.80 | Yogurt, Lowfat Strawberry, 4 oz Cup
FS-1012 | 4187 |   96 | case | 29.45 | Cereal, Whole Grain Toasted Oats, 1 oz Bowl
FS-1013 | 4193 |    1 | bag  | 24.60 | Brown Rice, Parboiled, 25 lb Bag
FS-1014 | 4206 |    6 | case | 33.10 | Black Beans, Low Sodium, #10 Can
FS-1015 | 4212 |    1 | case | 26.35 | Whole Wheat Spaghetti, 10 in, 20 lb
FS-1016 | 4219 |    6 | case | 36.80 | Marinara Sauce, Low Sodium, #10 Can
FS-1017 | 4225 |  144 | case | 21.95 | Tortilla, Whole Grain, 8 in
FS-1018 | 4231 |   96 | case | 19.70 | Hamburger Bun, Whole Wheat, 4 in, Sliced
FS-1019 | 4238 |    4 | case | 28.40 | Garden Salad Mix, Romaine Blend, 5 lb Bag
FS-1020 | 4244 |  150 | case | 32.50 | Bananas, Fresh, 150 ct
FS-1021 | 4250 |  200 | case | 61.70 | Sunflower Seed Butter, 1.1 oz Cup
FS-1022 | 4257 |  168 | case | 44.90 | Cheese Stick, Mozzarella Light, 1 oz
FS-1023 | 4263 |  500 | case | 52.30 | Compostable Lunch Tray, 5 Compartment
FS-1024 | 4270 | 1000 | case | 39.85 | Spork Kit, Wrapped, with Napkin

CU-2001 | 5302 |  100 | case | 34.75 | Can Liner, 40x46 in, 1.5 mil, Black
CU-2002 | 5309 |  500 | case | 27.40 | Can Liner, 24x33 in, 0.6 mil, Clear
CU-2003 | 5315 |    6 | case | 41.20 | Roll Towel, Hardwound, 8 in x 800 ft, Natural
CU-2004 | 5321 |   96 | case | 48.60 | Bath Tissue, 2-Ply, 1000 Sheets
CU-2005 | 5328 | 4000 | case | 29.90 | Multifold Towel, 1-Ply, White
CU-2006 | 5334 |    2 | case | 36.45 | Hand Soap, Foaming, 1200 mL Refill
CU-2007 | 5340 |    4 | case | 45.80 | Disinfectant Cleaner, Neutral, 1 gal
CU-2008 | 5347 |   12 | case | 23.70 | Glass Cleaner, Ready to Use, 32 oz
CU-2009 | 5353 |    1 | pail | 88.50 | Floor Finish, High Gloss, 5 gal
CU-2010 | 5359 |    1 | pail | 79.25 | Floor Stripper, No Rinse, 5 gal
CU-2011 | 5366 |   12 | case | 54.10 | Wet Mop Head, Looped End, Large
CU-2012 | 5372 |   48 | case | 31.60 | Microfiber Cloth, 16x16 in, Assorted
CU-2013 | 5378 | 1000 | case | 62.40 | Nitrile Gloves, Powder Free, Large
CU-2014 | 5385 |    6 | case | 57.90 | Hand Sanitizer, Gel, 1000 mL Refill
CU-2015 | 5391 |   12 | case | 28.30 | Toilet Bowl Cleaner, Acid, 32 oz
CU-2016 | 5397 |    1 | each | 46.75 | Entrance Mat, Vinyl Loop, 3x5 ft
"""


def _parse_items(table: str) -> tuple[ItemRecord, ...]:
    items = []
    for line in table.strip().splitlines():
        if not line.strip():
            continue
        code, ns_id, pack, unit, cost, description = (f.strip() for f in line.split("|", 5))
        items.append(ItemRecord(code, ns_id, description, int(pack), unit, Decimal(cost)))
    return tuple(items)


SPEC_ITEMS: tuple[ItemRecord, ...] = _parse_items(_ITEM_TABLE)

PROGRAMS: tuple[ProgramRecord, ...] = (
    ProgramRecord(
        "1107", "NSLP", "National School Lunch Program", "active", date(2019, 7, 1), None, None
    ),
    ProgramRecord(
        "1107", "SBP", "School Breakfast Program", "active", date(2019, 7, 1), None, None
    ),
    ProgramRecord(
        "1107",
        "SSO",
        "Seamless Summer Option",
        "inactive",
        date(2020, 6, 1),
        date(2022, 8, 31),
        None,
    ),
    # Entered by mistake and soft-deleted: still active on paper, must never be shown.
    ProgramRecord(
        "1107",
        "FFVP",
        "Fresh Fruit and Vegetable Program",
        "active",
        date(2025, 7, 1),
        None,
        datetime(2025, 9, 15, 16, 30, tzinfo=UTC),
    ),
    ProgramRecord(
        "1112", "NSLP", "National School Lunch Program", "active", date(2018, 7, 1), None, None
    ),
    ProgramRecord(
        "1112", "SBP", "School Breakfast Program", "active", date(2018, 7, 1), None, None
    ),
    ProgramRecord(
        "1112",
        "CACFP-AR",
        "CACFP At-Risk Afterschool Meals",
        "active",
        date(2023, 8, 14),
        None,
        None,
    ),
    ProgramRecord(
        "1125", "NSLP", "National School Lunch Program", "active", date(2021, 7, 1), None, None
    ),
    ProgramRecord(
        "1125", "GREEN", "Green Cleaning Initiative", "active", date(2024, 1, 8), None, None
    ),
    ProgramRecord(
        "1131", "NSLP", "National School Lunch Program", "active", date(2017, 7, 1), None, None
    ),
    ProgramRecord(
        "1156", "NSLP", "National School Lunch Program", "active", date(2020, 7, 1), None, None
    ),
    ProgramRecord(
        "1156", "SBP", "School Breakfast Program", "active", date(2020, 7, 1), None, None
    ),
    ProgramRecord(
        "1156",
        "SFSP",
        "Summer Food Service Program",
        "inactive",
        date(2021, 6, 7),
        date(2024, 8, 9),
        None,
    ),
)

PROFILES: tuple[ProfileRecord, ...] = (
    ProfileRecord("1107", _D("250000.00"), _D("48210.37"), _D("91500.00"), "Net 30"),
    ProfileRecord("1112", _D("400000.00"), _D("122904.15"), _D("167250.00"), "Net 45"),
    ProfileRecord("1125", _D("90000.00"), _D("12880.40"), _D("21400.00"), "Net 30"),
    # Over its credit limit: the reason it is on hold.
    ProfileRecord("1131", _D("60000.00"), _D("71344.92"), _D("8200.00"), "Net 30"),
    ProfileRecord("1148", _D("25000.00"), _D("0.00"), _D("15000.00"), "Net 30"),
    ProfileRecord("1156", _D("150000.00"), _D("39775.60"), _D("58300.00"), "Net 60"),
)

SCHOOL_YEARS = ("2025-26", "2026-27")

DEMO_CUSTOMER_ID = "1107"
ON_HOLD_CUSTOMER_ID = "1131"
PROSPECT_CUSTOMER_ID = "1148"
DEMO_SCHOOL_YEAR = "2026-27"
DEMO_CATALOG = "food-service"
# Six food-service lines, all priced for the demo customer in 2026-27; FS-1004 (pizza)
# is priced under the 15 % margin floor.
DEMO_ITEM_CODES: tuple[str, ...] = (
    "FS-1001",
    "FS-1002",
    "FS-1004",
    "FS-1005",
    "FS-1007",
    "FS-1014",
)
# In the catalog and priced for the demo customer in 2025-26, not yet for 2026-27.
UNPRICED_ITEM_CODE = "FS-1019"
UNKNOWN_ITEM_CODE = "ZZ-9999"

_FS = tuple(i.item_code for i in SPEC_ITEMS if i.item_code.startswith("FS-"))
_CU = tuple(i.item_code for i in SPEC_ITEMS if i.item_code.startswith("CU-"))

# Which items each customer has a price for, per school year.
_PRICED: dict[str, dict[str, tuple[str, ...]]] = {
    "1107": {
        "2025-26": _FS[:20] + _CU[:12],
        "2026-27": tuple(c for c in _FS[:20] + _CU[:12] if c != UNPRICED_ITEM_CODE),
    },
    "1112": {"2025-26": _FS, "2026-27": _FS},
    "1125": {"2025-26": _CU, "2026-27": _CU},
    "1131": {"2025-26": _FS[:12], "2026-27": _FS[:12]},
    "1148": {},  # a prospect: no contract pricing yet
    "1156": {"2025-26": _CU[:8], "2026-27": _FS[:16]},
}

# Lines deliberately priced under the floor (target margin %).
_THIN_MARGINS: dict[tuple[str, str, str], Decimal] = {
    ("1107", "FS-1004", "2026-27"): _D("11.5"),
    ("1107", "CU-2007", "2026-27"): _D("13.25"),
    ("1112", "FS-1021", "2026-27"): _D("9"),
}


def _price(customer_id: str, item: ItemRecord, index: int, school_year: str) -> PriceRecord:
    cost = item.cost_2026_27
    if school_year == "2025-26":
        cost = money(cost * _D("0.96"))
    target = _THIN_MARGINS.get((customer_id, item.item_code, school_year))
    if target is None:
        # A deterministic spread of healthy margins, 18 % to about 33 %.
        spread = (index * 5 + int(customer_id) * 3 + SCHOOL_YEARS.index(school_year)) % 15
        target = 18 + spread + _D("0.25") * (index % 4)
    price = money(cost / (1 - target / 100))
    return PriceRecord(
        customer_id, item.item_code, school_year, price, cost, margin_pct(price, cost)
    )


def _build_pricing() -> tuple[PriceRecord, ...]:
    index = {item.item_code: (n, item) for n, item in enumerate(SPEC_ITEMS)}
    rows = []
    for customer_id, years in _PRICED.items():
        for school_year, codes in years.items():
            for code in codes:
                n, item = index[code]
                rows.append(_price(customer_id, item, n, school_year))
    return tuple(rows)


PRICING: tuple[PriceRecord, ...] = _build_pricing()


@dataclass(frozen=True)
class SeedCounts:
    """Rows of the demo dataset per table after a load, and how many were new."""

    customers: int
    customer_programs: int
    spec_items: int
    pricing_master: int
    customer_profiles: int
    inserted: int

    def per_table(self) -> dict[str, int]:
        counts = asdict(self)
        counts.pop("inserted")
        return counts


def netsuite_records() -> dict[str, list[str]]:
    """The ids NetSuite knows for the demo dataset (for the fake NetSuite server);
    reads only the constants of this module, never a database."""
    return {
        "customers": [c.id for c in CUSTOMERS],
        "items": [i.netsuite_item_id for i in SPEC_ITEMS],
    }


def _upsert_customers(session: Session) -> int:
    existing = {c.id: c for c in session.exec(select(Customer))}
    inserted = 0
    for rec in CUSTOMERS:
        row = existing.get(rec.id)
        if row is None:
            row = Customer(id=rec.id, name=rec.name, created_at=SEEDED_AT, updated_at=SEEDED_AT)
            inserted += 1
        row.name = rec.name
        row.entitystatus = rec.entitystatus
        row.contact_name = rec.contact_name
        row.email = rec.email
        row.state = rec.state
        row.created_at = SEEDED_AT
        row.updated_at = SEEDED_AT
        session.add(row)
    return inserted


def _upsert_items(session: Session) -> int:
    existing = {i.item_code: i for i in session.exec(select(SpecItem))}
    inserted = 0
    for rec in SPEC_ITEMS:
        row = existing.get(rec.item_code)
        if row is None:
            row = SpecItem(
                item_code=rec.item_code,
                netsuite_item_id=rec.netsuite_item_id,
                description=rec.description,
                catalog=rec.catalog,
            )
            inserted += 1
        row.netsuite_item_id = rec.netsuite_item_id
        row.description = rec.description
        row.catalog = rec.catalog
        row.pack_size = rec.pack_size
        row.unit = rec.unit
        session.add(row)
    return inserted


def _upsert_programs(session: Session) -> int:
    # No unique constraint on (customer_id, program_code): the seed is its only writer.
    existing = {(p.customer_id, p.program_code): p for p in session.exec(select(CustomerProgram))}
    inserted = 0
    for rec in PROGRAMS:
        row = existing.get((rec.customer_id, rec.program_code))
        if row is None:
            row = CustomerProgram(
                customer_id=rec.customer_id, program_code=rec.program_code, name=rec.name
            )
            inserted += 1
        row.name = rec.name
        row.status = rec.status
        row.starts_on = rec.starts_on
        row.ends_on = rec.ends_on
        row.deleted_at = rec.deleted_at
        session.add(row)
    return inserted


def _upsert_pricing(session: Session) -> int:
    existing = {
        (p.customer_id, p.item_code, p.school_year): p for p in session.exec(select(PricingMaster))
    }
    inserted = 0
    for rec in PRICING:
        if (rec.customer_id, rec.item_code, rec.school_year) in existing:
            continue  # a live price (maybe an accepted quote's): never overwritten
        session.add(
            PricingMaster(
                customer_id=rec.customer_id,
                item_code=rec.item_code,
                school_year=rec.school_year,
                case_price=rec.case_price,
                cost_basis=rec.cost_basis,
                margin_pct=rec.margin_pct,
                source="netsuite",
                updated_at=SEEDED_AT,
            )
        )
        inserted += 1
    return inserted


def _upsert_profiles(session: Session) -> int:
    existing = {p.customer_id: p for p in session.exec(select(CustomerProfile))}
    inserted = 0
    for rec in PROFILES:
        row = existing.get(rec.customer_id)
        if row is None:
            # last_quote_event / last_quote_id belong to the workflow: set only on insert.
            row = CustomerProfile(customer_id=rec.customer_id, last_quote_event=None)
            inserted += 1
        row.credit_limit = rec.credit_limit
        row.ar_balance = rec.ar_balance
        row.forecast_90d = rec.forecast_90d
        row.payment_terms = rec.payment_terms
        row.updated_at = SEEDED_AT
        session.add(row)
    return inserted


def load_demo_data(url: str | None = None) -> SeedCounts:
    """Upsert the demo dataset into the (already migrated) database at ``url``
    (default: settings) in one transaction."""
    with session_scope(url) as session:
        inserted = _upsert_customers(session)
        inserted += _upsert_items(session)
        session.flush()  # parents before the rows whose foreign keys point at them
        inserted += _upsert_programs(session)
        inserted += _upsert_pricing(session)
        inserted += _upsert_profiles(session)
    return SeedCounts(
        customers=len(CUSTOMERS),
        customer_programs=len(PROGRAMS),
        spec_items=len(SPEC_ITEMS),
        pricing_master=len(PRICING),
        customer_profiles=len(PROFILES),
        inserted=inserted,
    )
