"""SMTP server connection for sending customer email."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Literal

from prefect.blocks.core import Block
from pydantic import Field, SecretStr


class SmtpServer(Block):
    """An SMTP relay: host, port, TLS mode, optional login, and the From address."""

    _block_type_name = "Quoteflow SMTP Server"
    _block_type_slug = "quoteflow-smtp-server"
    _description = "SMTP relay used to send quote emails to customers."

    host: str = Field(description="SMTP host name.")
    port: int = Field(default=587, ge=1, le=65535, description="SMTP port.")
    tls_mode: Literal["none", "starttls", "ssl"] = Field(
        default="starttls", description="none (local sinks only), starttls, or implicit ssl."
    )
    username: str | None = Field(default=None, description="Login user, if the relay needs one.")
    password: SecretStr | None = Field(default=None, description="Login password.")
    from_address: str = Field(description="The From: address of quote emails.")
    timeout_seconds: float = Field(default=30.0, gt=0, description="Connection timeout.")

    def send(self, message: EmailMessage) -> None:
        """Send one message; sets From if the message has none."""
        if "From" not in message:
            message["From"] = self.from_address
        context = ssl.create_default_context()
        if self.tls_mode == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_seconds, context=context
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds)
        with smtp:
            if self.tls_mode == "starttls":
                smtp.starttls(context=context)
            if self.username and self.password is not None:
                smtp.login(self.username, self.password.get_secret_value())
            smtp.send_message(message)
