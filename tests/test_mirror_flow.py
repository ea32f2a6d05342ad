"""The mirror-sync flow on the real engine and the stack's Prefect server, syncing from
the stack's fake NetSuite (seeded with the demo dataset) through the NetSuite block."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from devstack.seed import CUSTOMERS, ON_HOLD_CUSTOMER_ID, PRICING
from quoteflow.db import get_engine
from quoteflow.migrate import upgrade
from quoteflow.models import Customer, MirrorState, PricingMaster
from quoteflow.settings import get_settings
from tests.fixtures.db import session_backend


@pytest.mark.stack
def test_mirror_sync_flow_loads_the_mirror_and_a_hold_from_netsuite(
    stack, fresh_database_url: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.mirror_sync import mirror_sync

    # A database of its own: the session's seeded one stays as other tests expect it.
    url = fresh_database_url(session_backend())
    upgrade(url)
    monkeypatch.setenv("QUOTEFLOW_DATABASE_URL", url)
    get_settings.cache_clear()
    base = stack.netsuite.base_url
    customer = int(CUSTOMERS[0].id)
    try:
        results = mirror_sync(full=True)
        assert [r["table"] for r in results] == [
            "customers",
            "customer_profiles",
            "spec_items",
            "pricing_master",
            "customer_programs",
        ]
        with Session(get_engine(url)) as s:
            assert s.execute(sa.select(sa.func.count()).select_from(PricingMaster)).scalar() == len(
                PRICING
            )
            assert s.get(Customer, ON_HOLD_CUSTOMER_ID).entitystatus == "hold"  # type: ignore[union-attr]
            assert all(st.last_success_at for st in s.execute(sa.select(MirrorState)).scalars())

        httpx.post(
            f"{base}/_fake/suiteql/customer",
            json={"rows": [{"id": customer, "creditholdoverride": "ON"}]},
            timeout=5,
        ).raise_for_status()
        # A 503 on the way: the task's retry (the step policy) resumes and finishes.
        httpx.post(
            f"{base}/_fake/inject",
            json={"mode": "status", "status": 503, "count": 1, "api": "suiteql"},
            timeout=5,
        ).raise_for_status()
        changed = {r["table"]: r for r in mirror_sync(table="customers")}
        assert changed["customers"]["error"] is None
        with Session(get_engine(url)) as s:
            assert s.get(Customer, str(customer)).entitystatus == "hold"  # type: ignore[union-attr]
    finally:
        httpx.post(
            f"{base}/_fake/suiteql/customer",
            json={"rows": [{"id": customer, "creditholdoverride": "AUTO"}]},
            timeout=5,
        )
        monkeypatch.undo()
        get_settings.cache_clear()
