"""mirror_fresh against the database: the age the flow's context lane reads (the mirror's
last successful syncs, a spreadsheet import's own write), the warning it puts on the
preview, and the age the approval page shows on a gate. No Prefect server."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

import tasks.context as context_tasks
from quoteflow.approval_page import create_app
from quoteflow.db import session_scope
from quoteflow.mirror.pricing_import import import_pricing
from quoteflow.models import MirrorState, utcnow
from quoteflow.quote import CustomerRecord, DataAge, QuoteContext, QuoteLineView, QuoteRequest
from quoteflow.settings import get_settings
from tests.fixtures.demo import DEMO_CUSTOMER_ID, DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR
from tests.fixtures.page import KEY
from tests.fixtures.previews import small_preview, stage_gate

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

ITEMS = list(DEMO_ITEM_CODES)


@pytest.fixture
def private_db(pricing_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The module's private seeded database as this process's database."""
    monkeypatch.setenv("QUOTEFLOW_DATABASE_URL", pricing_db)
    get_settings.cache_clear()
    yield pricing_db
    get_settings.cache_clear()


def synced(**moments) -> None:
    """The mirror's last successful sync per table (none for a table not named)."""
    with session_scope() as s:
        s.execute(sa.delete(MirrorState))
        for table, at in moments.items():
            s.add(MirrorState(table_name=table, last_success_at=at))


def age() -> DataAge:
    return context_tasks.load_data_age.fn(DEMO_CUSTOMER_ID, ITEMS, DEMO_SCHOOL_YEAR)


def test_seeded_never_synced_data_has_no_age(private_db):
    synced()
    assert age() == DataAge()


def test_age_is_the_last_sync_and_an_import_counts_as_fresh(private_db):
    now = utcnow()
    synced(
        customers=now - timedelta(hours=30),
        pricing_master=now - timedelta(hours=2),
    )
    read = age()
    assert read.customer_as_of == now - timedelta(hours=30)
    assert read.pricing_as_of == now - timedelta(hours=2)

    # Prices synced 3 days ago; one of them imported from a spreadsheet just now: the
    # others still count, so the prices are 3 days old.
    synced(pricing_master=now - timedelta(days=3))
    report = import_pricing(
        f"customer_id,item_code,case_price\n{DEMO_CUSTOMER_ID},{ITEMS[0]},41.50\n",
        school_year=DEMO_SCHOOL_YEAR,
        file_name="one.csv",
    )
    assert report.written
    assert age().pricing_as_of == now - timedelta(days=3)
    # Every quoted price imported after the sync: the prices are as fresh as the import.
    rows = "".join(f"{DEMO_CUSTOMER_ID},{code},41.50\n" for code in ITEMS)
    assert import_pricing(
        "customer_id,item_code,case_price\n" + rows,
        school_year=DEMO_SCHOOL_YEAR,
        file_name="all.csv",
    ).written
    fresh = age().pricing_as_of
    assert fresh is not None and utcnow() - fresh < timedelta(minutes=1)


def test_the_gate_page_shows_the_data_age(private_db):
    preview = small_preview(
        QuoteLineView(line_no=1, item_code="FS-1001", description="Napkins"),
        data_age=DataAge(customer_as_of=utcnow() - timedelta(minutes=12)),
    )
    gate = stage_gate(preview, ref="fresh")
    never = stage_gate(small_preview(), ref="fresh")
    with TestClient(create_app(link_key=KEY), base_url="http://127.0.0.1") as client:
        page = client.get(f"/actions/{gate.id}").text
        assert "NetSuite data as of " in page and ", 12 min ago" in page
        assert "never synced from NetSuite" in client.get(f"/actions/{never.id}").text


def test_mirror_fresh_follows_the_setting(private_db, monkeypatch):
    from tasks.quotes import build_quote_preview

    synced(customers=utcnow() - timedelta(hours=30), pricing_master=utcnow())
    context = QuoteContext(
        customer=CustomerRecord(
            id=DEMO_CUSTOMER_ID, name="Maple Valley ISD", entitystatus="active"
        ),
        data_age=age(),
    )
    request = QuoteRequest(
        customer_id=DEMO_CUSTOMER_ID, item_codes=ITEMS[:1], school_year=DEMO_SCHOOL_YEAR
    )

    def checks() -> list[str]:
        get_settings.cache_clear()
        preview = build_quote_preview.fn(request, context, "QFRESH", None)
        return [w.check for w in preview.warnings]

    assert "mirror_fresh" in checks()  # default limit 24 h
    monkeypatch.setenv("QUOTEFLOW_MIRROR_MAX_AGE_HOURS", "48")
    assert "mirror_fresh" not in checks()
