"""A process worker for the quoteflow work pool, run like the stack's services: its own
process group (the worker turns SIGTERM into SIGINT), a pid file, a log file."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pydantic import BaseModel

from quoteflow.processes import pid_alive, prefect_command, spawn, terminate_group
from quoteflow.settings import Settings, get_settings


class WorkerInfo(BaseModel):
    pid: int
    pool: str
    log_file: Path


def _pid_file(state_dir: Path) -> Path:
    return state_dir / "worker.pid"


def running_worker(state_dir: Path | None = None) -> int | None:
    state_dir = state_dir or get_settings().state_dir
    try:
        pid = int(_pid_file(state_dir).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


# quoteflow's own packages, which every flow-run process imports from the project directory.
PROJECT_PACKAGES = ("quoteflow", "flows", "tasks", "blocks", "deployments")


def compile_bytecode() -> None:
    """Write the .pyc files of the installed packages and of quoteflow's own, so that every
    flow-run process reads bytecode instead of compiling Prefect and quoteflow from source
    (measured here: ``import prefect.engine`` 1.1 s with bytecode, 2.8 s without). uv
    installs without bytecode unless asked (``--compile-bytecode``), and where
    PYTHONDONTWRITEBYTECODE is set (as in many containers) Python never writes it itself,
    so each new process would compile everything again. Up to date, this only checks
    (~0.7 s) and writes nothing."""
    import compileall
    import sysconfig

    root = Path(__file__).resolve().parent.parent
    installed = {Path(sysconfig.get_paths()[key]) for key in ("purelib", "platlib")}
    own = [root / package for package in PROJECT_PACKAGES if (root / package).is_dir()]
    for path in [*sorted(installed), *own]:
        # quiet=2: a module that does not compile (e.g. another Python's test data) is
        # simply imported from source, as before.
        compileall.compile_dir(path, quiet=2)


def database_env(settings: Settings) -> dict[str, str]:
    """How the flow runs find the database: the Secret block's name when one is configured
    (the URL, with its password, then never enters the worker's environment), else the URL."""
    if settings.database_block:
        return {"QUOTEFLOW_DATABASE_BLOCK": settings.database_block}
    return {"QUOTEFLOW_DATABASE_URL": settings.resolved_database_url}


def start_worker(
    pool: str,
    *,
    api_url: str,
    state_dir: Path | None = None,
    poll_seconds: float | None = None,
    extra_env: dict[str, str] | None = None,
    limit: int | None = None,
    work_queues: list[str] | None = None,
) -> WorkerInfo:
    """Start (or find) the worker. It passes its environment (the database URL or its
    block, the state dir) to every flow run it starts. It asks the pool for runs every
    ``poll_seconds`` (default ``QUOTEFLOW_WORKER_POLL_SECONDS``, 1 s; Prefect adds up to
    30 % jitter): a resumed or triggered run waits for that poll before its process starts.
    ``extra_env`` is added to the environment it passes on (e.g. QUOTEFLOW_ settings).
    ``limit``: at most this many flow-run processes at once (Prefect's ``--limit``; a gate
    waiting hot holds one), default unlimited. ``work_queues``: only these queues of the
    pool (default all of them)."""
    settings = get_settings()
    state_dir = state_dir or settings.state_dir
    poll_seconds = poll_seconds if poll_seconds is not None else settings.worker_poll_seconds
    log_file = state_dir / "logs" / "worker.log"
    pid = running_worker(state_dir)
    if pid is None:
        compile_bytecode()
        env = dict(os.environ)
        if settings.database_block:
            env.pop("QUOTEFLOW_DATABASE_URL", None)
        env.update(
            {
                "PREFECT_API_URL": api_url,
                "PREFECT_WORKER_QUERY_SECONDS": str(poll_seconds),
                "PREFECT_WORKER_PREFETCH_SECONDS": "5",
                "QUOTEFLOW_STATE_DIR": str(state_dir),
                **database_env(settings),
                "PYTHONUNBUFFERED": "1",
                # The deployments' command is `python -m prefect.engine`: this venv's python.
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
                **(extra_env or {}),
            }
        )
        pid = spawn(
            [
                *prefect_command(),
                *("worker", "start", "--pool", pool, "--type", "process"),
                *(("--limit", str(limit)) if limit else ()),
                *(arg for queue in work_queues or () for arg in ("--work-queue", queue)),
            ],
            env=env,
            log_file=log_file,
        )
        _pid_file(state_dir).write_text(f"{pid}\n")
    return WorkerInfo(pid=pid, pool=pool, log_file=log_file)


def stop_worker(state_dir: Path | None = None) -> bool:
    """Stop the worker's whole process group (and the flow runs it started)."""
    state_dir = state_dir or get_settings().state_dir
    pid = running_worker(state_dir)
    _pid_file(state_dir).unlink(missing_ok=True)
    if pid is None:
        return False
    terminate_group(pid)  # True only when it had to SIGKILL; stopped either way
    return True
