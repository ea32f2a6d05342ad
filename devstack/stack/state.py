"""What the local stack writes down: addresses in stack.json, dev secrets in 0600 files."""

from __future__ import annotations

import json
import os
import secrets
import socket
import string
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from quoteflow.settings import get_settings

ServiceName = Literal["prefect", "s3", "netsuite", "smtp", "slack", "page"]
SERVICE_NAMES: tuple[ServiceName, ...] = ("prefect", "s3", "netsuite", "smtp", "slack", "page")

STATE_FILE = "stack.json"
SECRETS_FILE = "secrets.json"
NETSUITE_CREDENTIALS_FILE = "netsuite/credentials.json"
SLACK_CREDENTIALS_FILE = "slack/credentials.json"
DEFAULT_BUCKET = "quoteflow-quotes"
DEV_NETSUITE_ACCOUNT_ID = "1234567_SB1"


class StackError(RuntimeError):
    """A stack service could not be started, found or stopped."""


class StackNotStarted(StackError):
    """No stack.json in the state directory: the stack was never brought up there."""


class StackPorts(BaseModel):
    """The TCP port of each service on 127.0.0.1."""

    prefect: int = Field(default=4200, ge=1, le=65535)
    s3: int = Field(default=4566, ge=1, le=65535)
    netsuite: int = Field(default=4610, ge=1, le=65535)
    smtp: int = Field(default=2525, ge=1, le=65535)
    slack: int = Field(default=4630, ge=1, le=65535)
    page: int = Field(default=4620, ge=1, le=65535)

    @classmethod
    def free(cls) -> StackPorts:
        """Distinct ports, one per service, that are free on 127.0.0.1 right now (for tests)."""
        with ExitStack() as stack:
            ports = []
            for _ in SERVICE_NAMES:
                sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                sock.bind(("127.0.0.1", 0))
                ports.append(sock.getsockname()[1])
        return cls(**dict(zip(SERVICE_NAMES, ports, strict=True)))

    def of(self, name: ServiceName) -> int:
        """The port of service ``name``."""
        port: int = getattr(self, name)
        return port


class ServiceState(BaseModel):
    """One running service: its process (group leader) and where it listens."""

    pid: int
    host: str
    port: int
    url: str
    log_file: Path
    started_at: datetime


class PrefectServiceState(ServiceState):
    """The Prefect server (API and UI), with its SQLite database under ``home``."""

    api_url: str
    ui_url: str
    home: Path


class S3ServiceState(ServiceState):
    """The moto S3 server and the bucket created in it."""

    endpoint_url: str
    bucket: str


class NetSuiteServiceState(ServiceState):
    """The fake NetSuite REST server; its credentials are in ``credentials_file`` (0600)."""

    base_url: str
    account_id: str
    credentials_file: Path
    records_file: Path
    data_dir: Path


class SmtpServiceState(ServiceState):
    """The SMTP sink; every message it accepts is an .eml file in ``maildir``."""

    maildir: Path


class SlackServiceState(ServiceState):
    """The fake Slack (Web API under ``api_url``); its credentials in ``credentials_file``."""

    api_url: str
    credentials_file: Path


class PageServiceState(ServiceState):
    """Mike's approval page (signed links in notices point here in the demo)."""


class StackState(BaseModel):
    """The content of <state_dir>/stack.json: one entry per running service."""

    state_dir: Path
    prefect: PrefectServiceState | None = None
    s3: S3ServiceState | None = None
    netsuite: NetSuiteServiceState | None = None
    smtp: SmtpServiceState | None = None
    slack: SlackServiceState | None = None
    page: PageServiceState | None = None

    def services(self) -> dict[ServiceName, ServiceState]:
        """The services that have an entry, by name."""
        found: dict[ServiceName, ServiceState] = {}
        for name in SERVICE_NAMES:
            entry = getattr(self, name)
            if entry is not None:
                found[name] = entry
        return found

    @property
    def state_file(self) -> Path:
        return self.state_dir / STATE_FILE

    @property
    def secrets_file(self) -> Path:
        return self.state_dir / SECRETS_FILE

    def require(self, name: ServiceName) -> ServiceState:
        """The entry of ``name``, or a StackError saying the service is not up."""
        entry = getattr(self, name)
        if entry is None:
            raise StackError(
                f"the {name} service is not in {self.state_file}: run `quoteflow stack up`"
            )
        assert isinstance(entry, ServiceState)
        return entry


class AwsDevSecrets(BaseModel):
    """Random S3 keys of the local stack (moto accepts any)."""

    aws_access_key_id: str
    aws_secret_access_key: SecretStr


class NetSuiteDevCredentials(BaseModel):
    """Random TBA credentials that the fake NetSuite server accepts."""

    account_id: str
    consumer_key: SecretStr
    consumer_secret: SecretStr
    token_id: SecretStr
    token_secret: SecretStr


