"""Prefect down is a message, not a traceback. Every decision channel (the CLI, the
approval page, a signed link) with the Prefect API pointed at a closed port: a gate
decision answers "Prefect is not reachable: nothing changed, try again" and leaves the
gate pending; a draft decision needs no Prefect call and is recorded (its run is
started by the trigger or the reconciler once Prefect is back). No Prefect server needed."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from quoteflow.approval_page import create_app
from quoteflow.approval_page.auth import hash_password
from quoteflow.approvals import draft_quote, stage_action
from quoteflow.cli.app import app as cli
from quoteflow.db import get_engine
from quoteflow.models import ActionType, ActionView, ProposedAction
from quoteflow.prefect_api import pointed_at
from quoteflow.quote import QuoteLineView, QuoteRequest
from quoteflow.settings import get_settings
from tests.fixtures.demo import DEMO_CUSTOMER_ID, DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR
from tests.fixtures.page import KEY, free_port, hash_of, link_for, token_of
from tests.fixtures.previews import small_preview

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

MESSAGE = "Prefect is not reachable: nothing changed, try again"


@pytest.fixture
def prefect_down(seeded_db, monkeypatch) -> Iterator[None]:
    """The Prefect API is a closed port; the client gives up at once instead of retrying."""
    monkeypatch.setenv("PREFECT_CLIENT_MAX_RETRIES", "0")
    get_settings.cache_clear()
    with pointed_at(f"http://127.0.0.1:{free_port()}/api"):
        yield
    get_settings.cache_clear()


def waiting_gate() -> ActionView:
    """A pending quote gate whose run (as far as the database knows) waits for Mike."""
    preview = small_preview(
        QuoteLineView(
            line_no=1,
            item_code="FS-1001",
            description="Napkins",
            case_price=Decimal("41.50"),
            cost_basis=Decimal("30.00"),
            margin_pct=Decimal("27.71"),
            price_source="pricing_master",
        ),
        subtotal=Decimal("41.50"),
    )
    return stage_action(
        action_type=ActionType.quote_gate,
        entity_ref=f"test:down:{uuid.uuid4().hex}",
        payload={"preview": preview.model_dump(mode="json"), "workflow_type": "customer_quote"},
        flow_run_id=str(uuid.uuid4()),
    )


def status_of(action_id: int) -> str:
    with Session(get_engine()) as s:
        row = s.get(ProposedAction, action_id)
        assert row is not None
        return row.status


def test_cli_gate_decisions_say_prefect_is_down_and_change_nothing(prefect_down) -> None:
    gate = waiting_gate()
    runner = CliRunner()
    for args in (["actions", "approve", str(gate.id)], ["actions", "reject", str(gate.id)]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 1, result.output
        assert MESSAGE in result.output
        assert "Traceback" not in result.output
        assert isinstance(result.exception, SystemExit)  # a clean exit, not a crash
        assert status_of(gate.id) == "pending"


def test_page_and_link_gate_decisions_say_prefect_is_down(prefect_down) -> None:
    gate = waiting_gate()
    with TestClient(create_app(link_key=KEY), base_url="http://127.0.0.1") as page:
        shown = page.get(f"/actions/{gate.id}")
        assert shown.status_code == 200  # reading needs only the database
        form = {"csrf_token": token_of(shown.text), "expect_hash": hash_of(shown.text)}
        for verb in ("approve", "reject"):
            answer = page.post(f"/actions/{gate.id}/{verb}", data=form)
            assert answer.status_code == 409 and MESSAGE in answer.text, answer.text[:300]
            assert status_of(gate.id) == "pending"

        link = link_for(gate)
        seen = hash_of(page.get(link).text)
        answer = page.post(link, data={"decision": "approve", "expect_hash": seen})
        assert answer.status_code == 409 and MESSAGE in answer.text
        assert status_of(gate.id) == "pending"
        # The link is not spent: once Prefect is back the same link decides.
        assert page.get(link).status_code == 200


def test_page_whose_keys_live_in_prefect_answers_503_not_500(prefect_down) -> None:
    """Served as `quoteflow page serve` serves it: the link and session key are read from
    their Prefect block on first use, which fails while Prefect is down."""
    app = create_app(password_hash=hash_password("correct horse battery"))
    gate = waiting_gate()
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as page:
        for answer in (page.get("/"), page.get(link_for(gate))):
            assert answer.status_code == 503, answer.text[:300]
            assert MESSAGE in answer.text and "Traceback" not in answer.text
    assert status_of(gate.id) == "pending"


def test_a_draft_decision_is_recorded_and_waits_for_prefect(prefect_down) -> None:
    """The draft path needs no Prefect call: the decision is recorded, and the page says
    its run starts once Prefect answers (the trigger or the reconciler starts it)."""
    draft = draft_quote(
        QuoteRequest(
            customer_id=DEMO_CUSTOMER_ID,
            item_codes=list(DEMO_ITEM_CODES[:1]),
            school_year=DEMO_SCHOOL_YEAR,
        )
    )
    with TestClient(
        create_app(link_key=KEY), base_url="http://127.0.0.1", follow_redirects=False
    ) as page:
        shown = page.get(f"/actions/{draft.id}")
        form = {"csrf_token": token_of(shown.text), "expect_hash": hash_of(shown.text)}
        done = page.post(f"/actions/{draft.id}/approve", data=form)
        assert done.status_code == 303, done.text[:300]
        after = page.get(done.headers["location"])
        assert after.status_code == 200 and "Prefect not reachable" in after.text
    assert status_of(draft.id) == "approved"
