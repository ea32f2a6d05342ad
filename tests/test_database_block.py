"""The database URL (with its password) in a Prefect Secret block: registered by block
registration, read by flow runs once per process, and never in the worker's environment,
the run's logs or the worker's log."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from prefect import get_client
from prefect.blocks.system import Secret
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.deployments import run_deployment
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from deployments.deploy import deploy_all, work_pool_name
from deployments.worker import database_env, start_worker, stop_worker
from devstack.stack import StackState
from devstack.stack.blocks import register_stack_blocks, registration_environment
from quoteflow.cli.app import app
from quoteflow.db import configured_database_url, database_url_from_block, get_engine
from quoteflow.migrate import upgrade
from quoteflow.prefect_api import read_flow_run, wait_for_flow_run
from quoteflow.settings import get_settings
from tests.fixtures.db import session_backend
from tests.fixtures.stack import SinkMailbox


@pytest.fixture
def block_name(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Secret block name of this test's own, configured as QUOTEFLOW_DATABASE_BLOCK."""
    name = f"quoteflow-database-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("QUOTEFLOW_DATABASE_BLOCK", name)
    get_settings.cache_clear()
    database_url_from_block.cache_clear()
    yield name
    monkeypatch.delenv("QUOTEFLOW_DATABASE_BLOCK")
    get_settings.cache_clear()
    database_url_from_block.cache_clear()
    with contextlib.suppress(ValueError):  # never saved
        Secret.delete(name)


@pytest.fixture
def other_database(fresh_database_url: Callable[[str], str]) -> str:
    """A second migrated database of the session's backend; on PostgreSQL its URL carries
    a password (the server trusts 127.0.0.1, so any password connects)."""
    url = fresh_database_url(session_backend())
    upgrade(url)
    if make_url(url).get_backend_name() == "postgresql":
        password = f"Pw-{uuid.uuid4().hex}"
        url = make_url(url).set(password=password).render_as_string(hide_password=False)
    return url


def _secret_part(url: str) -> str:
    """What must never be shown: the password, or (SQLite) the file's path."""
    parsed = make_url(url)
    return parsed.password if parsed.password else str(parsed.database)


def test_without_a_block_the_settings_url_is_used_and_no_server_is_asked(
    seeded_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_block(name: str) -> str:
        raise AssertionError(f"block {name} read without QUOTEFLOW_DATABASE_BLOCK")

    monkeypatch.delenv("QUOTEFLOW_DATABASE_BLOCK", raising=False)
    monkeypatch.setattr("quoteflow.db.database_url_from_block", no_block)
    get_settings.cache_clear()
    assert configured_database_url() == seeded_db
    assert database_env(get_settings()) == {"QUOTEFLOW_DATABASE_URL": seeded_db}


def test_a_configured_block_wins_and_is_read_once_per_process(
    stack: StackState, seeded_db: str, other_database: str, block_name: str
) -> None:
    Secret(value=other_database).save(block_name)

    assert configured_database_url() == other_database  # QUOTEFLOW_DATABASE_URL is set too
    assert configured_database_url() == other_database
    assert database_url_from_block.cache_info().misses == 1
    assert get_engine().url.render_as_string(hide_password=False) == other_database
    # Flow runs get the block's name, never the URL.
    env = database_env(get_settings())
    assert env == {"QUOTEFLOW_DATABASE_BLOCK": block_name}
    assert _secret_part(other_database) not in repr(env)

    Secret(value="not a url, but secret-ish").save(block_name, overwrite=True)
    database_url_from_block.cache_clear()
    with pytest.raises(ValueError, match="does not hold a database URL") as err:
        configured_database_url()
    assert "secret-ish" not in str(err.value)


def test_registration_saves_the_url_and_only_an_explicit_one_replaces_it(
    stack: StackState,
    other_database: str,
    block_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QUOTEFLOW_DATABASE_URL", other_database)
    get_settings.cache_clear()
    ids = register_stack_blocks(stack, env={})
    assert block_name in ids
    assert Secret.load(block_name).get() == other_database

    # Registering where no URL is set keeps the stored one (never the SQLite default).
    monkeypatch.delenv("QUOTEFLOW_DATABASE_URL")
    get_settings.cache_clear()
    assert register_stack_blocks(stack, env={})[block_name] == ids[block_name]
    assert Secret.load(block_name).get() == other_database

    monkeypatch.setenv("QUOTEFLOW_DATABASE_URL", other_database)
    get_settings.cache_clear()
    assert stack.prefect is not None
    env = {**registration_environment(stack, {}), "PREFECT_API_URL": stack.prefect.api_url}
    result = CliRunner().invoke(app, ["blocks", "register"], env=env)
    assert result.exit_code == 0, result.output
    assert f"registered block {block_name}" in result.output
    assert _secret_part(other_database) not in result.output


def _ledger_keys(url: str, key: str) -> list[str]:
    with get_engine(url).connect() as conn:
        rows = conn.execute(
            sa.text("SELECT idempotency_key FROM events WHERE idempotency_key = :k"), {"k": key}
        )
        return [row[0] for row in rows]


def _run_logs(flow_run_id: str) -> str:
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[uuid.UUID(flow_run_id)]))
        )
    return "\n".join(log.message for log in logs)


