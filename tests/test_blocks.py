"""Block registration (from the environment) against the stack's real Prefect server."""

from __future__ import annotations

import asyncio

import pytest
from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from prefect_aws import AwsCredentials, S3Bucket
from pydantic import SecretStr
from typer.testing import CliRunner

from blocks.netsuite import NetSuiteCredentials
from blocks.register import BlockConfigError, register_blocks, smtp_config
from blocks.slack import SlackCredentials
from blocks.smtp import LEGACY_SMTP_BLOCK_TYPE, load_email_server
from devstack.stack import StackState, load_aws_secrets, load_netsuite_credentials
from devstack.stack.blocks import (
    register_stack_blocks,
    registration_environment,
    stack_block_environment,
)
from devstack.stack.state import load_slack_credentials
from quoteflow.cli.app import app
from quoteflow.settings import get_settings


def test_blocks_round_trip_with_secrets_intact(stack: StackState) -> None:
    settings = get_settings()
    assert stack.s3 and stack.netsuite and stack.smtp
    aws_keys = load_aws_secrets(stack.state_dir)
    ns_keys = load_netsuite_credentials(stack.state_dir)

    aws = AwsCredentials.load(settings.aws_credentials_block)
    assert aws.aws_access_key_id == aws_keys.aws_access_key_id
    assert aws.aws_secret_access_key is not None
    assert (
        aws.aws_secret_access_key.get_secret_value()
        == aws_keys.aws_secret_access_key.get_secret_value()
    )

    pdfs = S3Bucket.load(settings.s3_bucket_block)
    results = S3Bucket.load(settings.results_block)
    assert pdfs.bucket_name == results.bucket_name == stack.s3.bucket
    assert pdfs.bucket_folder == ""
    assert results.bucket_folder == "prefect-results"
    # Both buckets reference the one named credentials document, not anonymous copies.
    assert pdfs.credentials._block_document_id == aws._block_document_id
    assert results.credentials._block_document_id == aws._block_document_id

    slack = SlackCredentials.load(settings.slack_block)
    slack_keys = load_slack_credentials(stack.state_dir)
    assert stack.slack is not None and slack.base_url == stack.slack.api_url
    assert slack.bot_token.get_secret_value() == slack_keys.bot_token.get_secret_value()
    assert slack.signing_secret.get_secret_value() == slack_keys.signing_secret.get_secret_value()

    netsuite = NetSuiteCredentials.load(settings.netsuite_block)
    assert netsuite.account_id == "1234567_SB1"
    assert netsuite.rest_base_url == stack.netsuite.base_url
    for field in ("consumer_key", "consumer_secret", "token_id", "token_secret"):
        assert (
            getattr(netsuite, field).get_secret_value()
            == getattr(ns_keys, field).get_secret_value()
        )

    smtp = load_email_server(settings.smtp_block)
    assert type(smtp).get_block_type_slug() == "email-server-credentials"  # prefect-email's
    assert (smtp.smtp_server, smtp.smtp_port) == (stack.smtp.host, stack.smtp.port)
    assert smtp.smtp_type.name == "INSECURE" and smtp.username is None

    shown = " ".join(repr(b) for b in (aws, pdfs, results, netsuite, smtp))
    hidden = [aws_keys.aws_secret_access_key.get_secret_value()] + [
        getattr(ns_keys, f).get_secret_value()
        for f in ("consumer_key", "consumer_secret", "token_id", "token_secret")
    ]
    for value in hidden:
        assert value not in shown


async def _documents() -> list[tuple[str | None, bool, str]]:
    async with get_client() as client:
        docs = await client.read_block_documents(include_secrets=False)
    return [(d.name, d.is_anonymous, d.block_type.slug if d.block_type else "") for d in docs]


async def _updated() -> dict[str | None, object]:
    async with get_client() as client:
        docs = await client.read_block_documents(include_secrets=False)
    return {d.name: d.updated for d in docs if not d.is_anonymous}


def test_register_twice_keeps_the_same_documents(stack: StackState) -> None:
    # The stack fixture registered once already; this is the second and third time.
    key_before = Secret.load(get_settings().link_key_block).get()
    first = register_stack_blocks(stack, env={})
    updated = asyncio.run(_updated())
    second = register_stack_blocks(stack, env={})
    kept = register_stack_blocks(stack, overwrite=False, env={})
    assert first == second == kept
    # Nothing unchanged was written again.
    assert asyncio.run(_updated()) == updated
    settings = get_settings()
    assert set(first) == {
        settings.aws_credentials_block,
        settings.s3_bucket_block,
        settings.results_block,
        settings.netsuite_block,
        settings.smtp_block,
        settings.notify_block.rsplit("/", 1)[-1],
        settings.link_key_block,
        settings.slack_block,
    }
    # The link key is made once: registering again never replaces it (it would void links).
    assert Secret.load(settings.link_key_block).get() == key_before
    assert (
        str(S3Bucket.load(settings.s3_bucket_block)._block_document_id)
        == (first[settings.s3_bucket_block])
    )

    docs = asyncio.run(_documents())
    names = [name for name, anonymous, _ in docs if not anonymous]
    for name in first:
        assert names.count(name) == 1
    assert not [d for d in docs if d[1] and d[2] == "aws-credentials"]


