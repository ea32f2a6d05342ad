"""Benchmark the quote PDF: render time and peak Python memory for 10/50/200/500-line quotes.

Run: ``uv run python scripts/bench_pdf.py [--repeat N]``. Prints figures, asserts nothing.
Targets: 50 lines <= 0.3 s CPU, 500 lines <= 3 s CPU, cost linear in lines.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import statistics
import time
import tracemalloc
from datetime import UTC, date, datetime
from decimal import Decimal

from pypdf import PdfReader

from quoteflow.pdf import render_quote_pdf
from quoteflow.quote import QuoteLineView, QuotePreview

DESCRIPTIONS = (
    "Paper towels, multifold, white, 16 packs of 250",
    "Nitrile gloves, powder-free, large, blue, 100 count per box",
    "Hand soap, foaming, fragrance free, 1200 mL refill",
    "Trash liners 40x46 1.5 mil black",
)


def build_preview(n_lines: int) -> QuotePreview:
    """A realistic quote with ``n_lines`` priced lines (every 7th one overridden)."""
    lines = []
    for n in range(1, n_lines + 1):
        price = Decimal(f"{10 + (n * 37) % 400}.{n % 100:02d}")
        quantity = 1 + (n * 13) % 120
        lines.append(
            QuoteLineView(
                line_no=n,
                item_code=f"JS-{10000 + n}",
                description=DESCRIPTIONS[n % len(DESCRIPTIONS)],
                netsuite_item_id=str(n),
                pack_size=(1, 6, 12, 24)[n % 4],
                quantity=quantity,
                case_price=price,
                cost_basis=price * Decimal("0.8"),
                margin_pct=Decimal("20.00"),
                line_total=price * quantity,
                price_source="override" if n % 7 == 0 else "pricing_master",
            )
        )
    return QuotePreview(
        quote_id=f"Q-BENCH-{n_lines}",
        customer_id="107",
        customer_name="Springfield Unified School District",
        contact_name="Dana Whitfield",
        school_year="2026-27",
        catalog="JANSAN-2026",
        generated_at=datetime(2026, 6, 3, tzinfo=UTC),
        valid_until=date(2026, 7, 3),
        lines=lines,
        subtotal=sum((line.line_total or Decimal(0) for line in lines), Decimal("0.00")),
    )


def measure(n_lines: int, repeat: int) -> None:
    """Print render wall/CPU time, peak traced memory, pages and size for one quote size.

    CPU time is printed because wall time on a shared machine includes waiting for a core.
    """
    preview = build_preview(n_lines)
    times: list[float] = []
    cpu_times: list[float] = []
    pdf = b""
    for _ in range(repeat):
        gc.collect()
        started, cpu_started = time.perf_counter(), time.process_time()
        pdf = render_quote_pdf(preview, company_name="Northwind Janitorial Supply")
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
    gc.collect()
    tracemalloc.start()
    render_quote_pdf(preview, company_name="Northwind Janitorial Supply")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    print(
        f"{n_lines:>5} lines  {pages:>3} pages  wall median {statistics.median(times):6.3f} s"
        f"  min {min(times):6.3f} s  cpu median {statistics.median(cpu_times):6.3f} s"
        f" ({statistics.median(cpu_times) / n_lines * 1000:4.1f} ms/line)"
        f"  peak {peak / 1_048_576:6.1f} MiB  pdf {len(pdf) / 1024:6.1f} KiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="timed renders per size")
    args = parser.parse_args()
    # Warm-up: the first render imports fonts and builds caches.
    render_quote_pdf(build_preview(1), company_name="warm-up")
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    print("render_quote_pdf: times without tracemalloc; peak = tracemalloc over one more render")
    for n_lines in (10, 50, 200, 500):
        measure(n_lines, args.repeat)


if __name__ == "__main__":
    main()
