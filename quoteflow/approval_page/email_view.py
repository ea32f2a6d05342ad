"""A customer email draft on the page: the email as the customer will get it, its PDF,
and once Mike chose, whether it went out and when (from the send log)."""

from __future__ import annotations

from typing import Any

from quoteflow.mail import EmailDraft
from quoteflow.models import ActionStatus, ActionView
from quoteflow.presentation import format_when
from quoteflow.sending import SentEmail, read_sent_email


def email_status(action: ActionView, sent: SentEmail | None) -> str:
    """The email's badge: waiting for Mike, sending, sent, or not sent (his choice)."""
    if action.status == ActionStatus.pending:
        return "pending"
    if action.status == ActionStatus.rejected:
        return "not to send"
    if action.status == ActionStatus.approved:
        return "sent" if sent is not None and sent.confirmed else "sending"
    return str(action.status)


def sent_line(action: ActionView, sent: SentEmail | None) -> str | None:
    """What became of the email, in one sentence; None while Mike has not chosen."""
    if action.status == ActionStatus.rejected:
        return "Not sent: you chose not to send it. The quote itself is unchanged."
    if action.status == ActionStatus.expired:
        return "Not sent: nobody chose in time."
    if action.status != ActionStatus.approved:
        return None
    if sent is None:
        return "Not sent yet: it goes out within a minute of your choice."
    if sent.confirmed:
        return f"Sent at {format_when(sent.sent_at)} to {sent.to}."
    return (
        f"Sending started at {format_when(sent.sent_at)} but the mail server never confirmed "
        "it; it is not sent again on its own. Ask whoever runs the mail relay whether it "
        "went out."
    )


def email_context(action: ActionView) -> dict[str, Any]:
    """The template context of a customer email draft (``kind="email"``)."""
    draft = EmailDraft.model_validate(action.payload)
    sent = read_sent_email(draft.message_id) if action.status == ActionStatus.approved else None
    return {
        "kind": "email",
        "email": draft,
        "email_status": email_status(action, sent),
        "sent_line": sent_line(action, sent),
        "pdf_url": f"/quotes/{draft.quote_id}/pdf" if draft.pdf_key else None,
    }
