"""Benchmark the customer-quote workflow's own code, without Prefect: the context queries,
the preview, write_quote, the verify sweep's selection and the memory of a 200-line quote.

Run: ``uv run python scripts/bench_workflow.py [--pg] [--runs N]``. SQLite (a temp file)
always; with ``--pg`` also PostgreSQL, in a throw-away database created on
``--pg-url`` (default postgresql+psycopg://postgres@127.0.0.1:5432/test) and dropped
after. Prints figures, asserts nothing. Tasks are called through ``task.fn``, the plain
function behind each Prefect task, so no Prefect server or run context is involved.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from devstack import seed
from quoteflow import migrate
from quoteflow.db import get_engine, session_scope
from quoteflow.models import PricingMaster, SpecItem, VerifyStatus, WorkflowVerifyResult
from quoteflow.pdf import render_quote_pdf
from quoteflow.quote import (
    QuoteContext,
    QuotePreview,
    QuoteRequest,
    apply_price_overrides,
    build_preview,
)
from quoteflow.settings import get_settings

LINES = 200
CUSTOMER_ID = "1107"
SCHOOL_YEAR = "2026-27"
BENCH_PREFIX = "BX-"
VERIFY_ROWS = 20_000
VERIFY_DUE = 5_000
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DESCRIPTIONS = (
    "Chicken Breast Fillet, Whole Grain Breaded, 3.3 oz, Cooked",
    "Cheese Pizza, Whole Grain Crust, 16 in, 8 Cut",
    "Garden Salad Mix, Romaine Blend, 5 lb Bag",
    "Milk, 1% Lowfat, Half Pint, 50 per case",
)


# ---------------------------------------------------------------- figures


@dataclass
class Timings:
    """Seconds per run of one measured operation."""

    samples: list[float] = field(default_factory=list)

    def median_ms(self) -> float:
        return statistics.median(self.samples) * 1000

    def p95_ms(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000

    def cell(self) -> str:
        return f"{self.median_ms():8.2f} / {self.p95_ms():8.2f}"


def timed(fn: Callable[[], Any], runs: int, warmup: int = 1) -> Timings:
    """Call ``fn`` ``warmup`` times untimed, then ``runs`` times timed."""
    for _ in range(warmup):
        fn()
    out = Timings()
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.samples.append(time.perf_counter() - started)
    return out


@dataclass
class Report:
    """Rows of (measure, unit) with one cell per backend, and free-text sections."""

    backends: list[str] = field(default_factory=list)
    rows: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    sections: list[tuple[str, str]] = field(default_factory=list)

    def put(self, measure: str, unit: str, backend: str, cell: str) -> None:
        self.rows.setdefault((measure, unit), {})[backend] = cell

    def print(self) -> None:
        width = max(len(m) for m, _ in self.rows) + 2
        unit_w = max(len(u) for _, u in self.rows) + 2
        header = f"{'measure':<{width}}{'unit':<{unit_w}}" + "".join(
            f"{b:>24}" for b in self.backends
        )
        print()
        print(header)
        print("-" * len(header))
        # by section number; within a section, in the order measured
        for (measure, unit), cells in sorted(self.rows.items(), key=lambda kv: kv[0][0][:3]):
            print(
                f"{measure:<{width}}{unit:<{unit_w}}"
                + "".join(f"{cells.get(b, '-'):>24}" for b in self.backends)
            )
        for title, text in self.sections:
            print(f"\n== {title}\n{text}")


# ---------------------------------------------------------------- databases


@contextmanager
def use_database(url: str) -> Iterator[None]:
    """Point quoteflow's settings (and so every task's session_scope) at ``url``."""
    old = os.environ.get("QUOTEFLOW_DATABASE_URL")
    os.environ["QUOTEFLOW_DATABASE_URL"] = url
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_engine(url).dispose()
        if old is None:
            os.environ.pop("QUOTEFLOW_DATABASE_URL", None)
        else:
            os.environ["QUOTEFLOW_DATABASE_URL"] = old
        get_settings.cache_clear()


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="qf-bench-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'bench.db'}"


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """CREATE DATABASE a throw-away database next to ``admin_url``'s; DROP it after."""
    name = f"qf_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def prepare(url: str) -> list[str]:
    """Migrate, load the demo data and add LINES bench items priced for every seeded
    customer and school year. Returns the bench item codes."""
    migrate.upgrade(url)
    seed.load_demo_data(url)
    codes = [f"{BENCH_PREFIX}{n:04d}" for n in range(1, LINES + 1)]
    with session_scope(url) as s:
        s.add_all(
            SpecItem(
                item_code=code,
                netsuite_item_id=f"bench-{n}",
                description=DESCRIPTIONS[n % len(DESCRIPTIONS)],
                catalog="BENCH-2026",
                pack_size=(1, 6, 12, 24)[n % 4],
                unit="case",
            )
            for n, code in enumerate(codes, start=1)
        )
        s.flush()
        for customer in seed.CUSTOMERS:
            for year in seed.SCHOOL_YEARS:
                for n, code in enumerate(codes, start=1):
                    price = Decimal(f"{20 + (n * 37) % 300}.{n % 100:02d}")
                    # every 9th line under the 15 % floor, so margin_floor has work to do
                    cost = (price * Decimal("0.9" if n % 9 == 0 else "0.75")).quantize(
                        Decimal("0.01")
                    )
                    s.add(
                        PricingMaster(
                            customer_id=customer.id,
                            item_code=code,
                            school_year=year,
                            case_price=price,
                            cost_basis=cost,
                            margin_pct=((price - cost) / price * 100).quantize(Decimal("0.01")),
                        )
                    )
    return codes


