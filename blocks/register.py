"""Create or update quoteflow's Prefect blocks, idempotently, under the names in Settings.

The values come from the environment (``register_blocks(env)``, default ``os.environ``),
block names and timeouts from ``quoteflow.settings``; the Prefect server is the one this
process points at (``quoteflow.prefect_api``). The local dev stack registers its own
services by passing their values in ``env``.

S3 (anchor ``QUOTEFLOW_S3_ENDPOINT_URL``)
    ``QUOTEFLOW_S3_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
    ``QUOTEFLOW_S3_BUCKET`` (default ``quoteflow-quotes``), ``QUOTEFLOW_S3_REGION``
    (default ``auto``, as R2 wants).
NetSuite (anchor ``NETSUITE_ACCOUNT_ID``)
    ``NETSUITE_ACCOUNT_ID``, ``NETSUITE_CONSUMER_KEY``, ``NETSUITE_CONSUMER_SECRET``,
    ``NETSUITE_TOKEN_ID``, ``NETSUITE_TOKEN_SECRET``, optional ``NETSUITE_BASE_URL``
    (default: the account's SuiteTalk host).
SMTP (anchor ``SMTP_HOST``), saved as prefect-email's EmailServerCredentials
    ``SMTP_HOST``, ``SMTP_PORT`` (default 587), ``SMTP_TLS_MODE`` (default ``starttls``),
    optional ``SMTP_USERNAME`` / ``SMTP_PASSWORD``. The From address is the setting
    ``QUOTEFLOW_MAIL_FROM``, read where mail is sent.
Slack (optional, anchor ``SLACK_BOT_TOKEN``), saved as a Quoteflow Slack App block
    ``SLACK_BOT_TOKEN``, ``SLACK_SIGNING_SECRET``, ``SLACK_CHANNEL`` (Mike's user id or a
    channel id), optional ``SLACK_API_URL`` (default Slack's own). Without the anchor no
    Slack block is written and Slack is not used.
Database (only when ``QUOTEFLOW_DATABASE_BLOCK`` names a Secret block)
    ``QUOTEFLOW_DATABASE_URL``; without it the block is created once with the SQLite
    default and never replaced by it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from pydantic import SecretStr, ValidationError

from blocks.netsuite import NetSuiteCredentials
from blocks.notify import EmailNotification
from blocks.slack import SLACK_API_URL, SlackCredentials
from blocks.smtp import TlsMode, email_server_credentials, retire_legacy_smtp_block
from blocks.storage import make_aws_credentials, make_s3_bucket
from quoteflow.prefect_api import NoPrefectApi, require_api_url
from quoteflow.settings import get_settings

if TYPE_CHECKING:
    from prefect_email import EmailServerCredentials

DEFAULT_BUCKET = "quoteflow-quotes"
DEFAULT_S3_REGION = "auto"
PDF_BUCKET_FOLDER = ""  # keys are quotes/{quote_id}.pdf at the bucket root
RESULTS_BUCKET_FOLDER = "prefect-results"

B = TypeVar("B", bound=Block)


class BlockConfigError(RuntimeError):
    """Block values are missing from the environment, or there is no Prefect server."""


@dataclass(frozen=True)
class S3Config:
    """Endpoint, keys, bucket and region the S3 blocks are built from."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: SecretStr
    bucket: str
    region: str


@dataclass(frozen=True)
class SmtpConfig:
    """The relay the SMTP block is built from."""

    host: str
    port: int
    tls_mode: TlsMode
    username: str | None
    password: SecretStr | None


def _require(env: Mapping[str, str], names: list[str]) -> dict[str, str]:
    missing = [n for n in names if not env.get(n)]
    if missing:
        raise BlockConfigError(f"missing environment variable(s): {', '.join(missing)}")
    return {n: env[n] for n in names}


