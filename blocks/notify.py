"""How Mike is told: an email through the SMTP relay's EmailServerCredentials block (the
default), or any of Prefect's own notification blocks (Slack, Teams, ...) named in
QUOTEFLOW_NOTIFY_BLOCK.

This module imports prefect_email: import it only where a notice is sent."""

from __future__ import annotations

from email.message import EmailMessage

import anyio
from prefect._internal.compatibility.async_dispatch import async_dispatch
from prefect.blocks.abstract import NotificationBlock
from prefect_email import EmailServerCredentials
from pydantic import Field

from blocks.smtp import send_message


class EmailNotification(NotificationBlock):
    """Sends notifications as plain-text email to one address through an SMTP relay
    (From: QUOTEFLOW_MAIL_FROM)."""

    _block_type_name = "Quoteflow Email Notification"
    _block_type_slug = "quoteflow-email-notification"
    _description = "Emails Mike (or any one address) through the quoteflow SMTP relay."

    smtp: EmailServerCredentials = Field(description="The SMTP relay the message goes through.")
    to: str = Field(min_length=3, max_length=254, description="Recipient address.")
    subject_prefix: str = Field(default="[quoteflow] ", max_length=40)

    def _message(self, body: str, subject: str | None) -> EmailMessage:
        msg = EmailMessage()
        msg["To"] = self.to
        msg["Subject"] = f"{self.subject_prefix}{subject or 'notification'}"
        msg.set_content(body)
        return msg

    async def anotify(self, body: str, subject: str | None = None) -> None:
        await anyio.to_thread.run_sync(send_message, self.smtp, self._message(body, subject))

    @async_dispatch(anotify)
    def notify(self, body: str, subject: str | None = None) -> None:  # type: ignore[override]
        """Send one message now."""
        send_message(self.smtp, self._message(body, subject))
