"""How long taking and giving back one slot of a Prefect global concurrency limit takes
(``tasks.throttle.limit_slot``: what every NetSuite push and every hot gate pays).

Run against a running stack (figures, not assertions):
    uv run quoteflow stack up --state-dir /tmp/qf-bench
    uv run python scripts/bench_throttle.py --state-dir /tmp/qf-bench --slots 30

Prints the median, p90 and max of one take + give back, alone and while another thread
writes to the Prefect server (task-run-like load that makes a SQLite-backed server busy).
"""

from __future__ import annotations

import argparse
import contextvars
import os
import statistics
import threading
import time
import uuid
from pathlib import Path


def _measure(n: int) -> list[float]:
    from tasks.throttle import limit_slot

    name = f"bench-throttle-{uuid.uuid4().hex[:8]}"
    from prefect import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=name, limit=2, active=True)
        )
    try:
        with limit_slot(name) as outcome:  # warm up the client
            assert outcome == "held"
        times = []
        for _ in range(n):
            started = time.perf_counter()
            with limit_slot(name) as outcome:
                assert outcome == "held"
            times.append(time.perf_counter() - started)
        return times
    finally:
        with get_client(sync_client=True) as client:
            client.delete_global_concurrency_limit_by_name(name)


def _load(stop: threading.Event) -> None:
    """Writes to the server until stopped: variables set and deleted."""
    from prefect.variables import Variable

    while not stop.is_set():
        key = f"bench_throttle_{uuid.uuid4().hex[:8]}"
        Variable.set(key, "x")
        Variable.unset(key)


def _report(label: str, times: list[float]) -> None:
    times = sorted(times)
    p90 = times[int(0.9 * (len(times) - 1))]
    print(
        f"{label:<28} n={len(times):<3} median {statistics.median(times) * 1000:7.1f} ms  "
        f"p90 {p90 * 1000:7.1f} ms  max {times[-1] * 1000:7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, required=True, help="a running stack's dir")
    parser.add_argument("--slots", type=int, default=30, help="slots taken per phase")
    args = parser.parse_args()
    os.environ["QUOTEFLOW_STATE_DIR"] = str(args.state_dir)
    from devstack.stack import load_state
    from quoteflow.prefect_api import pointed_at

    state = load_state(args.state_dir)
    assert state.prefect is not None, "the stack has no Prefect server"
    with pointed_at(state.prefect.api_url):
        _report("slot, quiet server", _measure(args.slots))
        stop = threading.Event()
        # the thread runs in this context: pointed at the stack's server
        run_here = contextvars.copy_context().run
        writer = threading.Thread(target=run_here, args=(_load, stop), daemon=True)
        writer.start()
        try:
            _report("slot, server under writes", _measure(args.slots))
        finally:
            stop.set()
            writer.join(timeout=30)


if __name__ == "__main__":
    main()
