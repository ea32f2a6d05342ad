"""The services of the local stack: how each is launched, checked and described."""

from __future__ import annotations

import json
import logging
import os
import smtplib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from devstack.stack.state import (
    NETSUITE_CREDENTIALS_FILE,
    SLACK_CREDENTIALS_FILE,
    NetSuiteServiceState,
    PageServiceState,
    PrefectServiceState,
    S3ServiceState,
    ServiceName,
    ServiceState,
    SlackServiceState,
    SmtpServiceState,
    StackError,
    ensure_aws_secrets,
    ensure_netsuite_credentials,
    ensure_slack_credentials,
    write_file_atomic,
)
from quoteflow.processes import prefect_command

logger = logging.getLogger("devstack.stack")

HOST = "127.0.0.1"
# Marks every service process so a person (or a test) can find the stack's processes.
STACK_DIR_ENV = "QUOTEFLOW_STACK_DIR"
STACK_SERVICE_ENV = "QUOTEFLOW_STACK_SERVICE"
PUBLIC_BASE_URL_ENV = "QUOTEFLOW_PUBLIC_BASE_URL"
# Region the local bucket is created in: moto refuses create_bucket in region "auto".
MOTO_CREATE_REGION = "us-east-1"


@dataclass
class ServiceSpec:
    """How to run one service: command, environment, health check and state entry."""

    name: ServiceName
    port: int
    command: list[str]
    env: dict[str, str]
    startup_timeout: float
    health: Callable[[], bool]
    make_state: Callable[[int, Path], ServiceState]
    prepare: Callable[[], None] = field(default=lambda: None)
    after_start: Callable[[ServiceState], None] = field(default=lambda _state: None)


def _base_env(state_dir: Path, name: ServiceName) -> dict[str, str]:
    env = dict(os.environ)
    env[STACK_DIR_ENV] = str(state_dir)
    env[STACK_SERVICE_ENV] = name
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _now() -> datetime:
    return datetime.now(UTC)


def _http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def ensure_postgres_database(url: str) -> None:
    """Create the PostgreSQL database named in ``url`` if it does not exist yet."""
    import psycopg
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = target.set(drivername="postgresql", database="postgres")
    dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (target.database,)
        ).fetchone()
        if not found:
            conn.execute(f'CREATE DATABASE "{target.database}"')


def prefect_spec(state_dir: Path, port: int) -> ServiceSpec:
    """Prefect server (API + UI) with its database: SQLite in <state_dir>/prefect, or the
    PostgreSQL database of QUOTEFLOW_PREFECT_SERVER_DATABASE_URL (created if missing)."""
    from quoteflow.settings import get_settings

    home = state_dir / "prefect"
    database_url = get_settings().prefect_server_database_url or (
        f"sqlite+aiosqlite:///{home / 'prefect.db'}"
    )
    url = f"http://{HOST}:{port}"
    api_url = f"{url}/api"
    env = _base_env(state_dir, "prefect")
    # The server must not inherit another server's address or database from the caller.
    for key in [k for k in env if k.startswith("PREFECT_")]:
        del env[key]
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": api_url,
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": database_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "true",
            "PREFECT_SERVER_UI_ENABLED": "true",
            "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
        }
    )

    def make_state(pid: int, log_file: Path) -> ServiceState:
        return PrefectServiceState(
            pid=pid,
            host=HOST,
            port=port,
            url=url,
            log_file=log_file,
            started_at=_now(),
            api_url=api_url,
            ui_url=url,
            home=home,
        )

    return ServiceSpec(
        name="prefect",
        port=port,
        command=[
            *prefect_command(),
            "server",
            "start",
            "--host",
            HOST,
            "--port",
            str(port),
            "--analytics-off",
        ],
        env=env,
        startup_timeout=180.0,  # ~26 s fresh on a quiet machine, ~100 s seen under load
        health=lambda: _http_ok(f"{api_url}/health"),
        make_state=make_state,
        prepare=lambda: _prepare_prefect(home, database_url),
    )


