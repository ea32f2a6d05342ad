"""The demo dataset: idempotent loads on both backends, and the promises the demo and
the workflow tests rely on (checked against the database, with the contract's queries)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from devstack import seed
from quoteflow import migrate
from quoteflow.db import get_engine
from quoteflow.models import (
    Customer,
    CustomerProfile,
    CustomerProgram,
    PricingMaster,
    SpecItem,
)
from tests.fixtures.db import BACKENDS, create_database, drop_database

SEED_TABLES = {
    "customers": Customer,
    "customer_programs": CustomerProgram,
    "spec_items": SpecItem,
    "pricing_master": PricingMaster,
    "customer_profiles": CustomerProfile,
}

# The contract's context queries (customer_quote.md section 3), verbatim but for binds.
PROGRAMS_SQL = (
    "SELECT program_code FROM customer_programs WHERE customer_id = :cid "
    "AND status = 'active' AND deleted_at IS NULL ORDER BY program_code"
)
CURRENT_PRICING_SQL = (
    "SELECT item_code, case_price, cost_basis, margin_pct FROM pricing_master "
    "WHERE customer_id = :cid AND item_code IN :codes AND school_year = :sy"
)


def dump(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every seeded table, full contents, in primary-key order."""
    out: dict[str, list[dict[str, Any]]] = {}
    with Session(get_engine(url)) as session:
        for name, model in SEED_TABLES.items():
            table = model.__table__  # type: ignore[attr-defined]
            rows = session.execute(sa.select(table).order_by(*table.primary_key.columns))
            out[name] = [dict(row._mapping) for row in rows]
    return out


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private seeded database, so no other test's writes can bend these promises."""
    url = create_database("sqlite", tmp_path_factory.mktemp("demo"))
    migrate.upgrade(url)
    seed.load_demo_data(url)
    yield url
    drop_database(url)


@pytest.fixture
def demo(demo_url: str) -> Iterator[Session]:
    with Session(get_engine(demo_url)) as session:
        yield session


@pytest.mark.parametrize("backend", BACKENDS)
def test_loading_twice_leaves_identical_rows(
    backend: str, fresh_database_url: Callable[[str], str]
) -> None:
    url = fresh_database_url(backend)
    migrate.upgrade(url)

    first = seed.load_demo_data(url)
    after_first = dump(url)
    second = seed.load_demo_data(url)
    after_second = dump(url)

    assert after_second == after_first
    assert second.inserted == 0
    assert first.inserted == sum(first.per_table().values())
    assert first.per_table() == {name: len(rows) for name, rows in after_first.items()}
    assert first.per_table() == second.per_table()
    # Spot-check types survived the round trip on this backend.
    price = after_first["pricing_master"][0]
    assert isinstance(price["case_price"], Decimal)
    assert price["updated_at"] == seed.SEEDED_AT and price["updated_at"].tzinfo is UTC


def test_reloading_keeps_live_prices_and_workflow_state(
    fresh_database_url: Callable[[str], str],
) -> None:
    url = fresh_database_url("sqlite")
    migrate.upgrade(url)
    seed.load_demo_data(url)
    original = dump(url)
    touched_at = datetime(2026, 5, 4, 9, 15, tzinfo=UTC)
    with Session(get_engine(url)) as session:
        price = session.exec(
            select(PricingMaster).where(
                PricingMaster.customer_id == seed.DEMO_CUSTOMER_ID,
                PricingMaster.item_code == "FS-1004",
                PricingMaster.school_year == seed.DEMO_SCHOOL_YEAR,
            )
        ).one()
        price.case_price, price.source = Decimal("80.00"), "quote:Q-1"
        profile = session.get(CustomerProfile, seed.DEMO_CUSTOMER_ID)
        assert profile is not None
        profile.last_quote_event, profile.last_quote_id = touched_at, "Q-1"
        session.add_all([price, profile])
        session.commit()

    before = dump(url)
    assert seed.load_demo_data(url).inserted == 0
    after = dump(url)
    assert after == before  # re-running changes nothing
    live = next(
        p
        for p in after["pricing_master"]
        if (p["customer_id"], p["item_code"], p["school_year"])
        == (seed.DEMO_CUSTOMER_ID, "FS-1004", seed.DEMO_SCHOOL_YEAR)
    )
    assert (live["case_price"], live["source"]) == (Decimal("80.00"), "quote:Q-1")
    assert len(after["pricing_master"]) == len(original["pricing_master"])
    demo_profile = next(
        p for p in after["customer_profiles"] if p["customer_id"] == seed.DEMO_CUSTOMER_ID
    )
    assert (demo_profile["last_quote_event"], demo_profile["last_quote_id"]) == (touched_at, "Q-1")


