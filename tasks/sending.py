"""send-quote-email's tasks: load the approved draft, fetch the PDF, deliver the email
exactly once (guarded by outbound_email_log's unique message_id), mark the quote sent."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from botocore.exceptions import ClientError
from prefect import get_run_logger, task
from prefect_aws import S3Bucket
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from blocks.smtp import send_message
from quoteflow import ledger
from quoteflow.approvals import ApprovalError, get_action
from quoteflow.db import session_scope
from quoteflow.mail import EmailDraft, build_message
from quoteflow.models import Event, LifecycleStatus, OutboundEmailLog, Quote, utcnow
from quoteflow.sending import (
    SendRefusedError,
    delivery_after_failure,
    draft_to_send,
    is_permanent_refusal,
    may_mark_sent,
)
from quoteflow.settings import get_settings
from quoteflow.storage import is_not_found, read_object
from tasks.policy import (
    PermanentStepError,
    fanout_task_options,
    retry_if_transient,
    short_retry_options,
)

if TYPE_CHECKING:
    from prefect_email import EmailServerCredentials

EMAIL_SENT_EVENT = "email.sent"


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


def _sent_key(message_id: str) -> str:
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
            s.execute(sa.select(Event.id).where(Event.idempotency_key == _sent_key(message_id)))
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
    return (
        f"email {sent.message_id} to {sent.to} was claimed at {sent.sent_at:%Y-%m-%d %H:%M:%S} "
        "UTC but its delivery was never confirmed (an interrupted SMTP session or a crash "
        "mid-send, or another run sending it right now); nothing re-sent. Check the relay's "
        "log; to send it anyway, delete that outbound_email_log row and run again."
    )


def _claim(draft: EmailDraft, proposed_action_id: int) -> bool:
    """INSERT the log row before sending; False when the Message-ID is already logged."""
    try:
        with session_scope() as s:
            s.add(
                OutboundEmailLog(
                    related_quote_id=draft.quote_id,
                    message_id=draft.message_id,
                    proposed_action_id=proposed_action_id,
                    to_addr=draft.to,
                    subject=draft.subject,
                    sent_at=utcnow(),
                )
            )
    except IntegrityError:
        return False
    return True


def _release(message_id: str) -> None:
    with session_scope() as s:
        s.execute(sa.delete(OutboundEmailLog).where(OutboundEmailLog.message_id == message_id))


def _confirm(draft: EmailDraft, proposed_action_id: int) -> None:
    """sent_at becomes the time the server accepted the message; the ledger records it."""
    now = utcnow()
    with session_scope() as s:
        s.execute(
            sa.update(OutboundEmailLog)
            .where(OutboundEmailLog.message_id == draft.message_id)
            .values(sent_at=now)
        )
    ledger.record_event(
        EMAIL_SENT_EVENT,
        _sent_key(draft.message_id),
        payload={
            "quote_id": draft.quote_id,
            "message_id": draft.message_id,
            "to": draft.to,
            "proposed_action_id": proposed_action_id,
            "sent_at": now.isoformat(),
        },
        resource_id=f"quoteflow.quote.{draft.quote_id}",
    )


_READ_OPTIONS: dict[str, Any] = {
    **short_retry_options(),
    "retry_condition_fn": retry_if_transient,
}


@task(name="load_approved_email", **_READ_OPTIONS)
def load_approved_email(proposed_action_id: int) -> EmailDraft:
    """The email draft of an approved send_quote_to_customer action; refuses (without
    retrying) a missing, pending, rejected, expired or changed action."""
    try:
        action = get_action(proposed_action_id)
    except ApprovalError as exc:
        raise SendRefusedError(f"{exc}; nothing sent") from exc
    return draft_to_send(action)


@task(name="find_sent_email", **_READ_OPTIONS)
def find_sent_email(message_id: str) -> SentEmail | None:
    """The outbound_email_log row of this Message-ID, if any."""
    return read_sent_email(message_id)


_FETCH_OPTIONS: dict[str, Any] = {**fanout_task_options(), "persist_result": False}


@task(name="fetch_quote_pdf", **_FETCH_OPTIONS)
def fetch_quote_pdf(bucket: S3Bucket, key: str) -> bytes:
    """The quote PDF from the bucket (not persisted as a result: it is only attached)."""
    try:
        data = read_object(bucket, key)
    except ClientError as exc:
        if is_not_found(exc):
            raise PermanentStepError(f"quote PDF {key} is not in the bucket; nothing sent") from exc
        raise
    if not data.startswith(b"%PDF"):
        raise PermanentStepError(f"{key} is not a PDF ({len(data)} bytes); nothing sent")
    return data


@task(name="deliver_quote_email", **fanout_task_options())
def deliver_quote_email(
    draft: EmailDraft, pdf: bytes | None, smtp: EmailServerCredentials, proposed_action_id: int
) -> SentEmail:
    """Send the approved email through the SMTP relay's block at most once per Message-ID.

    Order: claim (INSERT the outbound_email_log row; the unique message_id lets exactly
    one attempt or run win), send, confirm (sent_at + an ``email.sent`` ledger event).
    Check-then-send-then-insert was rejected: a crash or a failed INSERT after the server
    accepted the message would make the retry send it again, and two concurrent runs
    could both pass the check. With the claim first, a failure that proves nothing was
    delivered (refused, unreachable) releases the claim so the retry may send; a failure
    that leaves delivery in doubt keeps it and fails without retrying (alerted). A repeat
    therefore never sends twice; at worst a message in doubt waits for a person.
    """
    logger = get_run_logger()
    if not _claim(draft, proposed_action_id):
        existing = read_sent_email(draft.message_id)
        assert existing is not None
        if not existing.confirmed:
            raise PermanentStepError(unconfirmed_message(existing))
        logger.info(
            "Email %s already sent at %s: not sending again", draft.message_id, existing.sent_at
        )
        return existing.model_copy(update={"already_sent": True})
    message = build_message(draft, from_address=get_settings().mail_from, pdf=pdf)
    try:
        send_message(smtp, message)
    except Exception as exc:
        if delivery_after_failure(exc) == "in_doubt":
            raise PermanentStepError(
                f"delivery of {draft.message_id} to {draft.to} is in doubt after "
                f"{type(exc).__name__}: {exc}; the claim is kept so it is not sent twice"
            ) from exc
        _release(draft.message_id)
        if is_permanent_refusal(exc):
            raise PermanentStepError(
                f"the SMTP server refused {draft.message_id} to {draft.to}: {exc}"
            ) from exc
        raise
    _confirm(draft, proposed_action_id)
    sent = read_sent_email(draft.message_id)
    assert sent is not None and sent.confirmed
    logger.info("Sent %s to %s (%s)", draft.message_id, draft.to, draft.subject)
    return sent


@task(name="mark_quote_sent", **_READ_OPTIONS)
def mark_quote_sent(quote_id: str) -> str | None:
    """Set the quote's lifecycle_status to sent (from draft or proposed only); returns the
    status the quote ends with, None when there is no such quote."""
    logger = get_run_logger()
    with session_scope() as s:
        quote = s.get(Quote, quote_id)
        if quote is None:
            logger.warning("Quote %s does not exist: no lifecycle status to update", quote_id)
            return None
        if may_mark_sent(quote.lifecycle_status):
            quote.lifecycle_status = LifecycleStatus.sent
            quote.updated_at = utcnow()
            s.add(quote)
        elif quote.lifecycle_status != LifecycleStatus.sent:
            logger.info(
                "Quote %s stays %s (only draft or proposed quotes become sent)",
                quote_id,
                quote.lifecycle_status,
            )
        return str(quote.lifecycle_status)
