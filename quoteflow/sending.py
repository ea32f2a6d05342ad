"""Sending an approved quote email at most once. Rules (pure): which proposed action may
be sent, what an SMTP failure proves about delivery, which quotes become ``sent``. And
the send log, outbound_email_log: claim a Message-ID before sending (its unique key lets
exactly one attempt win), release the claim when nothing was delivered, confirm it
(sent_at plus an ``email.sent`` ledger event) once the server accepted the message."""

from __future__ import annotations

import smtplib
import socket
import ssl
from datetime import datetime
from email.message import EmailMessage
from typing import Literal, Protocol

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError

from quoteflow import ledger
from quoteflow.db import insert_once, session_scope
from quoteflow.mail import EmailDraft
from quoteflow.models import (
    ActionStatus,
    ActionType,
    ActionView,
    Event,
    LifecycleStatus,
    OutboundEmailLog,
    utcnow,
)
from quoteflow.presentation import format_when
from quoteflow.quote import payload_hash

Delivery = Literal["not_sent", "in_doubt"]
EMAIL_SENT_EVENT = "email.sent"

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


class Mailer(Protocol):
    """What delivers a message (the SMTP relay's block, through tasks/sending.py)."""

    def send(self, message: EmailMessage) -> None: ...


class NotSentAgainError(Exception):
    """The email is not sent, now or on any retry: its delivery is in doubt, an earlier
    claim of it was never confirmed, or the server refused it for good."""


class SendRefusedError(ValueError):
    """The proposed action cannot be sent: missing, another type, not approved, or changed
    since Mike approved it. Nothing was sent."""


def draft_to_send(action: ActionView) -> EmailDraft:
    """The approved email draft of a ``send_quote_to_customer`` action; SendRefusedError
    naming the action and its status otherwise."""
    where = f"proposed action {action.id} ({action.action_type}, {action.entity_ref})"
    if action.action_type != ActionType.send_quote:
        raise SendRefusedError(f"{where} is not a {ActionType.send_quote} action; nothing sent")
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


# ---------------------------------------------------------------- the send log


class SentEmail(BaseModel):
    """An outbound_email_log row. ``confirmed``: the SMTP server accepted the message
    (an unconfirmed row is a claim whose delivery is in doubt)."""

    message_id: str
    quote_id: str
    proposed_action_id: int | None
    to: str
    subject: str
    sent_at: datetime
    confirmed: bool
    already_sent: bool = False


def sent_key(message_id: str) -> str:
    """The ledger key of the ``email.sent`` event that confirms a Message-ID."""
    return f"email-sent:{message_id}"


def read_sent_email(message_id: str) -> SentEmail | None:
    """The log row of this Message-ID and whether its delivery was confirmed."""
    with session_scope() as s:
        row = (
            s.execute(sa.select(OutboundEmailLog).where(OutboundEmailLog.message_id == message_id))
            .scalars()
            .first()
        )
        if row is None:
            return None
        confirmed = (
            s.execute(sa.select(Event.id).where(Event.idempotency_key == sent_key(message_id)))
            .scalars()
            .first()
            is not None
        )
        return SentEmail(
            message_id=row.message_id,
            quote_id=row.related_quote_id,
            proposed_action_id=row.proposed_action_id,
            to=row.to_addr,
            subject=row.subject,
            sent_at=row.sent_at,
            confirmed=confirmed,
        )


def unconfirmed_message(sent: SentEmail) -> str:
    """Why a claimed but unconfirmed email is not sent again, and what a person can do."""
    return (
        f"email {sent.message_id} to {sent.to} was claimed at {format_when(sent.sent_at)} "
        "but its delivery was never confirmed (an interrupted SMTP session or a crash "
        "mid-send, or another run sending it right now); nothing re-sent. Check the relay's "
        "log; to send it anyway, delete that outbound_email_log row and run again."
    )


def _claim(draft: EmailDraft, proposed_action_id: int) -> bool:
    """INSERT the log row before sending; False when the Message-ID is already logged."""
    row = OutboundEmailLog(
        related_quote_id=draft.quote_id,
        message_id=draft.message_id,
        proposed_action_id=proposed_action_id,
        to_addr=draft.to,
        subject=draft.subject,
        sent_at=utcnow(),
    )
    with session_scope() as s:
        return insert_once(s, row)


def _release(message_id: str) -> None:
    """Drop the claim of a message that was certainly not delivered: a retry may send it."""
    with session_scope() as s:
        s.execute(sa.delete(OutboundEmailLog).where(OutboundEmailLog.message_id == message_id))


def _confirm(draft: EmailDraft, proposed_action_id: int) -> SentEmail:
    """The server accepted the message: sent_at becomes that time, the ledger records
    ``email.sent``; returns the confirmed log row."""
    now = utcnow()
    with session_scope() as s:
        s.execute(
            sa.update(OutboundEmailLog)
            .where(OutboundEmailLog.message_id == draft.message_id)
            .values(sent_at=now)
        )
    ledger.record_event(
        EMAIL_SENT_EVENT,
        sent_key(draft.message_id),
        payload={
            "quote_id": draft.quote_id,
            "message_id": draft.message_id,
            "to": draft.to,
            "proposed_action_id": proposed_action_id,
            "sent_at": now.isoformat(),
        },
        resource_id=f"quoteflow.quote.{draft.quote_id}",
    )
    sent = read_sent_email(draft.message_id)
    assert sent is not None and sent.confirmed
    return sent


def deliver_once(
    draft: EmailDraft, message: EmailMessage, mailer: Mailer, proposed_action_id: int
) -> SentEmail:
    """Send the approved email at most once per Message-ID.

    Order: claim (INSERT the outbound_email_log row; the unique message_id lets exactly
    one attempt or run win), send, confirm (sent_at + an ``email.sent`` ledger event).
    Check-then-send-then-insert was rejected: a crash or a failed INSERT after the server
    accepted the message would make the retry send it again, and two concurrent runs
    could both pass the check. With the claim first, a failure that proves nothing was
    delivered (refused, unreachable) releases the claim so the retry may send; a failure
    that leaves delivery in doubt keeps it and raises NotSentAgainError. A repeat
    therefore never sends twice; at worst a message in doubt waits for a person. An email
    already confirmed comes back with ``already_sent``.
    """
    if not _claim(draft, proposed_action_id):
        existing = read_sent_email(draft.message_id)
        assert existing is not None
        if not existing.confirmed:
            raise NotSentAgainError(unconfirmed_message(existing))
        return existing.model_copy(update={"already_sent": True})
    try:
        mailer.send(message)
    except Exception as exc:
        if delivery_after_failure(exc) == "in_doubt":
            raise NotSentAgainError(
                f"delivery of {draft.message_id} to {draft.to} is in doubt after "
                f"{type(exc).__name__}: {exc}; the claim is kept so it is not sent twice"
            ) from exc
        _release(draft.message_id)
        if is_permanent_refusal(exc):
            raise NotSentAgainError(
                f"the SMTP server refused {draft.message_id} to {draft.to}: {exc}"
            ) from exc
        raise
    return _confirm(draft, proposed_action_id)