def _notices(mailbox: SinkMailbox, tag: str) -> list[str]:
    """Subjects of Mike's notices that name this run (in the body's reference)."""
    found = []
    for m in mailbox.new(to=get_settings().approver_email):
        body = m.get_body(preferencelist=("plain",))
        if body is not None and tag in body.get_content():
            found.append(str(m["Subject"]))
    return found


def test_a_worker_run_writes_to_the_database_in_the_block(
    stack: StackState,
    seeded_db: str,
    other_database: str,
    block_name: str,
    smtp_messages: SinkMailbox,
    tmp_path: Path,
) -> None:
    Secret(value=other_database).save(block_name)
    deploy_all()
    state_dir = tmp_path / "worker"
    state_dir.mkdir()
    assert stack.prefect is not None
    # This process has QUOTEFLOW_DATABASE_URL (the session database): the worker must not.
    worker = start_worker(work_pool_name(), api_url=stack.prefect.api_url, state_dir=state_dir)
    try:
        environ = Path(f"/proc/{worker.pid}/environ").read_bytes().decode(errors="replace")
        variables = dict(v.split("=", 1) for v in environ.split("\0") if "=" in v)
        assert variables["QUOTEFLOW_DATABASE_BLOCK"] == block_name
        assert "QUOTEFLOW_DATABASE_URL" not in variables
        assert _secret_part(other_database) not in environ

        event_id = str(uuid.uuid4())
        tag = f"db-block-{event_id[:8]}"
        run = run_deployment(
            "notify-mike/notify-mike",
            parameters={
                "event_type": "alert",
                "event_id": event_id,
                "payload": {"run_id": tag, "step": "db_block", "attempts": 1},
            },
            timeout=0,
        )
        done = wait_for_flow_run(
            lambda: read_flow_run(str(run.id)),
            lambda r: r.state is not None and r.state.is_final(),
            timeout=180,
            what="notify-mike through the worker",
        )
        assert done.state is not None and done.state.is_completed(), done.state

        # The run's ledger write went to the block's database, not the session's.
        key = f"notice:event:{event_id}"
        assert _ledger_keys(other_database, key) == [key]
        assert _ledger_keys(seeded_db, key) == []
        # Mike's notice went through the EmailServerCredentials block, from a run process.
        # (The worker may also run other deployments' scheduled runs: count only ours.)
        deadline = time.monotonic() + 15
        while not (ours := _notices(smtp_messages, tag)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(ours) == 1

        secret = _secret_part(other_database)
        # The run process ships its logs in the background: the last ones may land after
        # the run is marked Completed.
        deadline = time.monotonic() + 30
        while "Finished in state Completed" not in (logs := _run_logs(str(run.id))):
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert "Finished in state Completed" in logs
        assert secret not in logs
        assert secret not in worker.log_file.read_text()
    finally:
        stop_worker(state_dir)
