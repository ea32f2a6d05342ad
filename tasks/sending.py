"""send-quote-email's tasks: load the approved draft, fetch the PDF, deliver the email
exactly once (guarded by outbound_email_log's unique message_id: the send log in
quoteflow.sending), mark the quote sent (quoteflow.quote_store)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError
from prefect import get_run_logger, task
from prefect.runtime import flow_run as current_flow_run
from prefect_aws import S3Bucket

from blocks.smtp import send_message
from quoteflow import quote_store
from quoteflow.approvals import ApprovalError, get_action
from quoteflow.effect_recovery import alert_email_in_doubt
from quoteflow.mail import EmailDraft, build_message, sender
from quoteflow.models import LifecycleStatus
from quoteflow.sending import (
    NotSentAgainError,
    SendRefusedError,
    SentEmail,
    deliver_once,
    draft_to_send,
    read_sent_email,
)
from quoteflow.settings import get_settings
from quoteflow.storage import is_not_found, read_object
from tasks.policy import (
    PermanentStepError,
    fanout_task_options,
    transient_retry_options,
)

if TYPE_CHECKING:
    from email.message import EmailMessage

    from prefect_email import EmailServerCredentials


@task(name="load_approved_email", **transient_retry_options())
def load_approved_email(proposed_action_id: int) -> EmailDraft:
    """The email draft of an approved send_quote_to_customer action; refuses (without
    retrying) a missing, pending, rejected, expired or changed action."""
    try:
        action = get_action(proposed_action_id)
    except ApprovalError as exc:
        raise SendRefusedError(f"{exc}; nothing sent") from exc
    return draft_to_send(action)


@task(name="find_sent_email", **transient_retry_options())
def find_sent_email(message_id: str) -> SentEmail | None:
    """The outbound_email_log row of this Message-ID, if any."""
    return read_sent_email(message_id)


@task(name="fetch_quote_pdf", **fanout_task_options(persist_result=False))
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


class _Relay:
    """The SMTP relay's block as quoteflow.sending's Mailer: one session per message."""

    def __init__(self, server: EmailServerCredentials) -> None:
        self.server = server

    def send(self, message: EmailMessage) -> None:
        send_message(self.server, message)


@task(name="deliver_quote_email", **fanout_task_options())
def deliver_quote_email(
    draft: EmailDraft, pdf: bytes | None, smtp: EmailServerCredentials, proposed_action_id: int
) -> SentEmail:
    """Send the approved email through the SMTP relay's block at most once per Message-ID: claim
    (the outbound_email_log row), send, confirm (quoteflow.sending.deliver_once). A
    failure that proves nothing was delivered is retried; one that leaves delivery in
    doubt, or a refusal for good, fails without retrying (alerted)."""
    settings = get_settings()
    message = build_message(
        draft,
        from_address=sender(settings.mail_from, settings.company_name),
        pdf=pdf,
        reply_to=settings.reply_to,
    )
    try:
        sent = deliver_once(draft, message, _Relay(smtp), proposed_action_id)
    except NotSentAgainError as exc:
        doubt = read_sent_email(draft.message_id)
        if doubt is not None and not doubt.confirmed:  # kept claim: delivery in doubt
            alert_email_in_doubt(doubt, str(current_flow_run.id or ""))
        raise PermanentStepError(str(exc)) from exc
    if sent.already_sent:
        get_run_logger().info(
            "Email %s already sent at %s: not sending again", sent.message_id, sent.sent_at
        )
    else:
        get_run_logger().info("Sent %s to %s (%s)", sent.message_id, sent.to, sent.subject)
    return sent


@task(name="mark_quote_sent", **transient_retry_options())
def mark_quote_sent(quote_id: str) -> str | None:
    """Set the quote's lifecycle_status to sent (from draft or proposed only); returns the
    status the quote ends with, None when there is no such quote."""
    status = quote_store.mark_sent(quote_id)
    if status is None:
        get_run_logger().warning("Quote %s does not exist: no lifecycle status to update", quote_id)
    elif status != LifecycleStatus.sent:
        get_run_logger().info(
            "Quote %s stays %s (only draft or proposed quotes become sent)", quote_id, status
        )
    return status
