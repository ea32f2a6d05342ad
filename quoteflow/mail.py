"""The customer email for a quote: drafted by the flow, sent only after Mike approves."""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr

from pydantic import BaseModel

from quoteflow.models import utcnow
from quoteflow.presentation import format_day, format_money
from quoteflow.quote import QuotePreview


def message_id_for(quote_id: str, domain: str) -> str:
    """One Message-ID per quote, so a repeated send is recognisable (and refused)."""
    return f"<quote-{quote_id.lower()}@{domain}>"


class EmailDraft(BaseModel):
    quote_id: str
    to: str
    to_name: str | None
    subject: str
    body: str
    pdf_key: str | None
    message_id: str


def compose_quote_email(
    preview: QuotePreview,
    *,
    pdf_key: str | None,
    company_name: str,
    domain: str,
    signed_by: str = "Mike",
) -> EmailDraft:
    """Subject and body naming the quote; the PDF is attached when it is sent."""
    if not preview.customer_email:
        raise ValueError(f"customer {preview.customer_id} has no contact email on file")
    greeting = f"Dear {preview.contact_name}," if preview.contact_name else "Hello,"
    lines = "\n".join(
        f"  - {line.item_code} {line.description}: {format_money(line.case_price, preview.currency)}"
        f" per {line.unit}"
        for line in preview.quotable_lines
        if line.case_price is not None
    )
    attachment = (
        f"The quote is attached as a PDF ({pdf_key.rsplit('/', 1)[-1]}).\n\n" if pdf_key else ""
    )
    body = (
        f"{greeting}\n\n"
        f"Thank you for the opportunity to quote {preview.customer_name} for the "
        f"{preview.school_year} school year. Quote {preview.quote_id}:\n\n{lines}\n\n"
        f"Subtotal: {format_money(preview.subtotal, preview.currency)}\n"
        f"Valid until: {format_day(preview.valid_until)}\n\n"
        f"{attachment}"
        f"Please reply to this email with any questions.\n\n"
        f"Kind regards,\n{signed_by}\n{company_name}\n"
    )
    return EmailDraft(
        quote_id=preview.quote_id,
        to=preview.customer_email,
        to_name=preview.contact_name,
        subject=f"Quote {preview.quote_id}: {company_name} pricing for {preview.school_year}",
        body=body,
        pdf_key=pdf_key,
        message_id=message_id_for(preview.quote_id, domain),
    )


def sender(from_address: str, company_name: str) -> str:
    """The From of a customer email: the configured address, shown under the supplier's
    name unless the setting already carries a display name of its own."""
    name, address = parseaddr(from_address)
    return from_address if name else formataddr((company_name, address))


def build_message(
    draft: EmailDraft,
    *,
    from_address: str,
    pdf: bytes | None,
    reply_to: str | None = None,
) -> EmailMessage:
    """The MIME message as it goes out, with the PDF attached when there is one; a
    customer's reply goes to ``reply_to`` (Mike) when it is given."""
    msg = EmailMessage()
    msg["From"] = from_address
    msg["To"] = (
        Address(display_name=draft.to_name, addr_spec=draft.to) if draft.to_name else draft.to
    )
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Subject"] = draft.subject
    msg["Message-ID"] = draft.message_id
    msg["Date"] = format_datetime(utcnow())
    msg.set_content(draft.body)
    if pdf is not None and draft.pdf_key:
        msg.add_attachment(
            pdf,
            maintype="application",
            subtype="pdf",
            filename=draft.pdf_key.rsplit("/", 1)[-1],
        )
    return msg
