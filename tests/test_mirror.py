"""The NetSuite mirror: the sync service against the fake NetSuite's SuiteQL, on the
session's backend (SQLite, or PostgreSQL with QUOTEFLOW_TEST_DB=postgresql)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from devstack.seed import CUSTOMERS, PRICING, PROGRAMS, SPEC_ITEMS
from quoteflow.db import get_engine
from quoteflow.migrate import upgrade
from quoteflow.mirror import store
from quoteflow.mirror.config import MirrorConfigError, load_config, parse_config
from quoteflow.mirror.service import sync_all
from quoteflow.mirror.sync import MirrorSyncError, SyncOptions, alert_if_stale, sync_table
from quoteflow.models import (
    Customer,
    CustomerProfile,
    CustomerProgram,
    Event,
    MirrorState,
    PricingMaster,
    SpecItem,
)
from quoteflow.netsuite import NetSuiteAuthError, NetSuiteRejectedError, NetSuiteRetryableError
from tests.fixtures.db import session_backend
from tests.fixtures.fake_suiteql import FakeAccount

CONFIG = load_config()
DEMO = "1107"
PRICED_ITEM = next(p for p in PRICING if p.customer_id == DEMO and p.school_year == "2026-27")


@pytest.fixture
def db(fresh_database_url: Callable[[str], str]) -> str:
    url = fresh_database_url(session_backend())
    upgrade(url)
    return url


@pytest.fixture
def client(fake_account: FakeAccount) -> Iterator[Any]:
    with fake_account.client() as c:
        yield c


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every mirrored row, as a user would compare two databases."""
    with Session(get_engine(url)) as s:
        return {
            "customers": s.execute(
                sa.select(
                    Customer.id,
                    Customer.name,
                    Customer.entitystatus,
                    Customer.email,
                    Customer.contact_name,
                    Customer.state,
                    Customer.isinactive,
                ).order_by(Customer.id)
            ).all(),
            "items": s.execute(
                sa.select(
                    SpecItem.item_code,
                    SpecItem.netsuite_item_id,
                    SpecItem.description,
                    SpecItem.catalog,
                    SpecItem.pack_size,
                    SpecItem.unit,
                ).order_by(SpecItem.item_code)
            ).all(),
            "pricing": s.execute(
                sa.select(
                    PricingMaster.customer_id,
                    PricingMaster.item_code,
                    PricingMaster.school_year,
                    PricingMaster.case_price,
                    PricingMaster.cost_basis,
                    PricingMaster.source,
                ).order_by(
                    PricingMaster.customer_id, PricingMaster.item_code, PricingMaster.school_year
                )
            ).all(),
            "programs": s.execute(
                sa.select(
                    CustomerProgram.customer_id,
                    CustomerProgram.program_code,
                    CustomerProgram.status,
                    CustomerProgram.starts_on,
                    CustomerProgram.ends_on,
                    CustomerProgram.deleted_at.is_(None),
                ).order_by(CustomerProgram.customer_id, CustomerProgram.program_code)
            ).all(),
            "profiles": s.execute(
                sa.select(
                    CustomerProfile.customer_id,
                    CustomerProfile.credit_limit,
                    CustomerProfile.ar_balance,
                    CustomerProfile.payment_terms,
                ).order_by(CustomerProfile.customer_id)
            ).all(),
        }


