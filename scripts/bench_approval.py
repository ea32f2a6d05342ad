"""Benchmark Mike's path through the real worker: draft approval -> gate staged, run start,
gate approval -> quotes row (hot, and after the hot window), and the fan-out against the
same five side effects called bare in one process.

Run (a stack must be up; the script deploys prefect.yaml and starts its own worker):

    uv run quoteflow stack up --state-dir /tmp/qf-bench
    uv run python scripts/bench_approval.py --state-dir /tmp/qf-bench --runs 5

``--phases hot,cold`` (default both): hot = the worker's runs wait hot (approval within the
hot window); cold = ``QUOTEFLOW_HOT_WINDOW_SECONDS=0``, every gate suspends and the approval
goes through the worker. ``--project-dir`` deploys another checkout (e.g. main, for the
"before" figures; its flows suspend at once, so use ``--phases cold``) and
``--worker-poll`` sets the worker's poll. The recurring deployments are paused while it
measures (``--with-schedules`` leaves them running). Prints figures (medians), asserts
nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prefect import flow, get_client  # noqa: E402
from prefect.client.schemas.objects import FlowRun, TaskRun  # noqa: E402

from quoteflow.models import ActionType
from quoteflow.prefect_api import task_runs_of  # noqa: E402

FANOUT = ("write_quote", "render_pdf", "ns_push", "ar_forecast_touch", "send_email")


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s" if values else "     -  "


def _wait(what: str, probe: Callable[[], Any], timeout: float = 240, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(every)


def _states(run_id: Any) -> list[Any]:
    with get_client(sync_client=True) as client:
        return sorted(client.read_flow_run_states(run_id), key=lambda s: s.timestamp)


def _first_task_start(run_id: Any, after: datetime) -> datetime | None:
    starts = [t.start_time for t in task_runs_of(run_id) if t.start_time and t.start_time >= after]
    return min(starts) if starts else None


def _fanout_span(run_id: Any) -> tuple[float, float] | None:
    """(fan-out wall span, ns_push duration) from the run's own task runs."""
    runs = [t for t in task_runs_of(run_id) if t.name.rsplit("-", 1)[0] in FANOUT and t.end_time]
    if not runs:
        return None
    latest: dict[str, TaskRun] = {}
    for t in runs:
        name = t.name.rsplit("-", 1)[0]
        if name not in latest or t.start_time > latest[name].start_time:
            latest[name] = t
    span = max(t.end_time for t in latest.values()) - min(t.start_time for t in latest.values())
    ns = latest.get("ns_push")
    ns_s = (ns.end_time - ns.start_time).total_seconds() if ns else float("nan")
    return span.total_seconds(), ns_s


def _quote_row(run_id: str) -> bool:
    import sqlalchemy as sa

    from quoteflow.db import session_scope
    from quoteflow.models import Quote

    with session_scope() as s:
        return s.execute(sa.select(Quote.id).where(Quote.flow_run_id == run_id)).first() is not None


def _rss_mib(run_id: str) -> float:
    """Resident memory of the processes running this flow run (this machine), MiB."""
    marker = f"PREFECT__FLOW_RUN_ID={run_id}".encode()
    total = 0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "environ").read_bytes().split(b"\0"):
                status = (entry / "status").read_text()
                total += int(
                    next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1]
                )
        except (OSError, StopIteration):
            continue
    return total / 1024


