"""Stop a stack when the process that owns it dies without stopping it.

The services run in their own sessions, so a test run killed by a timeout (SIGKILL, or
SIGTERM without teardown) would leave them running. The test fixture starts this watchdog
next to its stack: ``python -m devstack.stack.watchdog --state-dir DIR --owner-pid PID``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from quoteflow import processes

logger = logging.getLogger("devstack.stack.watchdog")


def start_watchdog(state_dir: Path, owner_pid: int | None = None, interval: float = 1.0) -> int:
    """Start the watchdog for the stack in ``state_dir``; returns its pid (its process group)."""
    owner = owner_pid if owner_pid is not None else os.getpid()
    command = [
        sys.executable,
        "-m",
        "devstack.stack.watchdog",
        "--state-dir",
        str(state_dir),
        "--owner-pid",
        str(owner),
        "--interval",
        str(interval),
    ]
    log_file = state_dir / "logs" / "watchdog.log"
    return processes.spawn(command, env=dict(os.environ), log_file=log_file)


def stop_watchdog(pid: int) -> None:
    """Stop a watchdog started by start_watchdog (the stack is left as it is)."""
    processes.terminate_group(pid, timeout=5.0)


def watch(state_dir: Path, owner_pid: int, interval: float) -> None:
    """Poll the owner; when it is gone, bring the stack down."""
    from devstack.stack.control import Stack

    logger.info("watching owner pid %s of stack %s", owner_pid, state_dir)
    while processes.pid_alive(owner_pid):
        time.sleep(interval)
    logger.warning("owner pid %s is gone: stopping the stack in %s", owner_pid, state_dir)
    Stack(state_dir).down()
    logger.info("stack stopped")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--owner-pid", type=int, required=True)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    watch(args.state_dir, args.owner_pid, args.interval)


if __name__ == "__main__":
    main()