def test_full_sync_loads_the_demo_dataset_and_again_changes_nothing(client: Any, db: str) -> None:
    results = sync_all(client, CONFIG, full=True, database_url=db)
    assert [r.error for r in results] == [None] * 5
    rows = snapshot(db)
    assert len(rows["customers"]) == len(CUSTOMERS)
    assert len(rows["items"]) == len(SPEC_ITEMS)
    assert len(rows["pricing"]) == len(PRICING)
    assert len(rows["programs"]) == len([p for p in PROGRAMS if p.deleted_at is None])
    by_id = {c[0]: c for c in rows["customers"]}
    assert by_id["1131"][2] == "hold" and by_id["1148"][2] == "prospect"
    assert by_id[DEMO][5] == "CA" and by_id[DEMO][4] == "Dana Whitfield"
    price = {(p[0], p[1], p[2]): p[3] for p in rows["pricing"]}
    key = (PRICED_ITEM.customer_id, PRICED_ITEM.item_code, PRICED_ITEM.school_year)
    assert price[key] == PRICED_ITEM.case_price
    with Session(get_engine(db)) as s:
        assert store.last_success(s, "pricing_master") is not None
        assert s.get(MirrorState, "pricing_master").row_count == len(PRICING)  # type: ignore[union-attr]

    again = sync_all(client, CONFIG, full=True, database_url=db)
    assert [r.error for r in again] == [None] * 5
    assert snapshot(db) == rows  # upserted by key: nothing duplicated


def test_incremental_sync_reads_only_changes_hold_and_price(
    fake_account: FakeAccount, client: Any, db: str
) -> None:
    sync_all(client, CONFIG, database_url=db)
    before = snapshot(db)
    with Session(get_engine(db)) as s:
        marks = {m.table_name: m.watermark for m in store.all_states(s)}
    # Nothing changed: the pass re-reads only the overlap before each watermark (here all
    # demo rows share one modified time) and changes nothing.
    quiet = sync_all(client, CONFIG, database_url=db)
    assert [r.error for r in quiet] == [None] * 5
    assert snapshot(db) == before
    with Session(get_engine(db)) as s:
        assert {m.table_name: m.watermark for m in store.all_states(s)} == marks

    pid = next(
        n
        for n, p in enumerate(PRICING, start=1)
        if (p.customer_id, p.item_code, p.school_year)
        == (PRICED_ITEM.customer_id, PRICED_ITEM.item_code, PRICED_ITEM.school_year)
    )
    fake_account.change("customer", {"id": int(DEMO), "creditholdoverride": "ON"})
    fake_account.change(
        "customrecord_qf_bid_price", {"id": pid, "custrecord_qf_bp_case_price": "99.95"}
    )
    sync_all(client, CONFIG, database_url=db)
    # The watermark now stands at the changes: the next pass reads just those rows.
    changed = {r.table: r.rows_written for r in sync_all(client, CONFIG, database_url=db)}
    assert changed["customers"] == 1 and changed["pricing_master"] == 1
    with Session(get_engine(db)) as s:
        assert s.get(Customer, DEMO).entitystatus == "hold"  # type: ignore[union-attr]
        row = s.execute(
            sa.select(PricingMaster).where(
                PricingMaster.customer_id == DEMO,
                PricingMaster.item_code == PRICED_ITEM.item_code,
                PricingMaster.school_year == PRICED_ITEM.school_year,
            )
        ).scalar_one()
        assert row.case_price == Decimal("99.95")
    assert len(snapshot(db)["pricing"]) == len(PRICING)


def test_a_sync_killed_mid_table_resumes_to_the_same_rows(
    fake_account: FakeAccount, client: Any, db: str, fresh_database_url: Callable[[str], str]
) -> None:
    reference = fresh_database_url(session_backend())
    upgrade(reference)
    small_pages = SyncOptions(page_size=25, row_cap=100_000, overlap_seconds=60)
    sync_all(client, CONFIG, full=True, database_url=reference, options=small_pages)

    class Killed(BaseException):
        pass

    def kill_after_third(table: str, page: int) -> None:
        if table == "pricing_master" and page == 3:
            raise Killed

    killing = SyncOptions(page_size=25, row_cap=100_000, after_page=kill_after_third)
    with pytest.raises(Killed):
        sync_all(client, CONFIG, database_url=db, options=killing)
    with Session(get_engine(db)) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(PricingMaster)).scalar() == 75
        state = s.get(MirrorState, "pricing_master")
        assert state is not None and state.watermark_id is not None  # mid-pass cursor kept
        assert store.last_success(s, "pricing_master") is None
    resumed = {r.table: r for r in sync_all(client, CONFIG, database_url=db, options=small_pages)}
    assert resumed["pricing_master"].rows_written == len(PRICING) - 75  # from the cursor on
    assert snapshot(db) == snapshot(reference)