def s3_config(env: Mapping[str, str]) -> S3Config:
    """Where the S3 blocks point, and with which keys."""
    values = _require(
        env, ["QUOTEFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    )
    return S3Config(
        endpoint_url=values["QUOTEFLOW_S3_ENDPOINT_URL"],
        access_key_id=values["AWS_ACCESS_KEY_ID"],
        secret_access_key=SecretStr(values["AWS_SECRET_ACCESS_KEY"]),
        bucket=env.get("QUOTEFLOW_S3_BUCKET") or DEFAULT_BUCKET,
        region=env.get("QUOTEFLOW_S3_REGION") or DEFAULT_S3_REGION,
    )


def netsuite_block(env: Mapping[str, str]) -> NetSuiteCredentials:
    """The NetSuite credentials block (not saved)."""
    values = _require(
        env,
        [
            "NETSUITE_ACCOUNT_ID",
            "NETSUITE_CONSUMER_KEY",
            "NETSUITE_CONSUMER_SECRET",
            "NETSUITE_TOKEN_ID",
            "NETSUITE_TOKEN_SECRET",
        ],
    )
    return NetSuiteCredentials(
        account_id=values["NETSUITE_ACCOUNT_ID"],
        consumer_key=SecretStr(values["NETSUITE_CONSUMER_KEY"]),
        consumer_secret=SecretStr(values["NETSUITE_CONSUMER_SECRET"]),
        token_id=SecretStr(values["NETSUITE_TOKEN_ID"]),
        token_secret=SecretStr(values["NETSUITE_TOKEN_SECRET"]),
        base_url=env.get("NETSUITE_BASE_URL") or None,
        timeout_seconds=get_settings().netsuite_timeout_seconds,
    )


def smtp_config(env: Mapping[str, str]) -> SmtpConfig:
    """The SMTP relay quote emails go through."""
    host = _require(env, ["SMTP_HOST"])["SMTP_HOST"]
    tls_mode = env.get("SMTP_TLS_MODE") or "starttls"
    if tls_mode not in ("none", "starttls", "ssl"):
        raise BlockConfigError(f"SMTP_TLS_MODE must be none, starttls or ssl, not {tls_mode!r}")
    password = env.get("SMTP_PASSWORD")
    return SmtpConfig(
        host=host,
        port=int(env.get("SMTP_PORT") or 587),
        tls_mode=cast(TlsMode, tls_mode),
        username=env.get("SMTP_USERNAME") or None,
        password=SecretStr(password) if password else None,
    )


def smtp_server_block(config: SmtpConfig) -> EmailServerCredentials:
    """The SMTP relay's EmailServerCredentials block (not saved)."""
    return email_server_credentials(
        host=config.host,
        port=config.port,
        tls_mode=config.tls_mode,
        username=config.username,
        password=config.password,
    )


def slack_block(env: Mapping[str, str]) -> SlackCredentials | None:
    """The Slack app block (not saved), or None when ``SLACK_BOT_TOKEN`` is not set."""
    if not env.get("SLACK_BOT_TOKEN"):
        return None
    values = _require(env, ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_CHANNEL"])
    return SlackCredentials(
        bot_token=SecretStr(values["SLACK_BOT_TOKEN"]),
        signing_secret=SecretStr(values["SLACK_SIGNING_SECRET"]),
        channel=values["SLACK_CHANNEL"],
        base_url=env.get("SLACK_API_URL") or SLACK_API_URL,
    )


_META_KEYS = {"block_type_slug", "_block_document_id", "_block_document_name", "_is_anonymous"}


def _values(block: Block) -> dict[str, Any]:
    """What a block holds: its fields (secrets compare by value), nested blocks with the
    document they reference, without the block's own document metadata."""
    return {k: v for k, v in block.model_dump().items() if k not in _META_KEYS}


def _load(block_cls: type[B], name: str) -> B | None:
    """The saved block of that type and name, or None (missing, or no longer valid)."""
    try:
        return block_cls.load(name)
    except (ValueError, ValidationError):
        # Prefect raises ValueError for a missing document (or an unknown block type).
        return None


@dataclass
class BlockWriter:
    """Saves blocks by name and records their document ids; a block equal to the stored
    one is not saved again (Prefect regenerates every JSON schema on a save, seconds per
    AWS block on a busy machine), and with ``overwrite=False`` a stored block is kept."""

    overwrite: bool = True
    ids: dict[str, str] = field(default_factory=dict)

    def put(self, name: str, block: B) -> B:
        """Create or update ``name``; returns the saved (or stored) block, whose document
        the blocks nesting it must reference."""
        stored = _load(type(block), name)
        if stored is not None and (not self.overwrite or _values(stored) == _values(block)):
            return self._record(name, stored)
        block.save(name, overwrite=True)
        return self._record(name, block)

    def put_once(self, name: str, make: Callable[[], B], block_cls: type[B]) -> B:
        """Create ``name`` from ``make()`` only if it does not exist; never replace it."""
        stored = _load(block_cls, name)
        if stored is not None:
            return self._record(name, stored)
        block = make()
        block.save(name, overwrite=False)
        return self._record(name, block)

    def _record(self, name: str, block: B) -> B:
        self.ids[name] = str(block._block_document_id)
        return block


def register_blocks(
    env: Mapping[str, str] | None = None, *, overwrite: bool = True
) -> dict[str, str]:
    """Create or update the seven blocks (eight with the database Secret) from ``env`` (default ``os.environ``) on the
    Prefect server this process points at; returns {block name: block document id}.

    Idempotent: an unchanged block keeps its document (and is not even saved again); the
    link key is only ever created (replacing it would void every link out)."""
    settings = get_settings()
    env = os.environ if env is None else env
    s3 = s3_config(env)
    netsuite = netsuite_block(env)
    smtp = smtp_config(env)
    slack = slack_block(env)
    try:
        require_api_url()
    except NoPrefectApi as exc:
        raise BlockConfigError(str(exc)) from exc

    writer = BlockWriter(overwrite=overwrite)
    credentials = writer.put(
        settings.aws_credentials_block,
        make_aws_credentials(
            endpoint_url=s3.endpoint_url,
            access_key_id=s3.access_key_id,
            secret_access_key=s3.secret_access_key.get_secret_value(),
            region=s3.region,
        ),
    )
    writer.put(
        settings.s3_bucket_block,
        make_s3_bucket(
            bucket_name=s3.bucket, credentials=credentials, bucket_folder=PDF_BUCKET_FOLDER
        ),
    )
    writer.put(
        settings.results_block,
        make_s3_bucket(
            bucket_name=s3.bucket, credentials=credentials, bucket_folder=RESULTS_BUCKET_FOLDER
        ),
    )
    writer.put(settings.netsuite_block, netsuite)
    smtp_block = writer.put(settings.smtp_block, smtp_server_block(smtp))
    writer.put(
        settings.notify_block.rsplit("/", 1)[-1],
        EmailNotification(smtp=smtp_block, to=settings.approver_email),
    )
    if overwrite:  # the notifier no longer points at it
        retire_legacy_smtp_block(settings.smtp_block)
    writer.put_once(
        settings.link_key_block, lambda: Secret(value=secrets.token_urlsafe(32)), Secret
    )
    if slack is not None:
        writer.put(settings.slack_block, slack)
    if settings.database_block:
        # Only an explicit URL replaces a stored one; the SQLite default is a fallback.
        database = Secret(value=settings.resolved_database_url)
        if settings.database_url:
            writer.put(settings.database_block, database)
        else:
            writer.put_once(settings.database_block, lambda: database, Secret)
    return writer.ids