def resolve_state_dir(state_dir: Path | None = None) -> Path:
    """``state_dir`` or the configured one (QUOTEFLOW_STATE_DIR, default <repo>/.var)."""
    return Path(state_dir) if state_dir is not None else get_settings().state_dir


def load_state(state_dir: Path | None = None) -> StackState:
    """Read <state_dir>/stack.json; StackNotStarted if there is none."""
    directory = resolve_state_dir(state_dir)
    path = directory / STATE_FILE
    if not path.is_file():
        raise StackNotStarted(f"no stack state at {path}: run `quoteflow stack up`")
    return StackState.model_validate_json(path.read_text())


def save_state(state: StackState) -> None:
    """Write stack.json atomically."""
    write_file_atomic(state.state_file, state.model_dump_json(indent=2) + "\n", mode=0o644)


def write_file_atomic(path: Path, text: str, *, mode: int) -> None:
    """Write ``text`` to a temporary sibling created with ``mode``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed or the file may have existed
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def _write_secret_json(path: Path, data: dict[str, str]) -> None:
    write_file_atomic(path, json.dumps(data, indent=2) + "\n", mode=0o600)


def _token(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def ensure_aws_secrets(state_dir: Path) -> AwsDevSecrets:
    """The dev S3 keys in <state_dir>/secrets.json, generated on first use."""
    path = state_dir / SECRETS_FILE
    if path.is_file():
        return AwsDevSecrets.model_validate_json(path.read_text())
    data = {
        "aws_access_key_id": "AKIA" + _token(string.ascii_uppercase + string.digits, 16),
        "aws_secret_access_key": _token(string.ascii_letters + string.digits + "+/", 40),
    }
    _write_secret_json(path, data)
    return AwsDevSecrets.model_validate(data)


def load_aws_secrets(state_dir: Path | None = None) -> AwsDevSecrets:
    """Read the dev S3 keys of the stack in ``state_dir``."""
    path = resolve_state_dir(state_dir) / SECRETS_FILE
    if not path.is_file():
        raise StackNotStarted(f"no dev secrets at {path}: run `quoteflow stack up`")
    return AwsDevSecrets.model_validate_json(path.read_text())


def ensure_netsuite_credentials(state_dir: Path) -> NetSuiteDevCredentials:
    """The fake NetSuite's dev credentials (<state_dir>/netsuite/credentials.json, 0600)."""
    path = state_dir / NETSUITE_CREDENTIALS_FILE
    if path.is_file():
        return NetSuiteDevCredentials.model_validate_json(path.read_text())
    hex_chars = "0123456789abcdef"
    data = {
        "account_id": DEV_NETSUITE_ACCOUNT_ID,
        "consumer_key": _token(hex_chars, 64),
        "consumer_secret": _token(hex_chars, 64),
        "token_id": _token(hex_chars, 64),
        "token_secret": _token(hex_chars, 64),
    }
    _write_secret_json(path, data)
    return NetSuiteDevCredentials.model_validate(data)


def load_netsuite_credentials(state_dir: Path | None = None) -> NetSuiteDevCredentials:
    """Read the fake NetSuite's dev credentials of the stack in ``state_dir``."""
    path = resolve_state_dir(state_dir) / NETSUITE_CREDENTIALS_FILE
    if not path.is_file():
        raise StackNotStarted(f"no NetSuite dev credentials at {path}: run `quoteflow stack up`")
    return NetSuiteDevCredentials.model_validate_json(path.read_text())


class SlackDevCredentials(BaseModel):
    """The fake Slack's bot token and signing secret."""

    bot_token: SecretStr
    signing_secret: SecretStr


def ensure_slack_credentials(state_dir: Path) -> SlackDevCredentials:
    """The fake Slack's dev credentials (<state_dir>/slack/credentials.json, 0600)."""
    path = state_dir / SLACK_CREDENTIALS_FILE
    if path.is_file():
        return SlackDevCredentials.model_validate_json(path.read_text())
    data = {
        "bot_token": "xoxb-" + _token(string.ascii_letters + string.digits, 40),
        "signing_secret": _token("0123456789abcdef", 32),
    }
    _write_secret_json(path, data)
    return SlackDevCredentials.model_validate(data)


def load_slack_credentials(state_dir: Path | None = None) -> SlackDevCredentials:
    """Read the fake Slack's dev credentials of the stack in ``state_dir``."""
    path = resolve_state_dir(state_dir) / SLACK_CREDENTIALS_FILE
    if not path.is_file():
        raise StackNotStarted(f"no Slack dev credentials at {path}: run `quoteflow stack up`")
    return SlackDevCredentials.model_validate_json(path.read_text())
