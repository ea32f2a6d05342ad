"""The SMTP relay is prefect-email's ``EmailServerCredentials`` block (the one the Prefect UI
and people who run Prefect know); this module builds it, loads it and sends one message
through it. What makes a send exactly-once (the Message-ID claim, the confirmation) lives
in ``tasks/sending.py`` and does not depend on the transport.

prefect_email is imported only inside these functions, so importing a flow module does
not pay for it; only a process that sends mail does.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import TYPE_CHECKING, Literal

from pydantic import SecretStr

from quoteflow.settings import get_settings

if TYPE_CHECKING:
    from prefect_email import EmailServerCredentials

TlsMode = Literal["none", "starttls", "ssl"]

# prefect-email's SMTPType member for each of our SMTP_TLS_MODE values.
_SMTP_TYPES: dict[str, str] = {"none": "INSECURE", "starttls": "STARTTLS", "ssl": "SSL"}

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


class RelayUnreachableError(smtplib.SMTPConnectError):
    """The relay could not be reached, or did not greet us in time: nothing was sent."""

    def __init__(self, message: str) -> None:
        super().__init__(-1, message)


def connect(server: EmailServerCredentials, *, timeout: float) -> smtplib.SMTP:
    """prefect-email's ``get_server`` (connect, TLS, login), with a timeout on the
    connection and the greeting, which ``get_server`` does not set: a relay that accepts
    TCP but never answers fails within ``timeout`` instead of hanging the send."""
    import ssl

    from prefect_email import SMTPType

    host = getattr(server.smtp_server, "value", server.smtp_server)
    smtp_type = server.smtp_type
    port = server.smtp_port or smtp_type.value
    context = (
        ssl.create_default_context()
        if server.verify
        else ssl._create_unverified_context(protocol=ssl.PROTOCOL_TLS_CLIENT)
    )
    try:
        if smtp_type == SMTPType.SSL:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, context=context, timeout=timeout)
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
            if smtp_type == SMTPType.STARTTLS:
                smtp.starttls(context=context)
    except (OSError, smtplib.SMTPServerDisconnected) as exc:
        if isinstance(exc, ssl.SSLCertVerificationError):
            raise
        raise RelayUnreachableError(
            f"SMTP relay {host}:{port} not reachable within {timeout:g} s: "
            f"{type(exc).__name__}: {exc}; nothing was sent"
        ) from exc
    if server.username:
        smtp.login(server.username, server.password.get_secret_value())
    return smtp


def send_message(server: EmailServerCredentials, message: EmailMessage) -> None:
    """Send one message in one SMTP session: connect, TLS and login (``connect``, with
    the connect timeout), then the message with the read timeout on every reply, then
    QUIT; From is QUOTEFLOW_MAIL_FROM unless the message has one. Failures before the
    session (unreachable, no greeting) are ``RelayUnreachableError`` (nothing sent);
    later ones are smtplib's and the socket's, unchanged, so the caller can tell a refusal
    from a delivery in doubt."""
    settings = get_settings()
    if "From" not in message:
        message["From"] = settings.mail_from
    smtp = connect(server, timeout=settings.smtp_connect_timeout_seconds)
    with smtp:
        if smtp.sock is not None:
            smtp.sock.settimeout(settings.smtp_read_timeout_seconds)
        smtp.send_message(message)


def retire_legacy_smtp_block(name: str) -> bool:
    """Delete the document ``name`` of quoteflow's former SMTP block type (it may hold a
    relay password), and that type once no document uses it. True if one was deleted."""
    from quoteflow.prefect_api import retire_block_document

    return retire_block_document(name, LEGACY_SMTP_BLOCK_TYPE)
