"""The Slack app's credentials: bot token and signing secret, the Web API base URL (Slack's
own, or the local fake) and the channel Mike's notices go to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

if TYPE_CHECKING:
    from slack_sdk import WebClient
    from slack_sdk.web.async_client import AsyncWebClient

SLACK_API_URL = "https://slack.com/api/"


class SlackCredentials(Block):
    """A Slack app's bot token and request signing secret, and where notices are posted."""

    _block_type_name = "Quoteflow Slack App"
    _block_type_slug = "quoteflow-slack-app"
    _description = "Bot token, signing secret and notice channel of quoteflow's Slack app."

    bot_token: SecretStr = Field(description="Bot User OAuth Token (xoxb-...).")
    signing_secret: SecretStr = Field(
        description="Signing secret: every request from Slack is verified with it."
    )
    channel: str = Field(
        min_length=1,
        max_length=80,
        description="Where waiting quotes are posted: Mike's user id (a direct message) or a "
        "channel id.",
    )
    base_url: str = Field(
        default=SLACK_API_URL,
        description="Web API base URL; the local stack points it at its fake Slack.",
    )
    timeout_seconds: float = Field(default=10.0, gt=0, le=120, description="Per-call timeout.")

    def _api_url(self) -> str:
        return self.base_url.rstrip("/") + "/"

    def get_client(self) -> WebClient:
        """slack_sdk's Web API client with the bot token (it never retries by itself)."""
        from slack_sdk import WebClient

        return WebClient(
            token=self.bot_token.get_secret_value(),
            base_url=self._api_url(),
            timeout=int(self.timeout_seconds),
        )

    def get_async_client(self) -> AsyncWebClient:
        """The same client for async code (the approval page's Slack app)."""
        from slack_sdk.web.async_client import AsyncWebClient

        return AsyncWebClient(
            token=self.bot_token.get_secret_value(),
            base_url=self._api_url(),
            timeout=int(self.timeout_seconds),
        )
