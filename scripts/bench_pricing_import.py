"""Benchmark a pricing spreadsheet import: a file of CUSTOMERS x ITEMS price rows into a
fresh database (all new), the same file again (all unchanged), and a dry run of it with
every price moved. Prints seconds, rows/s and peak memory; asserts nothing.

    uv run python scripts/bench_pricing_import.py                       # SQLite file
    uv run python scripts/bench_pricing_import.py --url postgresql+psycopg://postgres@127.0.0.1:5432/bench
    (the PostgreSQL database must exist and be empty; it is migrated here)
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from quoteflow import migrate  # noqa: E402
from quoteflow.db import session_scope  # noqa: E402
from quoteflow.mirror.pricing_import import import_pricing  # noqa: E402
from quoteflow.models import Customer, SpecItem  # noqa: E402


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _csv(customers: int, items: int, bump: int) -> bytes:
    lines = ["customer_id,item_code,case_price,cost_basis"]
    for c in range(customers):
        for i in range(items):
            price = 10 + (c * 7 + i * 3 + bump) % 900
            lines.append(f"B{c:05d},BI-{i:05d},{price}.25,{price // 2}.10")
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=None, help="database URL (default: a temp SQLite file)")
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--items", type=int, default=400)
    args = parser.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    migrate.upgrade(url)
    with session_scope(url) as s:
        s.execute(
            sa.insert(Customer.__table__),
            [{"id": f"B{c:05d}", "name": f"Bench {c}"} for c in range(args.customers)],
        )
        s.execute(
            sa.insert(SpecItem.__table__),
            [
                {
                    "item_code": f"BI-{i:05d}",
                    "netsuite_item_id": str(900000 + i),
                    "description": f"Bench item {i}",
                    "catalog": "bench",
                    "pack_size": 1,
                    "unit": "case",
                }
                for i in range(args.items)
            ],
        )
    data = _csv(args.customers, args.items, 0)
    rows = args.customers * args.items
    print(f"database {url.split('@')[-1]}; file {len(data) / 1e6:.1f} MB, {rows} price rows")
    for label, payload, dry in (
        ("import, all new", data, False),
        ("import again, all unchanged", data, False),
        ("dry run, every price moved", _csv(args.customers, args.items, 1), True),
    ):
        start = time.perf_counter()
        report = import_pricing(
            payload, school_year="2026-27", file_name="bench.csv", dry_run=dry, url=url
        )
        took = time.perf_counter() - start
        assert report.ok, report.errors[:3]
        print(
            f"{label:<30} {took:6.2f} s  {rows / took:9.0f} rows/s  "
            f"new {report.new} changed {report.changed} unchanged {report.unchanged}  "
            f"peak RSS {_peak_mb():.0f} MB"
        )


if __name__ == "__main__":
    main()