# ---------------------------------------------------------------- the measures


def bench_context(report: Report, backend: str, codes: list[str], runs: int) -> QuoteContext:
    """(1) The four context queries and the item lookup, each and together."""
    from tasks import context as ctx

    calls: dict[str, Callable[[], Any]] = {
        "load_customer": lambda: ctx.load_customer.fn(CUSTOMER_ID),
        "load_customer_programs": lambda: ctx.load_customer_programs.fn(CUSTOMER_ID),
        "load_current_pricing": lambda: ctx.load_current_pricing.fn(
            CUSTOMER_ID, codes, SCHOOL_YEAR
        ),
        "load_open_quotes": lambda: ctx.load_open_quotes.fn(CUSTOMER_ID),
        "resolve_items": lambda: ctx.resolve_items.fn(codes, None),
    }
    for name, call in calls.items():
        label = f"(1) {name}" + (
            f" ({LINES} codes)" if name in ("load_current_pricing", "resolve_items") else ""
        )
        report.put(label, "ms med / p95", backend, timed(call, runs).cell())

    def all_five() -> QuoteContext:
        return QuoteContext(
            customer=ctx.load_customer.fn(CUSTOMER_ID),
            programs=ctx.load_customer_programs.fn(CUSTOMER_ID),
            pricing=ctx.load_current_pricing.fn(CUSTOMER_ID, codes, SCHOOL_YEAR),
            open_quotes=ctx.load_open_quotes.fn(CUSTOMER_ID),
            items=ctx.resolve_items.fn(codes, None),
        )

    report.put(
        "(1) all five, one after another", "ms med / p95", backend, timed(all_five, runs).cell()
    )
    context = all_five()
    _expect(len(context.pricing) == LINES and len(context.items) == LINES, "200 priced items")
    return context


def make_preview(request: QuoteRequest, context: QuoteContext, quote_id: str) -> QuotePreview:
    settings = get_settings()
    return build_preview(
        request,
        context,
        quote_id=quote_id,
        supersedes_quote_id=None,
        now=datetime.now(UTC),
        validity_days=settings.quote_validity_days,
        margin_floor=settings.margin_floor_pct,
    )


def bench_preview(
    report: Report, request: QuoteRequest, context: QuoteContext, runs: int
) -> QuotePreview:
    """(2) build_preview for LINES lines (pure: no database), and 20 price overrides."""
    timing = timed(lambda: make_preview(request, context, "Q-BENCH"), runs)
    report.put(f"(2) build_preview ({LINES} lines)", "ms med / p95", "pure", timing.cell())
    preview = make_preview(request, context, "Q-BENCH")
    overrides = {line.item_code: float(line.case_price or 0) + 1.0 for line in preview.lines[::10]}
    timing = timed(
        lambda: apply_price_overrides(
            preview, overrides, margin_floor=get_settings().margin_floor_pct
        ),
        runs,
    )
    report.put(
        f"(2) apply_price_overrides ({len(overrides)} of {LINES})",
        "ms med / p95",
        "pure",
        timing.cell(),
    )
    return preview


