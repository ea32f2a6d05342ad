"""The SMTP relay is prefect-email's ``EmailServerCredentials`` block (the one the Prefect UI
and people who run Prefect know); this module builds it, loads it and sends one message
through it. What makes a send exactly-once (the Message-ID claim, the confirmation) lives
in ``tasks/sending.py`` and does not depend on the transport.

prefect_email is imported only inside these functions, so importing a flow module does
not pay for it; only a process that sends mail does.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import TYPE_CHECKING, Literal

from pydantic import SecretStr

from quoteflow.settings import get_settings

if TYPE_CHECKING:
    from prefect_email import EmailServerCredentials

TlsMode = Literal["none", "starttls", "ssl"]

# prefect-email's SMTPType member for each of our SMTP_TLS_MODE values.
_SMTP_TYPES: dict[str, str] = {"none": "INSECURE", "starttls": "STARTTLS", "ssl": "SSL"}

# get_server() connects without a timeout; the session after it gets this one.
SESSION_TIMEOUT_SECONDS = 30.0

# The block type (and its document of the same name) this module replaced.
LEGACY_SMTP_BLOCK_TYPE = "quoteflow-smtp-server"


def email_server_credentials(
    *,
    host: str,
    port: int,
    tls_mode: TlsMode,
    username: str | None = None,
    password: SecretStr | None = None,
) -> EmailServerCredentials:
    """The block for a relay (not saved). ``tls_mode`` none is for local sinks only."""
    from prefect_email import EmailServerCredentials, SMTPType

    return EmailServerCredentials(
        smtp_server=host,
        smtp_port=port,
        smtp_type=SMTPType[_SMTP_TYPES[tls_mode]],
        username=username,
        password=password if password is not None else SecretStr(""),
    )


def load_email_server(name: str) -> EmailServerCredentials:
    """The saved EmailServerCredentials block of that name."""
    from prefect_email import EmailServerCredentials

    return EmailServerCredentials.load(name, _sync=True)


def send_message(server: EmailServerCredentials, message: EmailMessage) -> None:
    """Send one message in one SMTP session: connect, TLS and login by prefect-email's
    ``get_server``, then the message, then QUIT; From is QUOTEFLOW_MAIL_FROM unless the
    message has one. Exceptions are smtplib's and the socket's, unchanged, so the caller
    can tell a refusal from a delivery in doubt."""
    if "From" not in message:
        message["From"] = get_settings().mail_from
    smtp = server.get_server()
    with smtp:
        if smtp.sock is not None:
            smtp.sock.settimeout(SESSION_TIMEOUT_SECONDS)
        smtp.send_message(message)


def retire_legacy_smtp_block(name: str) -> bool:
    """Delete the document ``name`` of quoteflow's former SMTP block type (it may hold a
    relay password), and that type once no document uses it. True if one was deleted."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            document = client.read_block_document_by_name(
                name, LEGACY_SMTP_BLOCK_TYPE, include_secrets=False
            )
        except ObjectNotFound:
            return False
        client.delete_block_document(document.id)
        try:
            block_type = client.read_block_type_by_slug(LEGACY_SMTP_BLOCK_TYPE)
        except ObjectNotFound:
            return True
        if not client.read_block_documents_by_type(LEGACY_SMTP_BLOCK_TYPE, include_secrets=False):
            client.delete_block_type(block_type.id)
    return True