def test_changed_value_updates_the_same_document(stack: StackState) -> None:
    settings = get_settings()
    assert stack.smtp is not None
    before = register_stack_blocks(stack, env={})
    relay = {"SMTP_HOST": "relay.example.net", "SMTP_PORT": "465", "SMTP_TLS_MODE": "ssl"}
    try:
        changed = register_stack_blocks(stack, env=relay)
        assert changed == before
        smtp = load_email_server(settings.smtp_block)
        assert (smtp.smtp_server, smtp.smtp_port, smtp.smtp_type.name) == (
            "relay.example.net",
            465,
            "SSL",
        )
        kept = register_stack_blocks(stack, overwrite=False, env={})
        assert load_email_server(settings.smtp_block).smtp_server == "relay.example.net"
        assert kept == before
    finally:
        restored = register_stack_blocks(stack, env={})
    assert restored == before
    smtp = load_email_server(settings.smtp_block)
    assert (smtp.smtp_server, smtp.smtp_port) == (stack.smtp.host, stack.smtp.port)


class _LegacySmtpServer(Block):
    """The shape of quoteflow's own SMTP block before prefect-email's replaced it."""

    _block_type_name = "Quoteflow SMTP Server"
    _block_type_slug = LEGACY_SMTP_BLOCK_TYPE

    host: str
    port: int
    password: SecretStr | None = None
    from_address: str


def test_registration_retires_the_former_smtp_block(stack: StackState) -> None:
    settings = get_settings()
    before = register_stack_blocks(stack, env={})
    _LegacySmtpServer(
        host="127.0.0.1", port=25, password=SecretStr("old-relay-pw"), from_address="q@x.example"
    ).save(settings.smtp_block, overwrite=True)

    kept = register_stack_blocks(stack, overwrite=False, env={})  # --keep touches nothing
    assert _LegacySmtpServer.load(settings.smtp_block).host == "127.0.0.1"
    assert register_stack_blocks(stack, env={}) == kept == before

    with pytest.raises(ValueError, match="Unable to find block document"):
        _LegacySmtpServer.load(settings.smtp_block)
    slugs = {slug for _, _, slug in asyncio.run(_documents())}
    assert LEGACY_SMTP_BLOCK_TYPE not in slugs
    assert asyncio.run(_block_type_exists(LEGACY_SMTP_BLOCK_TYPE)) is False
    # The EmailServerCredentials document of the same name is untouched.
    assert (
        str(load_email_server(settings.smtp_block)._block_document_id)
        == (before[settings.smtp_block])
    )


async def _block_type_exists(slug: str) -> bool:
    async with get_client() as client:
        try:
            await client.read_block_type_by_slug(slug)
        except ObjectNotFound:
            return False
    return True


def test_cli_register_from_the_environment_prints_names_not_secrets(stack: StackState) -> None:
    assert stack.prefect is not None
    env = {**stack_block_environment(stack), "PREFECT_API_URL": stack.prefect.api_url}
    result = CliRunner().invoke(app, ["blocks", "register"], env=env)
    assert result.exit_code == 0, result.output
    for name in ("quoteflow-aws", "quoteflow-pdfs", "quoteflow-results", "quoteflow-netsuite"):
        assert name in result.output
    assert "quoteflow-smtp" in result.output
    secret = load_aws_secrets(stack.state_dir).aws_secret_access_key.get_secret_value()
    assert secret not in result.output
    token = load_netsuite_credentials(stack.state_dir).token_secret.get_secret_value()
    assert token not in result.output


def test_cli_register_names_what_the_environment_lacks(stack: StackState) -> None:
    unset = dict.fromkeys(stack_block_environment(stack))
    result = CliRunner().invoke(app, ["blocks", "register"], env=unset)
    assert result.exit_code == 1
    assert "QUOTEFLOW_S3_ENDPOINT_URL" in result.output


def test_environment_takes_the_whole_group(stack: StackState) -> None:
    env = {"SMTP_HOST": "smtp.example.net", "SMTP_USERNAME": "mike", "SMTP_PASSWORD": "pw"}
    config = smtp_config(registration_environment(stack, env))
    assert (config.host, config.port, config.tls_mode) == ("smtp.example.net", 587, "starttls")
    assert config.password is not None and config.password.get_secret_value() == "pw"

    # A group the environment does not anchor comes whole from the stack, even over
    # stray variables of that group.
    local = smtp_config(
        registration_environment(stack, {"SMTP_PASSWORD": "stray", "SMTP_PORT": "465"})
    )
    assert stack.smtp is not None
    assert (local.host, local.port, local.tls_mode) == (stack.smtp.host, stack.smtp.port, "none")
    assert local.password is None

    with pytest.raises(BlockConfigError, match="SMTP_TLS_MODE"):
        smtp_config({"SMTP_HOST": "h", "SMTP_TLS_MODE": "tls"})


def test_partial_environment_names_what_is_missing() -> None:
    from blocks.register import netsuite_block, s3_config

    with pytest.raises(BlockConfigError, match="NETSUITE_TOKEN_SECRET"):
        netsuite_block({"NETSUITE_ACCOUNT_ID": "1234567"})
    with pytest.raises(BlockConfigError, match="AWS_SECRET_ACCESS_KEY"):
        s3_config({"QUOTEFLOW_S3_ENDPOINT_URL": "https://r2.example", "AWS_ACCESS_KEY_ID": "k"})


def test_without_a_prefect_server_nothing_is_registered(stack: StackState) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    env = registration_environment(stack, {})
    with (
        temporary_settings(restore_defaults={PREFECT_API_URL}),
        pytest.raises(BlockConfigError, match="PREFECT_API_URL"),
    ):
        register_blocks(env)
