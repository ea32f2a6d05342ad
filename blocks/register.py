"""Create or update quoteflow's Prefect blocks, idempotently, under the names in Settings.

Each group of values comes from the environment when its anchor variable is set, else
from the local stack (<state_dir>/stack.json plus its 0600 secrets files):

S3 (anchor ``QUOTEFLOW_S3_ENDPOINT_URL``)
    ``QUOTEFLOW_S3_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``.
    In both cases: ``QUOTEFLOW_S3_BUCKET`` (default: the stack's bucket) and
    ``QUOTEFLOW_S3_REGION`` (default ``auto``, as R2 wants).
NetSuite (anchor ``NETSUITE_ACCOUNT_ID``)
    ``NETSUITE_ACCOUNT_ID``, ``NETSUITE_CONSUMER_KEY``, ``NETSUITE_CONSUMER_SECRET``,
    ``NETSUITE_TOKEN_ID``, ``NETSUITE_TOKEN_SECRET``, optional ``NETSUITE_BASE_URL``
    (default: the account's SuiteTalk host).
SMTP (anchor ``SMTP_HOST``)
    ``SMTP_HOST``, ``SMTP_PORT`` (default 587), ``SMTP_TLS_MODE`` (default ``starttls``),
    optional ``SMTP_USERNAME`` / ``SMTP_PASSWORD``. From the stack: the sink, TLS ``none``.
    In both cases ``SMTP_FROM`` (default ``quotes@northwind-supply.example``).

A group never mixes the two sources, so a real host is never paired with local secrets.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, cast

from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect_aws import AwsCredentials, S3Bucket
from pydantic import BaseModel, SecretBytes, SecretStr

from blocks.netsuite import NetSuiteCredentials
from blocks.notify import EmailNotification
from blocks.smtp import SmtpServer
from blocks.storage import make_aws_credentials, make_s3_bucket
from quoteflow.settings import get_settings
from quoteflow.stack import (
    DEFAULT_BUCKET,
    StackState,
    load_aws_secrets,
    load_netsuite_credentials,
    load_state,
)

DEFAULT_FROM_ADDRESS = "quotes@northwind-supply.example"
DEFAULT_S3_REGION = "auto"
PDF_BUCKET_FOLDER = ""  # keys are quotes/{quote_id}.pdf at the bucket root
RESULTS_BUCKET_FOLDER = "prefect-results"

TlsMode = Literal["none", "starttls", "ssl"]


class BlockConfigError(RuntimeError):
    """Block values are missing from both the environment and the local stack."""


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
    from_address: str


class LocalStackSource:
    """Loads the local stack's state on first need, so env-only registration needs no stack."""

    def __init__(self, state: StackState | None) -> None:
        self._state = state

    def get(self, why: str) -> StackState:
        if self._state is None:
            try:
                self._state = load_state()
            except Exception as exc:
                raise BlockConfigError(
                    f"{why}: not set in the environment and no local stack ({exc})"
                ) from exc
        return self._state


def _require(env: Mapping[str, str], names: list[str]) -> dict[str, str]:
    missing = [n for n in names if not env.get(n)]
    if missing:
        raise BlockConfigError(f"missing environment variable(s): {', '.join(missing)}")
    return {n: env[n] for n in names}


