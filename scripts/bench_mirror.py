"""Benchmark the NetSuite mirror sync against the fake NetSuite (figures, not a test).

A fake account of 2,000 customers, 5,000 items and 200,000 bid prices (custom records,
last-modified times spread over a year) is written to the fake's SuiteQL store, the fake
runs in its own process, and this process syncs into a fresh database:

1. a full sync of every table (the default mirror.yaml), rows/s and peak RSS;
2. an incremental sync with nothing changed;
3. an incremental sync after 100 prices changed.

Targets on the 2-core dev machine: full <= 60 s and <= 300 MB RSS, no-change incremental
<= 2 s.

    uv run python scripts/bench_mirror.py [--database-url URL] [--prices N]
"""

from __future__ import annotations

import argparse
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from devstack.fake_netsuite import FakeCredentials
from devstack.fake_suiteql import SuiteQLStore

CREDS = FakeCredentials("BENCH_SB1", "ck-bench", "cs-bench", "tok-bench", "ts-bench")
START = datetime(2025, 7, 1)


def _stamp(n: int, total: int) -> str:
    return (START + timedelta(seconds=int(n * 365 * 86400 / total))).strftime("%Y-%m-%d %H:%M:%S")


def build_account(path: Path, customers: int, items: int, prices: int) -> None:
    store = SuiteQLStore(path)
    store.upsert("term", [{"id": 1, "name": "Net 30"}], modified=_stamp(0, 1))
    store.upsert(
        "entityaddress",
        [{"id": n + 1, "nkey": n + 1, "state": "TX"} for n in range(customers)],
        modified=_stamp(0, 1),
    )
    store.upsert(
        "customer",
        [
            {
                "id": 10_000 + n,
                "entityid": str(10_000 + n),
                "companyname": f"District {n:05d}",
                "email": f"buyer{n}@district.example",
                "custentity_qf_contact_name": f"Buyer {n}",
                "defaultbillingaddress": n + 1,
                "creditholdoverride": "ON" if n % 97 == 0 else "AUTO",
                "searchstage": "Customer",
                "isinactive": False,
                "creditlimit": "50000.00",
                "balancesearch": f"{n % 5000}.25",
                "terms": 1,
                "lastmodifieddate": _stamp(n, customers),
            }
            for n in range(customers)
        ],
        modified=_stamp(0, 1),
    )
    store.upsert(
        "item",
        [
            {
                "id": 50_000 + n,
                "itemid": f"IT-{n:05d}",
                "displayname": f"Item {n}",
                "custitem_qf_catalog": "food-service" if n % 2 else "custodial",
                "custitem_qf_pack_size": 1 + n % 24,
                "custitem_qf_unit": "case",
                "isinactive": False,
                "lastmodifieddate": _stamp(n, items),
            }
            for n in range(items)
        ],
        modified=_stamp(0, 1),
    )
    per_customer = max(1, prices // customers)
    batch = []
    for n in range(prices):
        c, k = divmod(n, per_customer)
        batch.append(
            {
                "id": n + 1,
                "custrecord_qf_bp_customer": 10_000 + c % customers,
                "custrecord_qf_bp_item": 50_000 + (k * 37 + c) % items,
                "custrecord_qf_bp_school_year": "2026-27",
                "custrecord_qf_bp_case_price": f"{10 + n % 90}.{n % 100:02d}",
                "custrecord_qf_bp_cost": f"{8 + n % 70}.00",
                "isinactive": False,
                "lastmodified": _stamp(n, prices),
            }
        )
        if len(batch) == 10_000:
            store.upsert("customrecord_qf_bid_price", batch)
            batch = []
    if batch:
        store.upsert("customrecord_qf_bid_price", batch)
    store.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_fake(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    code = (
        "from pathlib import Path; from devstack.fake_netsuite import serve, FakeCredentials; "
        f"serve(host='127.0.0.1', port={port}, data_dir=Path({str(data_dir)!r}), "
        f"credentials=FakeCredentials(*{tuple(vars(CREDS).values())!r}))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_fake/health", timeout=1).raise_for_status()
            return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the fake NetSuite did not start")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--prices", type=int, default=200_000)
    args = parser.parse_args()

    from quoteflow.migrate import upgrade
    from quoteflow.mirror.config import load_config
    from quoteflow.mirror.service import sync_all
    from quoteflow.netsuite import NetSuiteClient

    tmp = Path(tempfile.mkdtemp(prefix="bench_mirror_"))
    t0 = time.monotonic()
    build_account(tmp / "fake_suiteql.sqlite3", args.customers, args.items, args.prices)
    print(f"fake account built in {time.monotonic() - t0:.1f} s ({tmp})")
    port = _free_port()
    fake = start_fake(tmp, port)
    url = args.database_url or f"sqlite:///{tmp / 'quoteflow.db'}"
    upgrade(url)
    config = load_config()
    base_rss = peak_rss_mb()
    try:
        client = NetSuiteClient(
            f"http://127.0.0.1:{port}",
            CREDS.account_id,
            CREDS.consumer_key,
            CREDS.consumer_secret,
            CREDS.token_id,
            CREDS.token_secret,
            timeout=60,
        )
        for label, full in (("full", True), ("incremental, nothing changed", False)):
            t0 = time.monotonic()
            results = sync_all(client, config, full=full, database_url=url)
            seconds = time.monotonic() - t0
            rows = sum(r.rows_written for r in results)
            errors = [r.error for r in results if r.error]
            print(
                f"{label}: {seconds:.2f} s, {rows} rows written, "
                f"{rows / seconds if seconds else 0:,.0f} rows/s, peak RSS {peak_rss_mb():.0f} MB"
                + (f", ERRORS {errors}" if errors else "")
            )
            for r in results:
                print(
                    f"   {r.table:18} {r.rows_written:>7} rows {r.pages:>4} pages {r.seconds:>7.2f} s"
                )
        httpx.post(
            f"http://127.0.0.1:{port}/_fake/suiteql/customrecord_qf_bid_price",
            json={
                "rows": [{"id": i, "custrecord_qf_bp_case_price": "77.77"} for i in range(1, 101)]
            },
            timeout=30,
        ).raise_for_status()
        t0 = time.monotonic()
        results = sync_all(client, config, database_url=url)
        print(
            f"incremental, 100 prices changed: {time.monotonic() - t0:.2f} s, "
            f"{sum(r.rows_written for r in results)} rows written"
        )
        print(f"RSS before syncing {base_rss:.0f} MB (imports), peak {peak_rss_mb():.0f} MB")
        client.close()
    finally:
        fake.terminate()
        fake.wait(10)


if __name__ == "__main__":
    main()
