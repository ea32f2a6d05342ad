"""send_email (hitl_email_draft): draft the customer email and stage it for Mike."""

from __future__ import annotations

from prefect import task
from prefect.logging import get_logger

from quoteflow.approvals import stage_action
from quoteflow.mail import compose_quote_email
from quoteflow.models import ActionType, ActionView
from quoteflow.quote import QuotePreview
from quoteflow.settings import get_settings
from tasks.notify import send_waiting_notice
from tasks.pdf import StoredPdf
from tasks.policy import PermanentStepError, fanout_task_options


@task(name="send_email", **fanout_task_options())
def draft_quote_email(
    preview: QuotePreview, stored_pdf: StoredPdf | None, flow_run_id: str
) -> ActionView:
    """Stage a send_quote_to_customer proposed action holding the draft. Nothing is sent
    here: the send-quote-email deployment sends it once Mike approves that action."""
    settings = get_settings()
    try:
        draft = compose_quote_email(
            preview,
            pdf_key=stored_pdf.key if stored_pdf else None,
            company_name=settings.company_name,
            domain=settings.mail_domain,
            signed_by=settings.contact_name,
        )
    except ValueError as exc:
        raise PermanentStepError(str(exc)) from exc
    staged = stage_action(
        action_type=ActionType.send_quote,
        entity_ref=f"quote:{preview.quote_id}",
        payload=draft.model_dump(mode="json"),
        flow_run_id=flow_run_id,
    )
    try:
        send_waiting_notice(staged.id)
    except Exception as exc:  # the draft is staged; the reminder sweep re-sends the notice
        get_logger("quoteflow.notify").warning(
            "notice for action %s not sent yet: %s", staged.id, exc
        )
    return staged