def test_customers_are_school_districts_with_contacts(demo: Session) -> None:
    customers = demo.exec(select(Customer)).all()
    assert 5 <= len(customers) <= 8
    for c in customers:
        assert re.fullmatch(r"\d{3,6}", c.id), c.id
        assert re.search(r"School|District|ISD|USD", c.name), c.name
        assert c.contact_name and c.email and c.email.endswith(".example"), c
        assert c.state and len(c.state) == 2
        assert c.created_at.tzinfo is UTC
    statuses = sorted(c.entitystatus for c in customers)
    assert statuses.count("hold") == 1 and statuses.count("prospect") == 1

    by_id = {c.id: c for c in customers}
    assert by_id[seed.ON_HOLD_CUSTOMER_ID].entitystatus == "hold"
    assert by_id[seed.PROSPECT_CUSTOMER_ID].entitystatus == "prospect"
    assert by_id[seed.DEMO_CUSTOMER_ID].entitystatus == "active"


def test_on_hold_customer_is_blocked_only_by_its_hold(demo: Session) -> None:
    priced = demo.exec(
        select(PricingMaster).where(
            PricingMaster.customer_id == seed.ON_HOLD_CUSTOMER_ID,
            PricingMaster.school_year == seed.DEMO_SCHOOL_YEAR,
        )
    ).all()
    # Priced like any other customer, so a blocked quote can only be the hold's doing.
    assert {p.item_code for p in priced} & set(seed.DEMO_ITEM_CODES)
    profile = demo.get(CustomerProfile, seed.ON_HOLD_CUSTOMER_ID)
    assert profile is not None and profile.ar_balance > profile.credit_limit


def test_programs_query_skips_inactive_and_soft_deleted(demo: Session) -> None:
    codes = demo.execute(sa.text(PROGRAMS_SQL), {"cid": seed.DEMO_CUSTOMER_ID}).scalars().all()
    assert codes == ["NSLP", "SBP"]

    all_programs = demo.exec(
        select(CustomerProgram).where(CustomerProgram.customer_id == seed.DEMO_CUSTOMER_ID)
    ).all()
    inactive = [p for p in all_programs if p.status == "inactive"]
    deleted = [p for p in all_programs if p.deleted_at is not None]
    assert [p.program_code for p in inactive] == ["SSO"]
    assert [p.program_code for p in deleted] == ["FFVP"]
    assert deleted[0].status == "active" and deleted[0].deleted_at.tzinfo is UTC


def test_catalogs_hold_forty_distinct_items(demo: Session) -> None:
    items = demo.exec(select(SpecItem)).all()
    assert len(items) == 40
    assert {i.catalog for i in items} == {"food-service", "custodial"}
    assert len({i.netsuite_item_id for i in items}) == len(items)
    for i in items:
        assert re.fullmatch(r"(FS|CU)-\d{4}", i.item_code)
        assert i.description and i.pack_size >= 1 and i.unit
        assert i.catalog == ("food-service" if i.item_code.startswith("FS-") else "custodial")
    assert demo.get(SpecItem, seed.UNKNOWN_ITEM_CODE) is None
    assert demo.get(SpecItem, seed.UNPRICED_ITEM_CODE) is not None


def test_every_price_is_consistent(demo: Session) -> None:
    prices = demo.exec(select(PricingMaster)).all()
    assert {p.school_year for p in prices} == {"2025-26", "2026-27"}
    for p in prices:
        assert p.source == "netsuite"
        assert p.cost_basis is not None and p.margin_pct is not None
        assert p.case_price > p.cost_basis > 0
        expected = ((p.case_price - p.cost_basis) / p.case_price * 100).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
        assert p.margin_pct == expected, p
    assert not [p for p in prices if p.customer_id == seed.PROSPECT_CUSTOMER_ID]


