"""The customer email as it leaves: who it is from, where a reply goes, the dates it names."""

from __future__ import annotations

from quoteflow.mail import build_message, compose_quote_email, sender
from tests.test_pdf import _line, _preview


def _draft():
    preview = _preview([_line(1, "JS-1001", "10.00", 1)])
    return compose_quote_email(
        preview,
        pdf_key="quotes/Q-2026-00042.pdf",
        company_name="Northwind School Supply",
        domain="northwind.example",
        signed_by="Mike Reyes",
    )


def test_the_customer_sees_the_supplier_name_and_replies_reach_mike():
    message = build_message(
        _draft(),
        from_address=sender("quotes@northwind.example", "Northwind School Supply"),
        pdf=b"%PDF-1.4 x",
        reply_to="mike@northwind.example",
    )
    [author] = message["From"].addresses
    assert (author.display_name, author.addr_spec) == (
        "Northwind School Supply",
        "quotes@northwind.example",
    )
    assert message["Reply-To"].addresses[0].addr_spec == "mike@northwind.example"
    assert message["To"].addresses[0].display_name == "Dana Whitfield"


def test_a_from_setting_with_its_own_name_is_kept():
    assert sender("Quotes Desk <q@x.example>", "Northwind") == "Quotes Desk <q@x.example>"


def test_the_email_reads_its_dates_in_the_one_format_and_is_signed_by_the_contact():
    body = _draft().body
    assert "Valid until: Fri Jul 3, 2026" in body
    assert "July 03" not in body
    assert body.rstrip().endswith("Mike Reyes\nNorthwind School Supply")