def test_keyset_paging_goes_past_the_row_cap(
    fake_account: FakeAccount, client: Any, db: str
) -> None:
    fake_account.control("POST", "suiteql/settings", {"row_cap": 40})
    options = SyncOptions(page_size=1000, row_cap=100_000)  # asks for more than the cap
    result = sync_table(client, CONFIG, "spec_items", full=True, options=options, database_url=db)
    assert result.rows_written == len(SPEC_ITEMS)
    result = sync_table(client, CONFIG, "customers", full=True, options=options, database_url=db)
    result = sync_table(
        client, CONFIG, "pricing_master", full=True, options=options, database_url=db
    )
    assert result.pages == -(-len(PRICING) // 40)
    assert len(snapshot(db)["pricing"]) == len(PRICING)


def test_full_pass_removes_or_marks_what_netsuite_dropped(
    fake_account: FakeAccount, client: Any, db: str
) -> None:
    sync_all(client, CONFIG, full=True, database_url=db)
    with Session(get_engine(db)) as s:
        # A price a customer accepted on a quote is quoteflow's, not the mirror's.
        s.add(
            PricingMaster(
                customer_id="1148",
                item_code=SPEC_ITEMS[0].item_code,
                school_year="2026-27",
                case_price=Decimal("10.00"),
                source="Q-ACCEPTED-1",
            )
        )
        s.commit()
    fake_account.delete("customer", 1156)
    fake_account.delete("customrecord_qf_bid_price", 1, 2)
    fake_account.delete("customrecord_qf_program", 1)
    incremental = {r.table: r for r in sync_all(client, CONFIG, database_url=db)}
    assert incremental["pricing_master"].rows_deleted == 0
    assert len(snapshot(db)["pricing"]) == len(PRICING) + 1  # deletions wait for --full

    full = {r.table: r for r in sync_all(client, CONFIG, full=True, database_url=db)}
    assert full["pricing_master"].rows_deleted == 2
    assert full["customers"].rows_marked == 1
    assert full["customer_programs"].rows_marked == 1
    rows = snapshot(db)
    assert len(rows["pricing"]) == len(PRICING) - 1
    assert any(p[5] == "Q-ACCEPTED-1" for p in rows["pricing"])
    assert {c[0]: c[6] for c in rows["customers"]}["1156"] is True
    first = PROGRAMS[0]
    program = {(p[0], p[1]): p for p in rows["programs"]}[(first.customer_id, first.program_code)]
    assert program[2] == "inactive" and program[5] is False  # deleted_at set
    again = {r.table: r for r in sync_all(client, CONFIG, full=True, database_url=db)}
    assert again["customers"].rows_marked == 0 and again["pricing_master"].rows_deleted == 0
    # Back in NetSuite: active again in the mirror.
    fake_account.change(
        "customrecord_qf_program",
        {
            "id": 1,
            "name": first.name,
            "custrecord_qf_prog_customer": int(first.customer_id),
            "custrecord_qf_prog_code": first.program_code,
            "isinactive": False,
        },
    )
    sync_all(client, CONFIG, table="customer_programs", database_url=db)
    rows = snapshot(db)
    program = {(p[0], p[1]): p for p in rows["programs"]}[(first.customer_id, first.program_code)]
    assert program[2] == "active" and program[5] is True


def test_bad_token_is_recorded_and_raised(fake_account: FakeAccount, db: str) -> None:
    with fake_account.client(token_secret="wrong") as bad, pytest.raises(NetSuiteAuthError):
        sync_table(bad, CONFIG, "customers", database_url=db)
    with Session(get_engine(db)) as s:
        state = s.get(MirrorState, "customers")
        assert state is not None and "INVALID_LOGIN" in (state.last_error or "")
        assert state.last_success_at is None


@pytest.mark.parametrize("status", [403, 429, 503])
def test_http_failures_are_typed_and_recorded(
    fake_account: FakeAccount, client: Any, db: str, status: int
) -> None:
    sync_all(client, CONFIG, database_url=db)
    fake_account.inject(mode="status", status=status, count=1, api="suiteql")
    expected = NetSuiteRejectedError if status == 403 else NetSuiteRetryableError
    with pytest.raises(expected) as caught:
        sync_table(client, CONFIG, "customers", database_url=db)
    assert caught.value.retryable == (status != 403)
    with Session(get_engine(db)) as s:
        state = s.get(MirrorState, "customers")
        assert state is not None and f"HTTP {status}" in (state.last_error or "")
    # The next attempt (Prefect's retry) succeeds and clears the error.
    sync_table(client, CONFIG, "customers", database_url=db)
    with Session(get_engine(db)) as s:
        assert s.get(MirrorState, "customers").last_error is None  # type: ignore[union-attr]


def test_a_malformed_row_refuses_its_page_and_names_key_and_field(
    fake_account: FakeAccount, client: Any, db: str
) -> None:
    sync_all(client, CONFIG, database_url=db)
    before = snapshot(db)
    fake_account.change(
        "customrecord_qf_bid_price",
        {"id": 1, "custrecord_qf_bp_case_price": "14,90"},
        {"id": 2, "custrecord_qf_bp_case_price": "15.10"},
    )
    with pytest.raises(MirrorSyncError) as caught:
        sync_table(client, CONFIG, "pricing_master", database_url=db)
    message = str(caught.value)
    first = PRICING[0]
    assert "case_price '14,90' is not a number" in message
    assert f"customer_id={first.customer_id}" in message and first.item_code in message
    assert snapshot(db) == before  # the good row of the same page was not applied either
    with Session(get_engine(db)) as s:
        assert "14,90" in (s.get(MirrorState, "pricing_master").last_error or "")  # type: ignore[union-attr]
    fake_account.change(
        "customrecord_qf_bid_price", {"id": 1, "custrecord_qf_bp_case_price": "14.90"}
    )
    sync_table(client, CONFIG, "pricing_master", database_url=db)
    prices = {(p[0], p[1], p[2]): p[3] for p in snapshot(db)["pricing"]}
    assert prices[(first.customer_id, first.item_code, first.school_year)] == Decimal("14.90")


@pytest.mark.stack
def test_a_sync_failing_past_the_freshness_limit_alerts_once(
    stack: Any, fake_account: FakeAccount, client: Any, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alert is the ledger's `alert` event, also emitted to the stack's Prefect server
    (where the notify-mike Automation listens)."""
    from datetime import timedelta

    from quoteflow.models import utcnow
    from quoteflow.settings import get_settings

    # The ledger writes where the settings point: this test's database.
    monkeypatch.setenv("QUOTEFLOW_DATABASE_URL", db)
    get_settings.cache_clear()
    database_url = db
    sync_table(client, CONFIG, "customers", database_url=database_url)
    sync_table(client, CONFIG, "customer_programs", database_url=database_url)
    assert alert_if_stale("customer_programs", database_url=database_url) is False
    with Session(get_engine(database_url)) as s:
        state = s.get(MirrorState, "customer_programs")
        assert state is not None
        state.last_success_at = utcnow() - timedelta(hours=30)
        s.add(state)
        s.commit()
    fake_account.inject(mode="status", status=503, count=1, api="suiteql")
    with pytest.raises(NetSuiteRetryableError):
        sync_table(client, CONFIG, "customer_programs", database_url=database_url)
    assert alert_if_stale("customer_programs", database_url=database_url) is True
    assert alert_if_stale("customer_programs", database_url=database_url) is False  # once
    with Session(get_engine(database_url)) as s:
        alerts = (
            s.execute(
                sa.select(Event.payload).where(
                    Event.type == "alert", Event.run_id == "mirror-customer_programs"
                )
            )
            .scalars()
            .all()
        )
    assert len(alerts) == 1 and "customer_programs" in alerts[0]["error"]
    sync_table(client, CONFIG, "customer_programs", database_url=database_url)  # recovers
    monkeypatch.undo()
    get_settings.cache_clear()


def test_config_naming_a_missing_column_is_an_error_naming_both() -> None:
    from quoteflow.mirror.config import default_config_text

    text = default_config_text().replace(
        "      credit_limit: creditlimit", "      credit_line: creditlimit"
    )
    with pytest.raises(MirrorConfigError) as caught:
        parse_config(text, "my-mirror.yaml")
    message = str(caught.value)
    assert "my-mirror.yaml" in message
    assert "'credit_line'" in message and "'customer_profiles'" in message
    with pytest.raises(MirrorConfigError, match="not a mirrorable table"):
        parse_config(
            "version: 1\ntables:\n  quotes: {key: [id], id: q.id, modified: q.m, select: x, from: y, columns: {id: id}}\n",
            "x.yaml",
        )


def test_the_fake_answers_suiteql_like_netsuite(fake_account: FakeAccount, client: Any) -> None:
    from quoteflow.netsuite.client import SUITEQL_PATH

    page = client.suiteql(
        "SELECT c.id AS ID, c.isinactive, c.companyname FROM customer c ORDER BY c.id", limit=2
    )
    assert page.count == 2 and page.has_more and page.total_results == len(CUSTOMERS)
    assert page.items[0] == {"id": "1107", "isinactive": "F", "companyname": CUSTOMERS[0].name}
    with pytest.raises(ValueError, match="limit"):
        client.suiteql("SELECT id FROM customer", limit=1001)
    # Without Prefer: transient NetSuite refuses the query.
    with pytest.raises(NetSuiteRejectedError, match="Prefer: transient"):
        client._request(
            "POST",
            SUITEQL_PATH,
            params={"limit": "5", "offset": "0"},
            body={"q": "SELECT id FROM customer"},
        )
    fake_account.control("POST", "suiteql/settings", {"row_cap": 3})
    capped = client.suiteql("SELECT id FROM customer ORDER BY id", limit=2, offset=2)
    assert capped.count == 1 and not capped.has_more and capped.total_results == len(CUSTOMERS)
    with pytest.raises(NetSuiteRejectedError, match="maximum of 3 rows"):
        client.suiteql("SELECT id FROM customer ORDER BY id", limit=2, offset=4)


def test_mirror_status_prints_rows_watermark_success_and_error(
    fake_account: FakeAccount, client: Any, db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from typer.testing import CliRunner

    from quoteflow.cli.app import app
    from quoteflow.mirror.config import default_config_text
    from quoteflow.settings import get_settings

    sync_all(client, CONFIG, database_url=db)
    fake_account.change("customrecord_qf_bid_price", {"id": 1, "custrecord_qf_bp_case_price": "x"})
    sync_all(client, CONFIG, table="pricing_master", database_url=db)
    # An account's own copy of the configuration, with one table fewer.
    own = tmp_path / "mirror.yaml"
    text = default_config_text()
    own.write_text(text[: text.index("  customer_programs:")])
    monkeypatch.setenv("QUOTEFLOW_DATABASE_URL", db)
    monkeypatch.setenv("QUOTEFLOW_MIRROR_CONFIG_PATH", str(own))
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(app, ["mirror", "status"])
        as_json = CliRunner().invoke(app, ["mirror", "status", "--json"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    lines = {line.split()[0]: line for line in out.output.splitlines()[1:]}
    assert set(lines) == {"customers", "customer_profiles", "spec_items", "pricing_master"}
    assert lines["customers"].split()[1] == str(len(CUSTOMERS))
    assert "2025-08-01 13:59:00" in lines["customers"]  # the watermark, overlap included
    assert "page refused: pricing_master row customer_id=1107" in lines["pricing_master"]
    full_error = {r["table"]: r for r in json.loads(as_json.output)}["pricing_master"]["last_error"]
    assert "case_price 'x' is not a number" in full_error
    assert lines["spec_items"].split()[4].endswith("+00:00")  # last success; no full pass yet
    assert lines["spec_items"].split()[5] == "never"