def _prepare_prefect(home: Path, database_url: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    if database_url.startswith("postgresql"):
        ensure_postgres_database(database_url)


def moto_command() -> list[str]:
    """The venv's ``moto_server`` entry point, else ``python -m moto.server``."""
    script = Path(sys.executable).with_name("moto_server")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "moto.server"]


def s3_spec(state_dir: Path, port: int, bucket: str) -> ServiceSpec:
    """moto's S3 server, plus the bucket created in it after start."""
    url = f"http://{HOST}:{port}"

    def make_state(pid: int, log_file: Path) -> ServiceState:
        return S3ServiceState(
            pid=pid,
            host=HOST,
            port=port,
            url=url,
            log_file=log_file,
            started_at=_now(),
            endpoint_url=url,
            bucket=bucket,
        )

    def after_start(entry: ServiceState) -> None:
        assert isinstance(entry, S3ServiceState)
        ensure_bucket(state_dir, entry)

    return ServiceSpec(
        name="s3",
        port=port,
        command=[*moto_command(), "-H", HOST, "-p", str(port)],
        env=_base_env(state_dir, "s3"),
        startup_timeout=30.0,
        health=lambda: _http_ok(f"{url}/moto-api/data.json"),
        make_state=make_state,
        prepare=lambda: ensure_aws_secrets(state_dir),
        after_start=after_start,
    )


def ensure_bucket(state_dir: Path, entry: S3ServiceState) -> None:
    """Create the stack's bucket if it is missing (moto keeps buckets in memory only)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    keys = ensure_aws_secrets(state_dir)
    client = boto3.client(
        "s3",
        endpoint_url=entry.endpoint_url,
        region_name=MOTO_CREATE_REGION,
        aws_access_key_id=keys.aws_access_key_id,
        aws_secret_access_key=keys.aws_secret_access_key.get_secret_value(),
        config=Config(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )
    try:
        client.head_bucket(Bucket=entry.bucket)
        return
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket", "NotFound"}:
            raise
    client.create_bucket(Bucket=entry.bucket)


def netsuite_spec(state_dir: Path, port: int) -> ServiceSpec:
    """The fake NetSuite REST server (``devstack.stack.run netsuite``) with the dev credentials
    this stack generates and the demo dataset's records."""
    base = state_dir / "netsuite"
    data_dir = base / "data"
    credentials_file = state_dir / NETSUITE_CREDENTIALS_FILE
    records_file = base / "records.json"
    url = f"http://{HOST}:{port}"

    def prepare() -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        ensure_netsuite_credentials(state_dir)
        from devstack.seed import netsuite_records  # the demo dataset's customers and items

        records = netsuite_records()
        write_file_atomic(records_file, json.dumps(records, indent=2) + "\n", mode=0o644)

    def make_state(pid: int, log_file: Path) -> ServiceState:
        return NetSuiteServiceState(
            pid=pid,
            host=HOST,
            port=port,
            url=url,
            log_file=log_file,
            started_at=_now(),
            base_url=url,
            account_id=ensure_netsuite_credentials(state_dir).account_id,
            credentials_file=credentials_file,
            records_file=records_file,
            data_dir=data_dir,
        )

    return ServiceSpec(
        name="netsuite",
        port=port,
        command=[
            sys.executable,
            "-m",
            "devstack.stack.run",
            "netsuite",
            "--host",
            HOST,
            "--port",
            str(port),
            "--state-dir",
            str(state_dir),
            "--data-dir",
            str(data_dir),
            "--records",
            str(records_file),
        ],
        env=_base_env(state_dir, "netsuite"),
        startup_timeout=30.0,
        health=lambda: _http_ok(f"{url}/_fake/health"),
        make_state=make_state,
        prepare=prepare,
    )


def smtp_ok(host: str, port: int, timeout: float = 2.0) -> bool:
    """True if an SMTP server answers EHLO and NOOP on host:port."""
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            code, _ = smtp.ehlo()
            if code != 250:
                return False
            code, _ = smtp.noop()
            return code == 250
    except (OSError, smtplib.SMTPException):
        return False


