"""send-quote-email: send the customer email of a quote once Mike approved its
send_quote_to_customer proposed action. A repeat never sends twice.

claim the approved action -> load the approved draft -> already sent? -> fetch the PDF -> deliver once -> quote sent.
The flow only sequences tasks (tasks/sending.py); rules and the send log live in
quoteflow.sending.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run as current_run
from prefect.states import Completed, State
from prefect_aws import S3Bucket
from pydantic import BaseModel, Field

from blocks.smtp import load_email_server
from quoteflow.models import ActionType
from quoteflow.sending import unconfirmed_message
from quoteflow.settings import get_settings
from tasks.claims import claim_proposed_action, log_claim_refused
from tasks.effects import alert_email_in_doubt
from tasks.policy import PermanentStepError
from tasks.sending import (
    deliver_quote_email,
    fetch_quote_pdf,
    find_sent_email,
    load_approved_email,
    mark_quote_sent,
)


class SendQuoteEmailResult(BaseModel):
    """What happened to the email: sent now, or found already sent."""

    message_id: str
    to: str
    sent_at: datetime
    already_sent: bool


@flow(
    name="send-quote-email",
    description="Send an approved quote email (send_quote_to_customer proposed action) "
    "with its PDF through the SMTP block, once; log it and mark the quote sent.",
    persist_result=True,
)
def send_quote_email(
    proposed_action_id: Annotated[
        int, Field(ge=1, description="Id of the approved send_quote_to_customer proposed action.")
    ],
) -> SendQuoteEmailResult | State[Any]:
    """Send the approved email of one proposed action (nothing, if it was already sent).
    A second run for the same action, or a run for an action not approved, ends at once
    (Completed "Duplicate" / "NotApproved"); a run may take over from one that failed.

    Args:
        proposed_action_id: Id of the approved send_quote_to_customer proposed action.
    """
    settings = get_settings()
    logger = get_run_logger()
    run_id = str(current_run.id)
    claim = claim_proposed_action(proposed_action_id, run_id, ActionType.send_quote, True)
    if not claim.acquired:
        logger.warning("%s", claim.message)
        log_claim_refused(run_id, claim, "send_quote_email")
        return Completed(name=claim.state_name, message=claim.message)
    logger.info("%s", claim.message)
    draft = load_approved_email(proposed_action_id)

    existing = find_sent_email(draft.message_id)
    if existing is not None:
        if not existing.confirmed:
            alert_email_in_doubt(existing, run_id)
            raise PermanentStepError(unconfirmed_message(existing))
        logger.info(
            "Email %s to %s already sent at %s: nothing sent",
            existing.message_id,
            existing.to,
            existing.sent_at,
        )
        # A run that crashed after sending may not have moved the quote yet.
        mark_quote_sent(draft.quote_id)
        return SendQuoteEmailResult(
            message_id=existing.message_id,
            to=existing.to,
            sent_at=existing.sent_at,
            already_sent=True,
        )

    pdf = None
    if draft.pdf_key:
        pdf = fetch_quote_pdf(S3Bucket.load(settings.s3_bucket_block), draft.pdf_key)
    smtp = load_email_server(settings.smtp_block)
    sent = deliver_quote_email(draft, pdf, smtp, proposed_action_id)
    status = mark_quote_sent(draft.quote_id)
    logger.info(
        "Quote %s email %s to %s %s; quote is %s",
        draft.quote_id,
        sent.message_id,
        sent.to,
        "was already sent" if sent.already_sent else "sent",
        status,
    )
    return SendQuoteEmailResult(
        message_id=sent.message_id, to=sent.to, sent_at=sent.sent_at, already_sent=sent.already_sent
    )
