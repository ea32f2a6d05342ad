"""Start, watch and stop background processes (the worker, the local stack's services), each
the leader of its own process group."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

# Popen objects of the services this process started, kept so they are not garbage collected
# (with a ResourceWarning) while the service runs; reaped through os.waitpid below.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def spawn(
    command: Sequence[str], *, env: Mapping[str, str], log_file: Path, cwd: Path | None = None
) -> int:
    """Start ``command`` in a new session (its own process group), output appended to log_file.

    Returns the pid, which is also the process group id.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        log.write(
            f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(command)}\n".encode()
        )
        log.flush()
        restore_sigint = _sigint_ignored_in_main_thread()
        if restore_sigint:
            # SIG_IGN survives exec: a service started from a background shell job would then
            # ignore SIGINT (Prefect turns SIGTERM into SIGINT). Let the child start clean.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
        try:
            proc = subprocess.Popen(
                list(command),
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        finally:
            if restore_sigint:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
    _CHILDREN[proc.pid] = proc
    return proc.pid


def _sigint_ignored_in_main_thread() -> bool:
    return (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    )


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our exited child, so it does not linger as a zombie."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return
    if done == pid:
        proc = _CHILDREN.pop(pid, None)
        if proc is not None:
            proc.returncode = os.waitstatus_to_exitcode(status)


def pid_alive(pid: int) -> bool:
    """True if ``pid`` is a running (not zombie) process."""
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs: trust kill(0)
    # The state field follows the parenthesised command name.
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def group_alive(pgid: int) -> bool:
    """True if any live process is still in process group ``pgid``."""
    _reap(pgid)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    members = group_members(pgid)
    if members is None:
        return True
    return any(pid_alive(pid) for pid in members)


def group_members(pgid: int) -> list[int] | None:
    """Pids of the processes in group ``pgid`` (None without procfs)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def terminate_group(pgid: int, *, timeout: float = 20.0) -> bool:
    """SIGTERM the process group, wait up to ``timeout`` s, then SIGKILL what is left.

    Returns True if it had to SIGKILL.
    """
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    if wait_until(lambda: not group_alive(pgid), timeout=timeout):
        return False
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    wait_until(lambda: not group_alive(pgid), timeout=10.0)
    return True


def port_open(host: str, port: int, *, timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.2,
    abort: Callable[[], bool] | None = None,
) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout`` passes or ``abort()`` (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if abort is not None and abort():
            return predicate()
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def log_tail(log_file: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    try:
        text = log_file.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def prefect_command() -> list[str]:
    """The venv's ``prefect`` entry point (sibling of sys.executable), else ``python -m``."""
    script = Path(sys.executable).with_name("prefect")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("prefect")
    if found and Path(found).resolve().parent == Path(sys.executable).resolve().parent:
        return [found]
    return [sys.executable, "-m", "prefect"]
