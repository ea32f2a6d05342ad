"""Rules for sending an approved quote email: which proposed action may be sent, what an
SMTP failure proves about delivery, and which quotes become ``sent``. Pure functions."""

from __future__ import annotations

import smtplib
import socket
import ssl
from typing import Literal

from pydantic import ValidationError

from quoteflow.mail import SEND_ACTION_TYPE, EmailDraft
from quoteflow.models import ActionStatus, ActionView, LifecycleStatus
from quoteflow.quote import payload_hash

Delivery = Literal["not_sent", "in_doubt"]

# A quote moves to 'sent' only from these; accepted, rejected, expired or superseded
# quotes keep their status (the email went out, but the quote's story is further on).
SENDABLE_LIFECYCLE = frozenset({LifecycleStatus.draft, LifecycleStatus.proposed})

# Failures that happen before the server accepted the message's data: nothing was
# delivered, so trying again cannot deliver twice.
_NOT_SENT_ERRORS: tuple[type[BaseException], ...] = (
    smtplib.SMTPConnectError,
    smtplib.SMTPHeloError,
    smtplib.SMTPAuthenticationError,
    smtplib.SMTPNotSupportedError,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPDataError,
    ConnectionRefusedError,
    socket.gaierror,
    ssl.SSLCertVerificationError,
)


class SendRefusedError(ValueError):
    """The proposed action cannot be sent: missing, another type, not approved, or changed
    since Mike approved it. Nothing was sent."""


def draft_to_send(action: ActionView) -> EmailDraft:
    """The approved email draft of a ``send_quote_to_customer`` action; SendRefusedError
    naming the action and its status otherwise."""
    where = f"proposed action {action.id} ({action.action_type}, {action.entity_ref})"
    if action.action_type != SEND_ACTION_TYPE:
        raise SendRefusedError(f"{where} is not a {SEND_ACTION_TYPE} action; nothing sent")
    if action.status != ActionStatus.approved:
        raise SendRefusedError(
            f"{where} is {action.status}, not approved; nothing sent"
            + (" (approve it first)" if action.status == ActionStatus.pending else "")
        )
    if action.approved_payload_hash != payload_hash(action.payload):
        raise SendRefusedError(
            f"{where} changed after it was approved (payload hash differs); nothing sent"
        )
    try:
        return EmailDraft.model_validate(action.payload)
    except ValidationError as exc:
        raise SendRefusedError(f"{where} holds no valid email draft: {exc}") from exc


def delivery_after_failure(exc: BaseException) -> Delivery:
    """What a failed send proves. ``not_sent``: the server refused before accepting the
    data (or was never reached). ``in_doubt``: the data may have been
    accepted (a timeout or disconnect mid-session, or an odd reply to QUIT after it)."""
    # Exact base SMTPResponseException is what smtplib raises for a bad QUIT reply, i.e.
    # possibly after the message was accepted; its subclasses are refusals before that.
    return "not_sent" if isinstance(exc, _NOT_SENT_ERRORS) else "in_doubt"


def is_permanent_refusal(exc: BaseException) -> bool:
    """A 5xx refusal fails the same way on every attempt (4xx and network trouble may not)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return isinstance(exc, smtplib.SMTPNotSupportedError | ssl.SSLCertVerificationError)


def may_mark_sent(lifecycle_status: str) -> bool:
    """Whether sending the email moves this quote to ``sent``."""
    return lifecycle_status in SENDABLE_LIFECYCLE
