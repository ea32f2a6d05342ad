"""NetSuite token-based-authentication credentials."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

if TYPE_CHECKING:
    from quoteflow.netsuite.client import NetSuiteClient


class NetSuiteCredentials(Block):
    """OAuth 1.0a TBA credentials for SuiteTalk REST (HMAC-SHA256, realm = account id)."""

    _block_type_name = "NetSuite Credentials"
    _block_type_slug = "netsuite-credentials"
    _description = "Token-based authentication for NetSuite SuiteTalk REST web services."

    account_id: str = Field(
        description="NetSuite account id, e.g. 1234567 or 1234567_SB1 for a sandbox; the OAuth realm."
    )
    consumer_key: SecretStr = Field(description="Integration record consumer key.")
    consumer_secret: SecretStr = Field(description="Integration record consumer secret.")
    token_id: SecretStr = Field(description="Access token id.")
    token_secret: SecretStr = Field(description="Access token secret.")
    base_url: str | None = Field(
        default=None,
        description="Override the REST host (a non-production or local server). "
        "Default: https://<account>.suitetalk.api.netsuite.com",
    )
    timeout_seconds: float = Field(default=20.0, gt=0, description="Per-request timeout.")

    @property
    def rest_base_url(self) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        host = self.account_id.lower().replace("_", "-")
        return f"https://{host}.suitetalk.api.netsuite.com"

    def get_client(self) -> NetSuiteClient:
        """An httpx-based client signed with these credentials."""
        from quoteflow.netsuite.client import NetSuiteClient

        return NetSuiteClient(
            base_url=self.rest_base_url,
            account_id=self.account_id,
            consumer_key=self.consumer_key.get_secret_value(),
            consumer_secret=self.consumer_secret.get_secret_value(),
            token_id=self.token_id.get_secret_value(),
            token_secret=self.token_secret.get_secret_value(),
            timeout=self.timeout_seconds,
        )