def bench_write_quote(report: Report, backend: str, preview: QuotePreview, runs: int) -> None:
    """(3) write_quote for a LINES-line quote: a new quote id and flow run id per run;
    once with pricing_master prices only, once with every 10th line overridden (each
    override upserts a pricing_master row)."""
    from tasks.quotes import write_quote

    overridden = apply_price_overrides(
        preview,
        {line.item_code: float(line.case_price or 0) + 0.5 for line in preview.lines[::10]},
        margin_floor=get_settings().margin_floor_pct,
    )
    for label, base in (("no overrides", preview), ("20 overrides", overridden)):

        def one(base: QuotePreview = base) -> None:
            run_id = str(uuid.uuid4())
            quote = base.model_copy(update={"quote_id": f"QB-{run_id[:18]}"})
            written = write_quote.fn(quote, run_id)
            _expect(written.created and written.line_count == LINES, "a new 200-line quote")

        report.put(
            f"(3) write_quote ({LINES} lines, {label})",
            "ms med / p95",
            backend,
            timed(one, runs).cell(),
        )


def insert_verify_rows(url: str, now: datetime) -> None:
    """VERIFY_ROWS rows: VERIFY_DUE pending and due; the rest pending but not yet due,
    or already decided (pass/fail) in the past, as a long-running system accumulates."""
    checks = ("quote_persisted", "pdf_stored", "email_sent")
    rows: list[dict[str, Any]] = []
    for n in range(VERIFY_ROWS):
        run_id = str(uuid.UUID(int=n // len(checks) + 1))
        check = checks[n % len(checks)]
        if n < VERIFY_DUE:
            status, due = VerifyStatus.pending, now - timedelta(minutes=1 + n % 600)
        elif n % 2:
            status, due = VerifyStatus.pending, now + timedelta(minutes=1 + n % 600)
        else:
            status = VerifyStatus.passed if n % 10 else VerifyStatus.failed
            due = now - timedelta(days=1 + n % 90)
        rows.append(
            {
                "run_id": run_id,
                "workflow_type": "customer_quote",
                "check_name": check,
                "params": {"quote_id": f"Q2627-{n:010d}", "key": f"quotes/{n}.pdf"},
                "status": status.value,
                "due_at": due,
                "deadline": due + timedelta(hours=1),
                "attempts": 0,
                "created_at": due - timedelta(minutes=5),
            }
        )
    with session_scope(url) as s:
        s.execute(sa.insert(WorkflowVerifyResult), rows)
    engine = get_engine(url)
    with engine.begin() as conn:
        # What autovacuum (PostgreSQL) or an operator (SQLite) would have done by now.
        conn.exec_driver_sql("ANALYZE")


@contextmanager
def captured_statements(url: str) -> Iterator[list[tuple[str, Any]]]:
    """Collect the SQL (and its parameters) the engine sends while the block runs."""
    seen: list[tuple[str, Any]] = []
    engine = get_engine(url)

    def listen(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)


def bench_verify(report: Report, backend: str, url: str, runs: int) -> None:
    """(4) select_due_checks on VERIFY_ROWS rows of which VERIFY_DUE are due; the plan
    of the exact statement it sends."""
    from tasks.verify import select_due_checks

    now = datetime.now(UTC)
    insert_verify_rows(url, now)
    due = VERIFY_DUE
    first = timed(lambda: select_due_checks.fn(now, 200), runs)
    report.put("(4) select_due_checks, batch 200", "ms med / p95", backend, first.cell())

    def next_page() -> None:
        # the second page of the keyset: what every batch after the first costs
        page = select_due_checks.fn(now, 200)
        select_due_checks.fn(now, 200, after_due_at=page[-1].due_at, after_id=page[-1].id)

    report.put(
        "(4) ... first + next keyset page", "ms med / p95", backend, timed(next_page, runs).cell()
    )
    whole = timed(lambda: select_due_checks.fn(now, due + 1), max(5, runs // 5))
    report.put(f"(4) ... whole due set ({due}) at once", "ms med / p95", backend, whole.cell())

    def paged() -> int:
        total, after_due, after_id = 0, None, None
        while True:
            page = select_due_checks.fn(now, 200, after_due_at=after_due, after_id=after_id)
            total += len(page)
            if len(page) < 200:
                return total
            after_due, after_id = page[-1].due_at, page[-1].id

    _expect(paged() == due, f"paging finds all {due} due checks")
    report.put(
        f"(4) ... whole due set in pages of 200 ({due // 200 + 1} calls)",
        "ms med / p95",
        backend,
        timed(paged, max(5, runs // 5)).cell(),
    )

    with captured_statements(url) as seen:
        select_due_checks.fn(now, 200)
        page = select_due_checks.fn(now, 200)
        select_due_checks.fn(now, 200, after_due_at=page[-1].due_at, after_id=page[-1].id)
    selects = [(sql, p) for sql, p in seen if sql.lstrip().upper().startswith("SELECT")]
    plans = []
    with get_engine(url).connect() as conn:
        for title, (sql, params) in (("first page", selects[0]), ("next page", selects[-1])):
            if backend == "PostgreSQL":
                rows = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params).all()
                plan = "\n".join(r[0] for r in rows)
            else:
                rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()
                plan = "\n".join(str(r[-1]) for r in rows)
            plans.append(f"-- {title}:\n{' '.join(sql.split())}\n{plan}")
    report.sections.append(
        (f"{backend}: plan of select_due_checks (batch 200)", "\n\n".join(plans))
    )


def bench_memory(report: Report, request: QuoteRequest, context: QuoteContext) -> None:
    """(5) Peak traced Python memory of build_preview, and of build + render_quote_pdf."""
    company = get_settings().company_name
    render_quote_pdf(make_preview(request, context, "Q-WARM"), company_name=company)  # caches
    gc.collect()
    tracemalloc.start()
    preview = make_preview(request, context, "Q-MEM")
    _, peak_build = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    pdf = render_quote_pdf(preview, company_name=company)
    render_s = time.perf_counter() - started
    _, peak_render = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    report.put(f"(5) peak memory: build_preview ({LINES} lines)", "MiB", "pure", _mib(peak_build))
    report.put(
        f"(5) peak memory: build + render_quote_pdf ({LINES} lines)",
        "MiB",
        "pure",
        _mib(max(peak_build, peak_render)),
    )
    plain = timed(lambda: render_quote_pdf(preview, company_name=company), 3, warmup=0)
    report.put(
        f"(5) render_quote_pdf ({LINES} lines), 3 runs", "s median", "pure",
        f"{statistics.median(plain.samples):8.2f}",
    )  # fmt: skip
    report.put(
        "(5) ... one run under tracemalloc / PDF size", "s / KiB", "pure",
        f"{render_s:6.2f} / {len(pdf) / 1024:7.1f}",
    )  # fmt: skip


def _expect(condition: bool, what: str) -> None:
    """Stop when the bench is not measuring what it says (not a check on the figures)."""
    if not condition:
        raise RuntimeError(f"benchmark set-up is wrong: expected {what}")


def _mib(n: int) -> str:
    return f"{n / 1_048_576:8.2f}"


def run_backend(report: Report, backend: str, url: str, runs: int, pure: bool) -> None:
    """Every database measure on one backend (and the pure ones on the first)."""
    with use_database(url):
        started = time.perf_counter()
        codes = prepare(url)
        print(f"{backend}: migrated, seeded and primed in {time.perf_counter() - started:.1f} s")
        context = bench_context(report, backend, codes, runs)
        request = QuoteRequest(customer_id=CUSTOMER_ID, item_codes=codes, school_year=SCHOOL_YEAR)
        if pure:
            preview = bench_preview(report, request, context, runs)
            bench_memory(report, request, context)
        else:
            preview = make_preview(request, context, "Q-BENCH")
        bench_write_quote(report, backend, preview, max(10, runs // 2))
        bench_verify(report, backend, url, runs)
        print(f"{backend}: measured in {time.perf_counter() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pg", action="store_true", help="also measure on PostgreSQL")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="where to CREATE DATABASE")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per measure")
    args = parser.parse_args()

    report = Report(backends=["pure", "SQLite"] + (["PostgreSQL"] if args.pg else []))
    with sqlite_database() as url:
        run_backend(report, "SQLite", url, args.runs, pure=True)
    if args.pg:
        with postgres_database(args.pg_url) as url:
            run_backend(report, "PostgreSQL", url, args.runs, pure=False)
    print(
        f"\nms med / p95 = median and 95th percentile over {args.runs} runs (write_quote: "
        f"{max(10, args.runs // 2)}; whole due set: {max(5, args.runs // 5)}), after one "
        "untimed warm-up; task bodies via task.fn, no Prefect."
    )
    report.print()


if __name__ == "__main__":
    main()