def test_demo_quote_items_are_priced_and_one_is_under_the_floor(demo: Session) -> None:
    assert 5 <= len(seed.DEMO_ITEM_CODES) <= 8
    rows = demo.execute(
        sa.text(CURRENT_PRICING_SQL).bindparams(sa.bindparam("codes", expanding=True)),
        {
            "cid": seed.DEMO_CUSTOMER_ID,
            "codes": list(seed.DEMO_ITEM_CODES),
            "sy": seed.DEMO_SCHOOL_YEAR,
        },
    ).all()
    assert sorted(r.item_code for r in rows) == sorted(seed.DEMO_ITEM_CODES)
    under = [r.item_code for r in rows if Decimal(str(r.margin_pct)) < 15]
    assert under and len(under) < len(rows)
    items = demo.exec(select(SpecItem).where(SpecItem.item_code.in_(seed.DEMO_ITEM_CODES))).all()
    assert {i.catalog for i in items} == {seed.DEMO_CATALOG}


def test_unpriced_item_has_no_demo_price_this_year_but_had_one_last_year(demo: Session) -> None:
    def price(year: str) -> PricingMaster | None:
        return demo.exec(
            select(PricingMaster).where(
                PricingMaster.customer_id == seed.DEMO_CUSTOMER_ID,
                PricingMaster.item_code == seed.UNPRICED_ITEM_CODE,
                PricingMaster.school_year == year,
            )
        ).first()

    assert price(seed.DEMO_SCHOOL_YEAR) is None
    assert price("2025-26") is not None
    assert seed.UNPRICED_ITEM_CODE not in seed.DEMO_ITEM_CODES


def test_profiles_exist_for_every_customer(demo: Session) -> None:
    profiles = {p.customer_id: p for p in demo.exec(select(CustomerProfile))}
    customers = set(demo.exec(select(Customer.id)).all())
    assert set(profiles) == customers
    for p in profiles.values():
        assert p.last_quote_event is None and p.last_quote_id is None
        assert isinstance(p.credit_limit, Decimal) and p.credit_limit > 0
        assert p.ar_balance >= 0 and p.forecast_90d >= 0
        assert re.fullmatch(r"Net \d+", p.payment_terms)


def test_netsuite_records_cover_every_id_in_the_database(demo: Session) -> None:
    records = seed.netsuite_records()
    assert sorted(records["customers"]) == sorted(demo.exec(select(Customer.id)).all())
    assert sorted(records["items"]) == sorted(demo.exec(select(SpecItem.netsuite_item_id)).all())


def test_netsuite_records_need_no_database(tmp_path: Path) -> None:
    env = {**os.environ, "QUOTEFLOW_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"}
    code = (
        "import json; from devstack.seed import netsuite_records; "
        "print(json.dumps(netsuite_records()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == seed.netsuite_records()


def test_seeded_db_fixture_holds_the_demo_customer(seeded_db: str, db_session: Session) -> None:
    assert os.environ["QUOTEFLOW_DATABASE_URL"] == seeded_db
    customer = db_session.get(Customer, seed.DEMO_CUSTOMER_ID)
    assert customer is not None and customer.entitystatus == "active"
    assert db_session.get(SpecItem, seed.DEMO_ITEM_CODES[0]) is not None


def test_cli_seed_migrates_then_loads(
    fresh_database_url: Callable[[str], str], tmp_path: Path
) -> None:
    url = fresh_database_url("sqlite")
    done = subprocess.run(
        [str(Path(sys.executable).with_name("quoteflow")), "db", "seed", "--url", url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stderr
    total = sum(len(rows) for rows in dump(url).values())
    assert f"migrated empty -> {migrate.head()} (head)" in done.stdout
    assert f"demo data loaded ({total} new rows)" in done.stdout
    assert re.search(rf"pricing_master +{len(seed.PRICING)}$", done.stdout, re.MULTILINE)
    assert f"demo customer {seed.DEMO_CUSTOMER_ID}" in done.stdout
