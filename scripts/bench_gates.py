"""Waiting is free: N approval gates suspended past the hot window hold no process; the
Prefect server's memory before and after, per waiting gate.

Each gate is a real run of ``tests/gate_probe.py`` (only the approval gate of
``flows/gate_wait.py``) started through a process worker with
``QUOTEFLOW_HOT_WINDOW_SECONDS=0``, so it suspends at once and its process exits. Gates are
started in batches until N wait or ``--budget`` seconds pass (each costs a Python + Prefect
start, ~4 s of CPU: 500 take ~20 min on 2 cores); the figures are then for the count
reached, and the script says so. A stack must be up (use the Prefect server on PostgreSQL):

    uv run python scripts/bench_gates.py --state-dir /tmp/qf-bench --gates 500 --budget 900

The gates expire after ``--expires-minutes`` (the server then fails them). Prints figures,
asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

POOL = "quoteflow-bench-gates"


def _rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, MiB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            status = (entry / "status").read_text()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        line = next((x for x in status.splitlines() if x.startswith("VmRSS")), None)
        rss[int(entry.name)] = int(line.split()[1]) if line else 0
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += rss.get(current, 0)
        todo.extend(children.get(current, []))
    return total / 1024


def _flow_run_processes(run_ids: set[str]) -> int:
    """Processes on this machine running one of these flow runs."""
    found = 0
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit():
                continue
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        ids = {e.split(b"=", 1)[1].decode() for e in env if e.startswith(b"PREFECT__FLOW_RUN_ID=")}
        found += bool(ids & run_ids)
    return found


def _database_mib() -> float | None:
    """Size of the Prefect server's PostgreSQL database, MiB (None on SQLite)."""
    from quoteflow.settings import get_settings

    url = get_settings().prefect_server_database_url
    if not url or not url.startswith("postgresql"):
        return None
    import psycopg
    from sqlalchemy.engine import make_url

    target = make_url(url)
    dsn = target.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return row[0] / 2**20 if row else None


def _states(client, run_ids: list[UUID]) -> dict[str, int]:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    counts: dict[str, int] = {}
    for i in range(0, len(run_ids), 200):  # the API answers at most 200 runs at a time
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=run_ids[i : i + 200])),
            limit=200,
        )
        for run in runs:
            name = run.state.name if run.state else "none"
            counts[name] = counts.get(name, 0) + 1
    return counts


def main() -> None:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, required=True, help="a running stack's dir")
    parser.add_argument("--gates", type=int, default=500)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--budget", type=float, default=900, help="seconds to start gates")
    parser.add_argument("--worker-limit", type=int, default=6)
    parser.add_argument("--expires-minutes", type=float, default=180)
    args = parser.parse_args()
    os.environ["QUOTEFLOW_STATE_DIR"] = str(args.state_dir)

    from prefect import get_client

    from deployments.deploy import ensure_work_pool
    from deployments.worker import start_worker, stop_worker
    from devstack.stack import Stack
    from quoteflow.prefect_api import pointed_at
    from quoteflow.settings import PROJECT_ROOT

    state = Stack(args.state_dir).up()
    assert state.prefect is not None
    server_pid = state.prefect.pid
    with pointed_at(state.prefect.api_url), get_client(sync_client=True) as client:
        from tests.gate_probe import gate_probe

        ensure_work_pool(POOL)
        deployment_id = gate_probe.from_source(
            source=str(PROJECT_ROOT), entrypoint="tests/gate_probe.py:gate_probe"
        ).deploy(
            name="bench-gates",
            work_pool_name=POOL,
            job_variables={"command": "python -m prefect.engine"},
            build=False,
            push=False,
            print_next_steps=False,
        )
        worker_dir = args.state_dir / "bench-gates-worker"
        worker_dir.mkdir(exist_ok=True)
        start_worker(
            POOL,
            api_url=state.prefect.api_url,
            state_dir=worker_dir,
            limit=args.worker_limit,
            extra_env={"QUOTEFLOW_HOT_WINDOW_SECONDS": "0"},
        )
        time.sleep(10)  # the worker's own start and first requests are not the gates'
        rss_before, db_before = _rss_mib(server_pid), _database_mib()
        db_text = f"{db_before:.0f} MiB" if db_before is not None else "- (SQLite)"
        print(f"before: server RSS {rss_before:.0f} MiB, database {db_text}", flush=True)
        expires_at = (datetime.now(UTC) + timedelta(minutes=args.expires_minutes)).isoformat()
        run_ids: list[UUID] = []
        t0 = time.monotonic()
        try:
            while len(run_ids) < args.gates and time.monotonic() - t0 < args.budget:
                batch = [
                    client.create_flow_run_from_deployment(
                        deployment_id, parameters={"expires_at": expires_at}
                    ).id
                    for _ in range(min(args.batch, args.gates - len(run_ids)))
                ]
                run_ids.extend(batch)
                while _states(client, batch).get("Suspended", 0) < len(batch):
                    time.sleep(2)
                    if time.monotonic() - t0 > args.budget + 600:
                        raise TimeoutError(f"batch not suspended: {_states(client, batch)}")
                print(
                    f"{len(run_ids)} gates suspended after {time.monotonic() - t0:.0f} s; "
                    f"server RSS {_rss_mib(server_pid):.0f} MiB",
                    flush=True,
                )
        finally:
            stop_worker(worker_dir)
        elapsed = time.monotonic() - t0
        time.sleep(15)  # let the server finish the last batch's events and logs
        counts = _states(client, run_ids)
        processes = _flow_run_processes({str(r) for r in run_ids})
        rss_after, db_after = _rss_mib(server_pid), _database_mib()

    n = len(run_ids)
    growth = rss_after - rss_before
    print()
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    print(f"{n} of {args.gates} gates started in {elapsed:.0f} s; states: {counts}")
    print(f"flow-run processes held by the {n} waiting gates: {processes}")
    print(
        f"Prefect server (pid {server_pid} and children) RSS {rss_before:.0f} -> "
        f"{rss_after:.0f} MiB: {growth:+.0f} MiB, {growth * 1024 / max(n, 1):.1f} KiB per gate"
    )
    if db_before is not None and db_after is not None:
        per_gate = (db_after - db_before) * 1024 / max(n, 1)
        print(
            f"Prefect database (PostgreSQL) {db_before:.0f} -> {db_after:.0f} MiB: "
            f"{per_gate:.0f} KiB per gate (its run, states, input, logs and events)"
        )
    if n < args.gates:
        print(
            f"(reached {n} of {args.gates} within the budget; at the same rate {args.gates} "
            f"gates would add ~{growth / max(n, 1) * args.gates:.0f} MiB)"
        )


if __name__ == "__main__":
    main()