def smtp_spec(state_dir: Path, port: int) -> ServiceSpec:
    """The SMTP sink writing .eml files to <state_dir>/maildir."""
    maildir = state_dir / "maildir"

    def make_state(pid: int, log_file: Path) -> ServiceState:
        return SmtpServiceState(
            pid=pid,
            host=HOST,
            port=port,
            url=f"smtp://{HOST}:{port}",
            log_file=log_file,
            started_at=_now(),
            maildir=maildir,
        )

    return ServiceSpec(
        name="smtp",
        port=port,
        command=[
            sys.executable,
            "-m",
            "devstack.stack.run",
            "smtp",
            "--host",
            HOST,
            "--port",
            str(port),
            "--maildir",
            str(maildir),
        ],
        env=_base_env(state_dir, "smtp"),
        startup_timeout=30.0,
        health=lambda: smtp_ok(HOST, port),
        make_state=make_state,
        prepare=lambda: maildir.mkdir(parents=True, exist_ok=True),
    )


def slack_spec(state_dir: Path, port: int) -> ServiceSpec:
    """The fake Slack (devstack.fake_slack) with the dev bot token and signing secret."""
    url = f"http://{HOST}:{port}"

    def make_state(pid: int, log_file: Path) -> ServiceState:
        return SlackServiceState(
            pid=pid,
            host=HOST,
            port=port,
            url=url,
            log_file=log_file,
            started_at=_now(),
            api_url=f"{url}/api/",
            credentials_file=state_dir / SLACK_CREDENTIALS_FILE,
        )

    return ServiceSpec(
        name="slack",
        port=port,
        command=[
            sys.executable,
            "-m",
            "devstack.stack.run",
            "slack",
            "--host",
            HOST,
            "--port",
            str(port),
            "--state-dir",
            str(state_dir),
        ],
        env=_base_env(state_dir, "slack"),
        startup_timeout=30.0,
        health=lambda: _http_ok(f"{url}/_fake/health"),
        make_state=make_state,
        prepare=lambda: ensure_slack_credentials(state_dir),
    )


def quoteflow_command() -> list[str]:
    """The venv's ``quoteflow`` entry point (sibling of sys.executable), else ``python -m``."""
    script = Path(sys.executable).with_name("quoteflow")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "quoteflow.cli"]


def page_spec(state_dir: Path, port: int, prefect_port: int) -> ServiceSpec:
    """The approval page, talking to this stack's Prefect server and database."""

    def make_state(pid: int, log_file: Path) -> ServiceState:
        return PageServiceState(
            pid=pid,
            host=HOST,
            port=port,
            url=f"http://{HOST}:{port}",
            log_file=log_file,
            started_at=_now(),
        )

    env = _base_env(state_dir, "page")
    env["PREFECT_API_URL"] = f"http://{HOST}:{prefect_port}/api"
    # Links in notices point at this page unless a public address is configured.
    env.setdefault(PUBLIC_BASE_URL_ENV, f"http://{HOST}:{port}")
    env.setdefault("QUOTEFLOW_STATE_DIR", str(state_dir))
    from devstack.fake_slack import MIKE_USER

    env.setdefault("QUOTEFLOW_SLACK_APPROVERS", json.dumps({MIKE_USER: "mike"}))
    return ServiceSpec(
        name="page",
        port=port,
        command=[*quoteflow_command(), "page", "serve", "--host", HOST, "--port", str(port)],
        env=env,
        startup_timeout=60.0,
        health=lambda: _http_ok(f"http://{HOST}:{port}/healthz"),
        make_state=make_state,
    )


def health_check(name: ServiceName, entry: ServiceState) -> bool:
    """Is the service described by ``entry`` answering on its port?"""
    if name == "prefect":
        assert isinstance(entry, PrefectServiceState)
        return _http_ok(f"{entry.api_url}/health")
    if name == "s3":
        return _http_ok(f"{entry.url}/moto-api/data.json")
    if name in ("netsuite", "slack"):
        return _http_ok(f"{entry.url}/_fake/health")
    if name == "smtp":
        return smtp_ok(entry.host, entry.port)
    if name == "page":
        return _http_ok(f"{entry.url}/healthz")
    raise StackError(f"unknown service {name!r}")