def one_quote(phase: str, figures: defaultdict[str, list[float]]) -> None:
    """Draft -> gate -> approval -> quote row -> finished run, timing each hand-over."""
    from devstack.seed import DEMO_CUSTOMER_ID, DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR
    from quoteflow.approvals import (
        approve,
        draft_quote,
        find_action,
        gate_entity_ref,
    )
    from quoteflow.prefect_api import flow_runs_of, read_flow_run
    from quoteflow.quote import QuoteRequest

    since = datetime.now(UTC) - timedelta(seconds=1)
    draft = draft_quote(
        QuoteRequest(
            customer_id=DEMO_CUSTOMER_ID,
            item_codes=list(DEMO_ITEM_CODES),
            school_year=DEMO_SCHOOL_YEAR,
        )
    )
    t_draft = time.monotonic()
    approve(draft.id, notes="bench")
    run: FlowRun = _wait(
        "the customer-quote run",
        lambda: next(iter(flow_runs_of("customer-quote/customer-quote", since=since)), None),
    )
    run_id = str(run.id)
    run = _wait(
        "the gate",
        lambda: (r := read_flow_run(run_id)).state and r.state.is_paused() and r,
    )
    figures["draft approval -> gate waiting"].append(time.monotonic() - t_draft)
    if phase == "hot":
        time.sleep(2)  # let the warm-up load the PDF renderer before measuring memory
        figures["hot gate process RSS, MiB"].append(_rss_mib(run_id))
    if phase == "cold":  # wait for the process to go: the approval must start a new one
        _wait("the suspension", lambda: read_flow_run(run_id).state.name == "Suspended")
    scheduled = next(s for s in _states(run.id) if s.is_scheduled())
    first = _first_task_start(run.id, scheduled.timestamp)
    if first:
        figures["fresh run start (Scheduled -> 1st task)"].append(
            (first - scheduled.timestamp).total_seconds()
        )
    gate = _wait(
        "the gate action", lambda: find_action(ActionType.quote_gate, gate_entity_ref(run_id))
    )
    resumed_at = datetime.now(UTC)
    t_approve = time.monotonic()
    approve(gate.id, notes="bench")
    _wait("the quote row", lambda: _quote_row(run_id), every=0.02)
    figures[f"gate approval -> quote row ({phase})"].append(time.monotonic() - t_approve)
    done = _wait("the run to finish", lambda: (r := read_flow_run(run_id)).state.is_final() and r)
    if not done.state.is_completed():
        print(f"  run {run_id} ended {done.state.name}: {done.state.message}")
    if phase == "cold":
        resuming = [s for s in _states(run.id) if s.is_scheduled() and s.timestamp >= resumed_at]
        if resuming:
            first = _first_task_start(run.id, resuming[0].timestamp)
            if first:
                figures["resumed run start (Resuming -> 1st task)"].append(
                    (first - resuming[0].timestamp).total_seconds()
                )
    span = _fanout_span(run.id)
    if span:
        figures[f"fan-out span ({phase}, in the flow run)"].append(span[0])
        figures["ns_push task"].append(span[1])


@flow(name="bench-bare-fanout")
def bare_fanout(runs: int) -> list[float]:
    """The five side effects called one after the other as plain functions (``.fn``) in
    this process, on fresh quotes: what the fan-out costs without Prefect's tasks."""
    from uuid import uuid4

    from prefect_aws import S3Bucket

    from blocks.netsuite import NetSuiteCredentials
    from devstack.seed import DEMO_CUSTOMER_ID, DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR
    from quoteflow.quote import QuoteContext, QuoteRequest
    from quoteflow.settings import get_settings
    from tasks import context as ctx
    from tasks.ar_forecast import touch_ar_forecast
    from tasks.email import draft_quote_email
    from tasks.netsuite import push_estimate
    from tasks.pdf import render_pdf
    from tasks.quotes import build_quote_preview, write_quote

    settings = get_settings()
    bucket = S3Bucket.load(settings.s3_bucket_block)
    netsuite = NetSuiteCredentials.load(settings.netsuite_block)
    totals = []
    for _ in range(runs + 1):  # the first one warms imports and connections
        run_id = str(uuid4())
        request = QuoteRequest(
            customer_id=DEMO_CUSTOMER_ID,
            item_codes=list(DEMO_ITEM_CODES),
            school_year=DEMO_SCHOOL_YEAR,
        )
        context = QuoteContext(
            customer=ctx.load_customer.fn(request.customer_id),
            programs=ctx.load_customer_programs.fn(request.customer_id),
            pricing=ctx.load_current_pricing.fn(
                request.customer_id, request.item_codes, request.school_year
            ),
            open_quotes=ctx.load_open_quotes.fn(request.customer_id),
            items=ctx.resolve_items.fn(request.item_codes, request.catalog),
        )
        identity = ctx.allocate_quote_id.fn(request, run_id)
        preview = build_quote_preview.fn(
            request, context, identity.quote_id, identity.supersedes_quote_id
        )
        started = time.perf_counter()
        write_quote.fn(preview, run_id)
        stored = render_pdf.fn(preview, bucket, settings.company_name, run_id)
        push_estimate.fn(preview, netsuite, run_id)
        touch_ar_forecast.fn(preview.customer_id, preview.quote_id)
        draft_quote_email.fn(preview, stored, run_id)
        totals.append(time.perf_counter() - started)
    return totals[1:]


