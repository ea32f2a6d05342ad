"""Email through the registered EmailServerCredentials block (prefect-email) into the stack's
SMTP sink."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from email.message import EmailMessage

from blocks.smtp import load_email_server, send_message
from devstack.smtp_sink import read_messages
from devstack.stack import StackState
from quoteflow.settings import PROJECT_ROOT, get_settings
from tests.fixtures.stack import SinkMailbox


def test_quote_email_arrives_with_subject_recipient_and_attachment(
    stack: StackState, smtp_messages: SinkMailbox
) -> None:
    smtp = load_email_server(get_settings().smtp_block)
    pdf = b"%PDF-1.4\n" + os.urandom(50_000) + b"\n%%EOF\n"
    subject = f"Your quote Q-{uuid.uuid4().hex[:8]} for 2026-27"
    message = EmailMessage()
    message["To"] = "purchasing@lakeside-usd.example"
    message["Subject"] = subject
    message.set_content("Dear Lakeside USD,\n\nplease find your quote attached.\n")
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename="Q-1.pdf")

    send_message(smtp, message)

    [received] = smtp_messages.wait_for(1)
    assert received["Subject"] == subject
    assert received["To"] == "purchasing@lakeside-usd.example"
    assert received["From"] == get_settings().mail_from == "quotes@northwind-supply.example"
    assert received["X-RcptTo"] == "purchasing@lakeside-usd.example"
    attachments = list(received.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["Q-1.pdf"]
    assert attachments[0].get_content_type() == "application/pdf"
    assert attachments[0].get_content() == pdf
    body = received.get_body(preferencelist=("plain",))
    assert body is not None and "quote attached" in body.get_content()


def test_sink_keeps_arrival_order_and_bcc_envelope(
    stack: StackState, smtp_messages: SinkMailbox
) -> None:
    smtp = load_email_server(get_settings().smtp_block)
    tag = uuid.uuid4().hex[:8]
    for n in range(5):
        message = EmailMessage()
        message["To"] = "a@example.org"
        message["Bcc"] = "mike@northwind-supply.example"
        message["Subject"] = f"{tag} #{n}"
        message.set_content(f"message {n}")
        send_message(smtp, message)

    received = smtp_messages.wait_for(5)
    assert [m["Subject"] for m in received] == [f"{tag} #{n}" for n in range(5)]
    for m in received:
        assert "Bcc" not in m  # smtplib strips it from the content ...
        assert "mike@northwind-supply.example" in m["X-RcptTo"]  # ... the envelope keeps it

    assert stack.smtp is not None
    maildir = stack.smtp.maildir
    assert not [p for p in maildir.iterdir() if p.name.startswith(".")]  # no partial writes
    everything = [m["Subject"] for m in read_messages(maildir)]
    assert everything[-5:] == [f"{tag} #{n}" for n in range(5)]


def test_flow_modules_import_prefect_email_only_when_mail_is_sent() -> None:
    code = (
        "import sys, flows.customer_quote, flows.send_quote_email, flows.notify, flows.reconcile; "
        "print(sorted(m for m in sys.modules if m.startswith(('prefect_email', 'blocks.notify'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT
    )
    assert out.stdout.strip() == "[]"
