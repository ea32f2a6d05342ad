"""What Mike reads on his page has no table, flow, field or event names: the inbox, a
pending gate, a decided gate with what followed, an email draft, a quote with its checks
and history, and the contract page, rendered against the in-memory Prefect gateway."""

from __future__ import annotations

import re
import uuid
import warnings
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from prefect.states import Completed

from quoteflow.action_rules import gate_entity_ref, gate_payload
from quoteflow.approval_page import create_app
from quoteflow.approvals import approve, stage_action
from quoteflow.ledger import record_verify_decision, stage_verify_checks
from quoteflow.lifecycle import accept
from quoteflow.models import ActionType, WorkflowVerifyResult, utcnow
from quoteflow.quote_store import write_quote
from quoteflow.run_rules import verify_checks_for
from quoteflow.settings import get_settings
from quoteflow.verify import (
    QuoteRow,
    StoredPdfHead,
    decide,
    observe_email_sent,
    observe_pdf_stored,
    observe_quote_persisted,
)
from tests.fixtures.fake_prefect import FakePrefect, fake_prefect  # noqa: F401  (a fixture)
from tests.fixtures.page import staged_email
from tests.fixtures.previews import napkins_line, small_preview, stage_gate

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

TABLES = (
    "proposed_actions",
    "proposed_pricing",
    "pricing_master",
    "outbound_email_log",
    "spec_items",
    "workflow_run_log",
    "workflow_verify_results",
    "ns_pending_pushes",
    "quote_lines",
)
PHRASES = ("customer-quote run", "deployment", "reconcile", "flow run", "lifecycle", "by run ")
EVENT_NAME = re.compile(r"\b(?:quote|verify|gate|notice|reconcile)\.[a-z_]+\b")
SNAKE_CASE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")


class _Text(HTMLParser):
    """The text a reader sees: no tags, attribute values, scripts or styles, and not the
    parts marked ``tech`` for whoever looks after quoteflow (a gate's closed "Details"
    of ids, the contract's technical reference)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if self._skip or tag in ("script", "style") or "tech" in classes:
            self._skip.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._skip and self._skip[-1] == tag:
            self._skip.pop()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(parser.parts))


def jargon_in(text: str) -> list[str]:
    """Every table, flow, field or event name in ``text``."""
    lowered = text.lower()
    found = [w for w in (*TABLES, *PHRASES) if w in lowered]
    return found + EVENT_NAME.findall(text) + SNAKE_CASE.findall(text)


@pytest.fixture
def client(seeded_db, fake_prefect) -> Iterator[TestClient]:  # noqa: F811
    get_settings.cache_clear()
    with TestClient(create_app(), base_url="http://127.0.0.1", follow_redirects=False) as c:
        yield c
    get_settings.cache_clear()


def decided_quote(fake: FakePrefect) -> tuple[int, str]:
    """A gate approved, the quote its run wrote, the checks after it (one passed, one
    timed out, one still waiting) and the customer's acceptance: (gate id, quote id)."""
    preview = small_preview(
        napkins_line(line_total=Decimal("41.50")),
        subtotal=Decimal("41.50"),
        margin_pct=Decimal("27.71"),
    )
    run_id = fake.paused_run()
    gate = stage_action(
        action_type=ActionType.quote_gate,
        entity_ref=gate_entity_ref(run_id),
        payload=gate_payload(preview),
        flow_run_id=run_id,
        expires_at=utcnow() + timedelta(hours=1),
    )
    approve(gate.id, expected_hash=gate.payload_hash, notes="agreed")
    fake.set_state(run_id, Completed(), force=True)
    write_quote(preview, run_id)
    now = utcnow()
    key = f"quotes/{preview.quote_id}.pdf"
    stage_verify_checks(
        run_id,
        verify_checks_for(
            quote_id=preview.quote_id, pdf_key=key, finished_at=now, deadline_minutes=30
        ),
    )
    row = QuoteRow(id=preview.quote_id, lifecycle_status="proposed")
    seen = {
        "quote_persisted": (observe_quote_persisted(preview.quote_id, row), now),
        "pdf_stored": (
            observe_pdf_stored(
                preview.quote_id, key, row, StoredPdfHead(size=0, content_type=None, prefix=b"")
            ),
            now,
        ),
        "email_sent": (observe_email_sent(preview.quote_id, row, None), now + timedelta(hours=1)),
    }
    from sqlmodel import Session, select

    from quoteflow.db import get_engine

    with Session(get_engine()) as s:
        checks = s.exec(select(WorkflowVerifyResult).where(WorkflowVerifyResult.run_id == run_id))
        for check in checks:
            observation, at = seen[check.check_name]
            decision = decide(
                "pending", observation, now=at, due_at=check.due_at, deadline=check.deadline
            )
            record_verify_decision(check.id, decision, at)
    accept(preview.quote_id, actor="mike", notes="PO 4411")
    return gate.id, preview.quote_id


def test_no_table_flow_field_or_event_names_on_the_pages_mike_reads(client, fake_prefect):  # noqa: F811
    gate_id, quote_id = decided_quote(fake_prefect)
    pending = stage_gate(
        small_preview(napkins_line(line_total=Decimal("41.50"))),
        ref=f"words-{uuid.uuid4().hex[:6]}",
    )
    email = staged_email()
    pages = {
        "inbox": "/",
        "gate": f"/actions/{pending.id}",
        "decided gate": f"/actions/{gate_id}",
        "email draft": f"/actions/{email.id}",
        "quote": f"/quotes/{quote_id}",
        "contract": "/contract",
    }
    found = {}
    for name, path in pages.items():
        response = client.get(path)
        assert response.status_code == 200, (name, response.status_code)
        text = visible_text(response.text)
        if name == "quote":
            assert "Marked accepted by mike" in text and "PO 4411" in text  # the history
            assert "Approved by mike" in text and "Quote written" in text
        found[name] = jargon_in(text)
    assert not any(found.values()), found
