"""Many quotes at once on two workers: N drafts approved together, N gates approved
together, then count what was written (0 duplicates expected) and compare throughput
with the CPU-bound limit (PDF CPU time x runs / cores).

Two process workers serve the same pool from separate state directories, as two machines
would. Use a Prefect server on PostgreSQL and the quoteflow database on PostgreSQL:

    QUOTEFLOW_PREFECT_SERVER_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/qf_prefect \\
        uv run quoteflow stack up --state-dir /tmp/qf-scale --prefect-port 4393 ...
    QUOTEFLOW_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/qf_scale \\
        uv run python scripts/bench_scale.py --state-dir /tmp/qf-scale --quotes 100

Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, required=True, help="a running stack's dir")
    parser.add_argument("--quotes", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument(
        "--worker-limit",
        type=int,
        default=6,
        help="flow-run processes per worker at once (Prefect's --limit); ~200 MB each",
    )
    parser.add_argument(
        "--hot-window",
        type=float,
        default=0,
        help="QUOTEFLOW_HOT_WINDOW_SECONDS for the runs (0: every gate suspends, so every "
        "approval starts a new process; a hot gate holds a worker slot)",
    )
    args = parser.parse_args()
    os.environ["QUOTEFLOW_STATE_DIR"] = str(args.state_dir)
    os.environ["QUOTEFLOW_HOT_WINDOW_SECONDS"] = str(args.hot_window)  # the workers pass it on

    import httpx
    import sqlalchemy as sa

    from deployments.deploy import deploy_all, work_pool_name
    from deployments.worker import start_worker, stop_worker
    from devstack.seed import DEMO_CUSTOMER_ID, DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR, load_demo_data
    from devstack.stack import Stack
    from devstack.stack.blocks import register_stack_blocks
    from devstack.stack.services import ensure_postgres_database
    from quoteflow.approvals import (
        approve,
        draft_quote,
        find_action,
        gate_entity_ref,
    )
    from quoteflow.db import session_scope
    from quoteflow.migrate import upgrade
    from quoteflow.models import ActionType, Event, ProposedAction, Quote
    from quoteflow.pdf import render_quote_pdf
    from quoteflow.prefect_api import flow_runs_of, pointed_at, read_flow_run
    from quoteflow.quote import QuotePreview, QuoteRequest
    from quoteflow.settings import get_settings

    url = get_settings().resolved_database_url
    if url.startswith("postgresql"):
        ensure_postgres_database(url)
    state = Stack(args.state_dir).up()
    assert state.prefect is not None and state.netsuite is not None
    n = args.quotes
    with pointed_at(state.prefect.api_url):
        upgrade()
        load_demo_data()
        register_stack_blocks(state)
        deploy_all()
        workers = [args.state_dir / f"scale-worker-{i}" for i in (1, 2)]
        for wdir in workers:
            wdir.mkdir(exist_ok=True)
            start_worker(
                work_pool_name(),
                api_url=state.prefect.api_url,
                state_dir=wdir,
                limit=args.worker_limit,
            )
        try:
            since = datetime.now(UTC) - timedelta(seconds=1)
            request = QuoteRequest(
                customer_id=DEMO_CUSTOMER_ID,
                item_codes=list(DEMO_ITEM_CODES),
                school_year=DEMO_SCHOOL_YEAR,
            )
            drafts = [draft_quote(request) for _ in range(n)]
            t0 = time.monotonic()
            for d in drafts:
                approve(d.id, notes="scale bench")
            deadline = time.monotonic() + args.timeout

            def runs() -> list:
                return flow_runs_of("customer-quote/customer-quote", since=since)

            while len(waiting := [r for r in runs() if r.state and r.state.is_paused()]) < n:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"only {len(waiting)} of {n} gates waiting")
                time.sleep(2)
            t_gates = time.monotonic() - t0
            print(f"{n} gates waiting {t_gates:.1f} s after the drafts were approved", flush=True)
            run_ids = [str(r.id) for r in waiting]
            gates = [find_action(ActionType.quote_gate, gate_entity_ref(rid)) for rid in run_ids]
            t1 = time.monotonic()
            for gate in gates:
                assert gate is not None
                approve(gate.id, notes="scale bench")
            while True:
                finals = [read_flow_run(rid) for rid in run_ids]
                done = [r for r in finals if r.state and r.state.is_final()]
                if len(done) == n or time.monotonic() > deadline:
                    break
                time.sleep(2)
            t_done = time.monotonic() - t1
        finally:
            for wdir in workers:
                stop_worker(wdir)

        completed = sum(1 for r in finals if r.state and r.state.is_completed())
        with session_scope() as s:
            quotes = s.execute(
                sa.select(Quote.id, Quote.flow_run_id).where(Quote.flow_run_id.in_(run_ids))
            ).all()
            quote_ids = [q.id for q in quotes]
            drafts_per_quote = Counter(
                s.execute(
                    sa.select(ProposedAction.entity_ref).where(
                        ProposedAction.action_type == ActionType.send_quote,
                        ProposedAction.entity_ref.in_([f"quote:{q}" for q in quote_ids]),
                    )
                ).scalars()
            )
            events_per_run = Counter(
                s.execute(
                    sa.select(Event.run_id).where(
                        Event.run_id.in_(run_ids), Event.type.like("workflow.%")
                    )
                ).scalars()
            )
        per_run = Counter(q.flow_run_id for q in quotes)
        estimates = httpx.get(f"{state.netsuite.base_url}/_fake/estimates", timeout=30).json()
        per_estimate = Counter(
            e["external_id"] for e in estimates["estimates"] if e["external_id"] in set(quote_ids)
        )
        gate = gates[0]
        preview = QuotePreview.model_validate(gate.payload["preview"])
        cpu = time.process_time()
        for _ in range(3):
            render_quote_pdf(preview, company_name=get_settings().company_name)
        pdf_cpu = (time.process_time() - cpu) / 3
    cores = os.cpu_count() or 1
    limit = pdf_cpu * n / cores
    start_cpu = _run_start_cpu()

    def dupes(counter: Counter) -> int:
        return sum(c - 1 for c in counter.values() if c > 1)

    print(
        f"{cores} cores; load average {os.getloadavg()[0]:.2f}; two workers of "
        f"{args.worker_limit} runs each, hot window {args.hot_window:g} s, {n} quotes"
    )
    print(f"gates approved -> all {n} runs final: {t_done:.1f} s ({completed} completed)")
    print(
        f"throughput: {n / t_done:.2f} quotes/s; CPU-bound limit (PDF {pdf_cpu:.3f} s x {n}"
        f" / {cores} cores = {limit:.1f} s): {limit / t_done:.0%} of it"
    )
    print(
        f"a new flow-run process costs {start_cpu:.2f} s CPU before the flow starts (Prefect's "
        f"engine + the flow module); with it the CPU floor is "
        f"{(pdf_cpu + start_cpu) * n / cores:.1f} s: {(pdf_cpu + start_cpu) * n / cores / t_done:.0%}"
        " of it"
    )
    print(
        f"quote rows {len(quotes)} (duplicated {dupes(per_run)}), NetSuite estimates "
        f"{sum(per_estimate.values())} (duplicated {dupes(per_estimate)}), email drafts "
        f"{sum(drafts_per_quote.values())} (duplicated {dupes(drafts_per_quote)}), outcome "
        f"events {sum(events_per_run.values())} (duplicated {dupes(events_per_run)})"
    )


def _run_start_cpu() -> float:
    """CPU seconds (user + system) of a child importing what a flow-run process imports
    before its first task: Prefect's engine and the flow module."""
    import resource
    import subprocess

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-c", "import prefect.engine, flows.customer_quote"],
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


if __name__ == "__main__":
    main()
