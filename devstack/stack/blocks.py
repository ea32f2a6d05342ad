"""The stack's services as block configuration: the environment ``register_blocks`` reads."""

from __future__ import annotations

import os
from collections.abc import Mapping

from blocks.register import register_blocks
from devstack.stack.state import (
    StackError,
    StackState,
    load_aws_secrets,
    load_netsuite_credentials,
    load_slack_credentials,
)
from quoteflow.prefect_api import pointed_at

# Each group comes whole from the caller's environment when its anchor variable is set
# there, else whole from the stack: a real host is never paired with local secrets.
GROUPS: dict[str, tuple[str, ...]] = {
    "QUOTEFLOW_S3_ENDPOINT_URL": (
        "QUOTEFLOW_S3_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ),
    "NETSUITE_ACCOUNT_ID": (
        "NETSUITE_ACCOUNT_ID",
        "NETSUITE_CONSUMER_KEY",
        "NETSUITE_CONSUMER_SECRET",
        "NETSUITE_TOKEN_ID",
        "NETSUITE_TOKEN_SECRET",
        "NETSUITE_BASE_URL",
    ),
    "SMTP_HOST": ("SMTP_HOST", "SMTP_PORT", "SMTP_TLS_MODE", "SMTP_USERNAME", "SMTP_PASSWORD"),
    "SLACK_BOT_TOKEN": (
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_API_URL",
        "SLACK_CHANNEL",
    ),
}


def stack_block_environment(state: StackState) -> dict[str, str]:
    """The S3, NetSuite, SMTP and Slack values of the stack's services (dev secrets included)."""
    env: dict[str, str] = {}
    if state.s3 is not None:
        keys = load_aws_secrets(state.state_dir)
        env |= {
            "QUOTEFLOW_S3_ENDPOINT_URL": state.s3.endpoint_url,
            "AWS_ACCESS_KEY_ID": keys.aws_access_key_id,
            "AWS_SECRET_ACCESS_KEY": keys.aws_secret_access_key.get_secret_value(),
        }
    if state.netsuite is not None:
        creds = load_netsuite_credentials(state.state_dir)
        env |= {
            "NETSUITE_ACCOUNT_ID": creds.account_id,
            "NETSUITE_CONSUMER_KEY": creds.consumer_key.get_secret_value(),
            "NETSUITE_CONSUMER_SECRET": creds.consumer_secret.get_secret_value(),
            "NETSUITE_TOKEN_ID": creds.token_id.get_secret_value(),
            "NETSUITE_TOKEN_SECRET": creds.token_secret.get_secret_value(),
            "NETSUITE_BASE_URL": state.netsuite.base_url,
        }
    if state.smtp is not None:
        env |= {
            "SMTP_HOST": state.smtp.host,
            "SMTP_PORT": str(state.smtp.port),
            "SMTP_TLS_MODE": "none",
        }
    if state.slack is not None:
        from devstack.fake_slack import NOTICE_CHANNEL

        slack = load_slack_credentials(state.state_dir)
        env |= {
            "SLACK_BOT_TOKEN": slack.bot_token.get_secret_value(),
            "SLACK_SIGNING_SECRET": slack.signing_secret.get_secret_value(),
            "SLACK_API_URL": state.slack.api_url,
            "SLACK_CHANNEL": NOTICE_CHANNEL,
        }
    return env


def registration_environment(state: StackState, env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with each block group the stack serves and ``env`` does not anchor taken
    from the stack; the stack's bucket unless ``env`` names one."""
    merged = {"QUOTEFLOW_S3_BUCKET": state.s3.bucket} if state.s3 is not None else {}
    merged |= env
    local = stack_block_environment(state)
    for anchor, names in GROUPS.items():
        if env.get(anchor) or anchor not in local:
            continue
        for name in names:
            merged.pop(name, None)
        merged |= {name: local[name] for name in names if name in local}
    return merged


def register_stack_blocks(
    state: StackState, *, overwrite: bool = True, env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Register quoteflow's blocks in the stack's Prefect server, pointing at its services
    (``env``, default os.environ, may supply whole groups of its own)."""
    if state.prefect is None:
        raise StackError(f"the stack in {state.state_dir} has no prefect service")
    values = registration_environment(state, os.environ if env is None else env)
    with pointed_at(state.prefect.api_url):
        return register_blocks(values, overwrite=overwrite)