def _pause_recurring(paused: bool) -> None:
    """Pause (or resume) every deployment with a schedule: their runs would otherwise start
    processes on the same worker and cores mid-measure."""
    with get_client(sync_client=True) as client:
        for deployment in client.read_deployments():
            if deployment.schedules and deployment.paused != paused:
                (client.pause_deployment if paused else client.resume_deployment)(deployment.id)
                print(f"{'paused' if paused else 'resumed'} {deployment.name}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, required=True, help="a running stack's dir")
    parser.add_argument("--runs", type=int, default=5, help="quotes per phase")
    parser.add_argument("--phases", default="hot,cold")
    parser.add_argument("--project-dir", type=Path, default=None, help="checkout to deploy")
    parser.add_argument("--worker-poll", type=float, default=None, help="worker poll, s")
    parser.add_argument("--skip-bare", action="store_true")
    parser.add_argument(
        "--with-schedules",
        action="store_true",
        help="leave the recurring deployments (reconcile every minute, verify, ...) running: "
        "their runs then share the worker and the cores with the measured ones",
    )
    args = parser.parse_args()
    os.environ["QUOTEFLOW_STATE_DIR"] = str(args.state_dir)

    from deployments.deploy import deploy_all, work_pool_name
    from deployments.worker import start_worker, stop_worker
    from devstack.seed import load_demo_data
    from devstack.stack import Stack
    from devstack.stack.blocks import register_stack_blocks
    from quoteflow.migrate import upgrade
    from quoteflow.prefect_api import pointed_at
    from quoteflow.settings import PROJECT_ROOT

    state = Stack(args.state_dir).up()
    assert state.prefect is not None
    figures: defaultdict[str, list[float]] = defaultdict(list)
    with pointed_at(state.prefect.api_url):
        upgrade()
        load_demo_data()
        register_stack_blocks(state)
        deploy_all(args.project_dir or PROJECT_ROOT)
        if not args.with_schedules:
            _pause_recurring(True)
        worker_dir = args.state_dir / "bench-worker"
        worker_dir.mkdir(exist_ok=True)
        try:
            for phase in [p.strip() for p in args.phases.split(",") if p.strip()]:
                stop_worker(worker_dir)
                log_file = worker_dir / "logs" / "worker.log"
                log_size = log_file.stat().st_size if log_file.exists() else 0
                start_worker(
                    work_pool_name(),
                    api_url=state.prefect.api_url,
                    state_dir=worker_dir,
                    poll_seconds=args.worker_poll,
                    extra_env={"QUOTEFLOW_HOT_WINDOW_SECONDS": "600" if phase == "hot" else "0"},
                )
                _wait(  # the worker's own start is not part of any run's start
                    "the worker",
                    lambda log=log_file, skip=log_size: "started!" in log.read_text()[skip:],
                    every=0.5,
                )
                print(f"phase {phase}: {args.runs} quotes", flush=True)
                for n in range(args.runs):
                    one_quote(phase, figures)
                    print(f"  quote {n + 1} done", flush=True)
        finally:  # a timed-out quote must not leave the worker starting runs
            stop_worker(worker_dir)
            if not args.with_schedules:
                _pause_recurring(False)
        if not args.skip_bare:
            figures["five side effects called bare"] = bare_fanout(args.runs)

    print()
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at the end")
    print(f"{'measure':<44}{'median':>10}   n   samples")
    for name, values in figures.items():
        samples = " ".join(f"{v:.2f}" for v in values)
        median = f"{statistics.median(values):6.0f}   " if "MiB" in name else _median(values)
        print(f"{name:<44}{median:>10} {len(values):>3}   {samples}")
    bare = figures.get("five side effects called bare")
    for phase in ("hot", "cold"):
        span = figures.get(f"fan-out span ({phase}, in the flow run)")
        if span and bare:
            ratio = statistics.median(span) / statistics.median(bare)
            print(f"{f'fan-out ({phase}) / bare':<44}{ratio:>8.2f} x")


if __name__ == "__main__":
    main()
