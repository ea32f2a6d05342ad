"""The local stack as a person uses it: up (twice), status, down, with real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devstack.stack import (
    SERVICE_NAMES,
    Stack,
    StackError,
    StackPorts,
    StackState,
    load_aws_secrets,
    load_netsuite_credentials,
    load_state,
)
from devstack.stack.state import ensure_netsuite_credentials
from devstack.stack.watchdog import start_watchdog, stop_watchdog
from quoteflow.cli.app import app
from quoteflow.processes import pid_alive, port_open, wait_until

runner = CliRunner()


def stack_processes(state_dir: Path) -> dict[int, int]:
    """{pid: session id} of every live process started for the stack in ``state_dir``."""
    marker = f"QUOTEFLOW_STACK_DIR={state_dir}".encode()
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if marker in environ and fields[0] != "Z":
            found[int(entry.name)] = int(fields[3])
    return found


def pids(state: StackState) -> dict[str, int]:
    return {name: entry.pid for name, entry in state.services().items()}


@pytest.mark.stack  # starts a whole stack of its own, Prefect server included (~17 s)
def test_up_twice_keeps_one_of_each_and_down_leaves_nothing(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    stack = Stack(state_dir, StackPorts.free())
    try:
        first = stack.up()
        assert set(first.services()) == set(SERVICE_NAMES)
        second = Stack(state_dir, stack.ports).up()
        assert pids(second) == pids(first)

        # One process group (session) per service, led by the recorded pid: nothing duplicated.
        sessions = set(stack_processes(state_dir.resolve()).values())
        assert sessions == set(pids(first).values())

        report = stack.status()
        assert {name: s.up for name, s in report.items()} == dict.fromkeys(SERVICE_NAMES, True)
        assert load_state(state_dir) == second

        result = runner.invoke(app, ["stack", "status", "--state-dir", str(state_dir)])
        assert result.exit_code == 0, result.output
        for entry in second.services().values():
            assert str(entry.pid) in result.output
            assert entry.url in result.output
    finally:
        stack.down()

    for name, pid in pids(first).items():
        assert not pid_alive(pid), name
    for entry in first.services().values():
        assert not port_open(entry.host, entry.port), entry.url
    assert stack_processes(state_dir.resolve()) == {}
    assert stack.state.services() == {}

    result = runner.invoke(app, ["stack", "status", "--state-dir", str(state_dir)])
    assert result.exit_code == 1
    assert result.output.count(" down ") == len(SERVICE_NAMES)


def test_dead_service_is_restarted_and_live_one_kept(tmp_path: Path) -> None:
    stack = Stack(tmp_path, StackPorts.free())
    try:
        first = stack.up(services=["smtp", "s3"])
        assert first.prefect is None and first.netsuite is None
        assert first.smtp is not None and first.s3 is not None
        os.killpg(first.smtp.pid, signal.SIGKILL)

        status = stack.status()
        assert not status["smtp"].up and status["s3"].up
        assert status["smtp"].detail == "process gone"

        second = stack.up(services=["smtp", "s3"])
        assert second.s3 is not None and second.s3.pid == first.s3.pid
        assert second.smtp is not None and second.smtp.pid != first.smtp.pid
        assert stack.status()["smtp"].up
    finally:
        stack.down()
    assert stack_processes(tmp_path.resolve()) == {}


def test_watchdog_stops_the_stack_when_its_owner_dies(tmp_path: Path) -> None:
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    stack = Stack(tmp_path, StackPorts.free())
    watchdog = start_watchdog(stack.state_dir, owner_pid=owner.pid, interval=0.2)
    try:
        state = stack.up(services=["smtp"])
        assert state.smtp is not None and stack.status()["smtp"].up
        owner.kill()
        owner.wait()
        assert wait_until(lambda: not pid_alive(state.smtp.pid), timeout=30)
        assert not port_open(state.smtp.host, state.smtp.port)
        assert wait_until(lambda: not pid_alive(watchdog), timeout=10)
        assert stack.state.smtp is None
    finally:
        owner.kill()
        stop_watchdog(watchdog)
        stack.down()


def test_port_taken_by_a_foreign_process_is_reported(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        stack = Stack(tmp_path, StackPorts.free().model_copy(update={"smtp": port}))
        with pytest.raises(StackError, match=f"port {port}"):
            stack.up(services=["smtp"])
    assert stack.state.smtp is None
    assert stack_processes(tmp_path.resolve()) == {}


def test_unknown_service_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="unknown service"):
        Stack(tmp_path).up(services=["redis"])


def test_status_of_a_stack_never_started(tmp_path: Path) -> None:
    result = runner.invoke(app, ["stack", "status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.count("not started") == len(SERVICE_NAMES)


def test_up_on_running_stack_prints_addresses_not_secrets(stack: StackState) -> None:
    result = runner.invoke(app, ["stack", "up", "--state-dir", str(stack.state_dir)])
    assert result.exit_code == 0, result.output
    assert stack.prefect and stack.s3 and stack.netsuite and stack.smtp
    assert stack.prefect.ui_url in result.output
    assert f"export PREFECT_API_URL={stack.prefect.api_url}" in result.output
    assert stack.s3.endpoint_url in result.output and stack.s3.bucket in result.output
    assert stack.netsuite.base_url in result.output
    assert f"{stack.smtp.host}:{stack.smtp.port}" in result.output
    assert str(stack.state_file) in result.output
    # Reused, not restarted.
    assert pids(load_state(stack.state_dir)) == pids(stack)

    aws = load_aws_secrets(stack.state_dir)
    netsuite = load_netsuite_credentials(stack.state_dir)
    secret_values = [
        aws.aws_secret_access_key.get_secret_value(),
        netsuite.consumer_secret.get_secret_value(),
        netsuite.token_secret.get_secret_value(),
    ]
    state_text = stack.state_file.read_text()
    for value in secret_values:
        assert value not in result.output
        assert value not in state_text


def test_secret_files_are_private(stack: StackState) -> None:
    for path in (stack.secrets_file, stack.state_dir / "netsuite" / "credentials.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    credentials = json.loads((stack.state_dir / "netsuite" / "credentials.json").read_text())
    assert credentials["account_id"] == "1234567_SB1"
    assert set(credentials) == {
        "account_id",
        "consumer_key",
        "consumer_secret",
        "token_id",
        "token_secret",
    }


def test_each_service_logs_to_its_own_file(stack: StackState) -> None:
    for name, entry in stack.services().items():
        assert entry.log_file == stack.state_dir.resolve() / "logs" / f"{name}.log"
        assert entry.log_file.stat().st_size > 0


def test_netsuite_dev_credentials_are_private_and_stable(tmp_path: Path) -> None:
    first = ensure_netsuite_credentials(tmp_path / "a")
    path = tmp_path / "a" / "netsuite" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secrets = ("consumer_key", "consumer_secret", "token_id", "token_secret")
    assert all(len(getattr(first, f).get_secret_value()) == 64 for f in secrets)
    assert ensure_netsuite_credentials(tmp_path / "a") == first
    assert load_netsuite_credentials(tmp_path / "a") == first
    other = ensure_netsuite_credentials(tmp_path / "b")
    assert all(
        getattr(other, f).get_secret_value() != getattr(first, f).get_secret_value()
        for f in secrets
    )