def s3_config(env: Mapping[str, str], source: LocalStackSource) -> S3Config:
    """Where the S3 blocks point, and with which keys."""
    region = env.get("QUOTEFLOW_S3_REGION") or DEFAULT_S3_REGION
    if env.get("QUOTEFLOW_S3_ENDPOINT_URL"):
        values = _require(
            env, ["QUOTEFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        )
        return S3Config(
            endpoint_url=values["QUOTEFLOW_S3_ENDPOINT_URL"],
            access_key_id=values["AWS_ACCESS_KEY_ID"],
            secret_access_key=SecretStr(values["AWS_SECRET_ACCESS_KEY"]),
            bucket=env.get("QUOTEFLOW_S3_BUCKET") or DEFAULT_BUCKET,
            region=region,
        )
    state = source.get("QUOTEFLOW_S3_ENDPOINT_URL")
    s3 = state.s3
    if s3 is None:
        raise BlockConfigError("the local stack has no s3 service: run `quoteflow stack up`")
    keys = load_aws_secrets(state.state_dir)
    return S3Config(
        endpoint_url=s3.endpoint_url,
        access_key_id=keys.aws_access_key_id,
        secret_access_key=keys.aws_secret_access_key,
        bucket=env.get("QUOTEFLOW_S3_BUCKET") or s3.bucket,
        region=region,
    )


def netsuite_block(env: Mapping[str, str], source: LocalStackSource) -> NetSuiteCredentials:
    """The NetSuite credentials block (not saved)."""
    if env.get("NETSUITE_ACCOUNT_ID"):
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
    state = source.get("NETSUITE_ACCOUNT_ID")
    fake = state.netsuite
    if fake is None:
        raise BlockConfigError("the local stack has no netsuite service: run `quoteflow stack up`")
    creds = load_netsuite_credentials(state.state_dir)
    return NetSuiteCredentials(
        account_id=creds.account_id,
        consumer_key=creds.consumer_key,
        consumer_secret=creds.consumer_secret,
        token_id=creds.token_id,
        token_secret=creds.token_secret,
        base_url=fake.base_url,
        timeout_seconds=get_settings().netsuite_timeout_seconds,
    )


def smtp_config(env: Mapping[str, str], source: LocalStackSource) -> SmtpConfig:
    """The SMTP relay quote emails go through."""
    from_address = env.get("SMTP_FROM") or DEFAULT_FROM_ADDRESS
    if env.get("SMTP_HOST"):
        tls_mode = env.get("SMTP_TLS_MODE") or "starttls"
        if tls_mode not in ("none", "starttls", "ssl"):
            raise BlockConfigError(f"SMTP_TLS_MODE must be none, starttls or ssl, not {tls_mode!r}")
        password = env.get("SMTP_PASSWORD")
        return SmtpConfig(
            host=env["SMTP_HOST"],
            port=int(env.get("SMTP_PORT") or 587),
            tls_mode=cast(TlsMode, tls_mode),
            username=env.get("SMTP_USERNAME") or None,
            password=SecretStr(password) if password else None,
            from_address=from_address,
        )
    sink = source.get("SMTP_HOST").smtp
    if sink is None:
        raise BlockConfigError("the local stack has no smtp service: run `quoteflow stack up`")
    return SmtpConfig(
        host=sink.host,
        port=sink.port,
        tls_mode="none",
        username=None,
        password=None,
        from_address=from_address,
    )


@contextmanager
def prefect_api_for(source: LocalStackSource) -> Iterator[str]:
    """Use the configured PREFECT_API_URL, else the local stack's server (never an ephemeral one)."""
    configured = PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    state = source.get("PREFECT_API_URL")
    if state.prefect is None:
        raise BlockConfigError("the local stack has no prefect service: run `quoteflow stack up`")
    with temporary_settings({PREFECT_API_URL: state.prefect.api_url}):
        yield state.prefect.api_url


def _plain(value: Any) -> Any:
    """Comparable form of a field value: secrets revealed, nested blocks with their ids."""
    if isinstance(value, SecretStr | SecretBytes):
        return ("secret", value.get_secret_value())
    if isinstance(value, BaseModel):
        fields = {name: _plain(getattr(value, name)) for name in type(value).model_fields}
        if isinstance(value, Block):
            return ("block", value._block_document_id, fields)
        return fields
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _stored(block_cls: type[Block], name: str) -> tuple[Block, str] | None:
    """The saved block of that type and name with its schema checksum, or None."""
    with get_client(sync_client=True) as client:
        try:
            document = client.read_block_document_by_name(
                name, block_cls.get_block_type_slug(), include_secrets=True
            )
        except ObjectNotFound:
            return None
    checksum = document.block_schema.checksum if document.block_schema else ""
    return block_cls._from_block_document(document), checksum


def _save(block: Block, name: str, *, overwrite: bool) -> str:
    """Save ``block`` as ``name`` unless an equal one (same schema and values) is stored.

    With overwrite=False an existing document is kept whatever it holds. Saving is skipped
    when nothing changed because Prefect regenerates the JSON schemas on every save (seconds
    per block for the AWS ones on a busy 2-core machine).
    """
    found = _stored(type(block), name)
    if found is not None:
        stored, checksum = found
        unchanged = checksum == type(block)._calculate_schema_checksum() and all(
            _plain(getattr(stored, f)) == _plain(getattr(block, f))
            for f in type(block).model_fields
        )
        if unchanged or not overwrite:
            block_id = stored._block_document_id
            assert block_id is not None
            # Blocks nesting this one must reference the stored document, not a new copy.
            block._block_document_id = block_id
            block._block_document_name = name
            return str(block_id)
    return str(block.save(name, overwrite=overwrite))


def register_blocks(
    state: StackState | None = None,
    *,
    overwrite: bool = True,
    env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Create or update the seven blocks (the link key is only ever created); returns {block name: block document id}.

    ``state`` is the local stack to fall back on (default: the one in Settings.state_dir,
    loaded only if needed). ``env`` replaces os.environ as the first source (tests pass ``{}``
    to pin everything to the local stack).
    """
    settings = get_settings()
    if env is None:
        env = os.environ
    source = LocalStackSource(state)
    s3 = s3_config(env, source)
    netsuite = netsuite_block(env, source)
    smtp = smtp_config(env, source)

    ids: dict[str, str] = {}
    with prefect_api_for(source):
        credentials: AwsCredentials = make_aws_credentials(
            endpoint_url=s3.endpoint_url,
            access_key_id=s3.access_key_id,
            secret_access_key=s3.secret_access_key.get_secret_value(),
            region=s3.region,
        )
        ids[settings.aws_credentials_block] = _save(
            credentials, settings.aws_credentials_block, overwrite=overwrite
        )
        pdfs: S3Bucket = make_s3_bucket(
            bucket_name=s3.bucket, credentials=credentials, bucket_folder=PDF_BUCKET_FOLDER
        )
        ids[settings.s3_bucket_block] = _save(pdfs, settings.s3_bucket_block, overwrite=overwrite)
        results = make_s3_bucket(
            bucket_name=s3.bucket, credentials=credentials, bucket_folder=RESULTS_BUCKET_FOLDER
        )
        ids[settings.results_block] = _save(results, settings.results_block, overwrite=overwrite)
        ids[settings.netsuite_block] = _save(netsuite, settings.netsuite_block, overwrite=overwrite)
        smtp_block = SmtpServer(
            host=smtp.host,
            port=smtp.port,
            tls_mode=smtp.tls_mode,
            username=smtp.username,
            password=smtp.password,
            from_address=smtp.from_address,
        )
        ids[settings.smtp_block] = _save(smtp_block, settings.smtp_block, overwrite=overwrite)
        notify_name = settings.notify_block.rsplit("/", 1)[-1]
        notifier = EmailNotification(smtp=smtp_block, to=settings.approver_email)
        ids[notify_name] = _save(notifier, notify_name, overwrite=overwrite)
        # The link key is made once and never replaced: replacing it voids every link out.
        link_key = Secret(value=secrets.token_urlsafe(32))
        ids[settings.link_key_block] = _save(link_key, settings.link_key_block, overwrite=False)
    return ids
