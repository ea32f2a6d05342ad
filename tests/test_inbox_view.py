"""Mike's inbox as a triage list: grouped by quote, sorted by deadline, badges, paged history
(pure view model), and the page that shows it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from quoteflow.approval_page.inbox_view import build_inbox, paginate, quote_flags
from quoteflow.models import ActionType, ActionView
from quoteflow.quote import QuoteLineView, QuoteWarning
from tests.fixtures.previews import small_preview

NOW = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)


def _action(
    id_: int,
    action_type: str,
    payload: dict,
    *,
    status: str = "pending",
    minutes_ago: int = 0,
    expires_in: int | None = None,
    run: str | None = None,
    claimed: str | None = None,
    decided_ago: int | None = None,
) -> ActionView:
    return ActionView(
        id=id_,
        action_type=action_type,
        entity_ref=f"ref:{id_}",
        status=status,
        payload=payload,
        payload_hash="h",
        approver="mike",
        decision_notes=None,
        decided_at=NOW - timedelta(minutes=decided_ago) if decided_ago is not None else None,
        approved_payload_hash=None,
        flow_run_id=run,
        expires_at=NOW + timedelta(minutes=expires_in) if expires_in is not None else None,
        created_at=NOW - timedelta(minutes=minutes_ago),
        claimed_by_run_id=claimed,
    )


def _gate(id_: int, quote_id: str, **kw) -> ActionView:
    preview = small_preview(customer_name=f"District {quote_id}").model_copy(
        update={"quote_id": quote_id}
    )
    return _action(id_, ActionType.quote_gate, {"preview": preview.model_dump(mode="json")}, **kw)


def _email(id_: int, quote_id: str, **kw) -> ActionView:
    payload = {
        "quote_id": quote_id,
        "to": "buyer@example.org",
        "to_name": "Dana Buyer",
        "subject": f"Quote {quote_id}",
        "body": "Hello",
        "pdf_key": None,
        "message_id": f"<{quote_id}@x>",
    }
    return _action(id_, ActionType.send_quote, payload, **kw)


def _draft(id_: int, **kw) -> ActionView:
    request = {"customer_id": "1107", "item_codes": ["FS-1001"], "school_year": "2026-27"}
    return _action(id_, ActionType.quote_draft, {"request": request}, **kw)


def _inbox(actions, page: int = 1):
    return build_inbox(
        actions, summary=lambda a: f"#{a.id}", now=NOW, names={"1107": "Cedar Ridge"}, page=page
    )


def test_a_draft_its_gate_and_its_email_sit_under_one_quote_heading():
    actions = [
        _draft(1, status="approved", minutes_ago=30, claimed="run-a", decided_ago=29),
        _gate(2, "Q-A", status="approved", minutes_ago=28, run="run-a", decided_ago=20),
        _email(3, "Q-A", minutes_ago=19),
        _draft(4, minutes_ago=5),  # a new draft: a group of its own
    ]
    inbox = _inbox(actions)
    [quote_a] = [g for g in inbox.waiting if g.key == "quote:Q-A"]
    assert [i.action.id for i in quote_a.items] == [1, 2, 3]
    assert quote_a.heading == "Quote Q-A · District Q-A · 2026-27"
    [lone] = [g for g in inbox.waiting if g.key == "action:4"]
    assert lone.heading == "New quote · Cedar Ridge · 2026-27"


def test_waiting_quotes_are_sorted_by_deadline_then_newest_without_one():
    actions = [
        _gate(1, "Q-LATE", minutes_ago=50, expires_in=55, run="r1"),
        _gate(2, "Q-SOON", minutes_ago=10, expires_in=5, run="r2"),
        _draft(3, minutes_ago=40),
        _draft(4, minutes_ago=1),
    ]
    order = [g.key for g in _inbox(actions).waiting]
    assert order == ["quote:Q-SOON", "quote:Q-LATE", "action:4", "action:3"]


def test_badges_say_what_needs_a_look():
    preview = small_preview(
        QuoteLineView(
            line_no=1, item_code="FS-1", case_price=Decimal("0.00"), price_source="override"
        ),
        QuoteLineView(
            line_no=2, item_code="FS-2", case_price=Decimal("9.00"), cost_basis=Decimal("8.50")
        ),
    ).model_copy(
        update={
            "warnings": [
                QuoteWarning(check="margin_floor", message="m", item_codes=["FS-2"]),
                QuoteWarning(check="items_resolved", message="u", item_codes=["ZZ-1", "ZZ-2"]),
                QuoteWarning(check="pricing_found", message="p", item_codes=["FS-3"]),
            ]
        }
    )
    labels = [f.label for f in quote_flags(preview)]
    assert labels == [
        "1 under your floor",
        "1 line at $0.00",
        "2 unknown items",
        "1 item without price",
    ]
    assert quote_flags(small_preview()) == []


def test_recently_decided_is_paged_ten_quotes_at_a_time():
    decided = [
        _gate(n, f"Q-{n:02d}", status="approved", minutes_ago=100 + n, decided_ago=n, run=f"r{n}")
        for n in range(1, 24)
    ]
    first, third = _inbox(decided).decided, _inbox(decided, page=3).decided
    assert (first.number, first.pages, len(first.items)) == (1, 3, 10)
    assert first.items[0].key == "quote:Q-01"  # newest decision first
    assert first.newer is None and first.older == 2
    assert (len(third.items), third.older, third.newer) == (3, None, 2)
    assert paginate([], 5).number == 1 and _inbox(decided, page=99).decided.number == 3


@pytest.fixture
def client(seeded_db) -> Iterator[object]:
    from starlette.testclient import TestClient

    from quoteflow.approval_page import create_app
    from quoteflow.settings import get_settings
    from tests.fixtures.page import KEY

    get_settings.cache_clear()
    with TestClient(create_app(link_key=KEY), base_url="http://127.0.0.1") as c:
        yield c


def test_the_inbox_page_shows_quote_headings_and_pages_history(client):
    from quoteflow.approvals import expire
    from tests.fixtures.page import staged_email

    for _ in range(11):
        expire(staged_email().id)
    waiting = staged_email()
    page = client.get("/").text
    pending = page[page.index('id="pending"') : page.index('id="decided"')]
    quote_id = waiting.payload["quote_id"]
    assert f"Quote {quote_id}" in pending and "email to Dana Buyer" in pending
    decided = page[page.index('id="decided"') :]
    assert decided.count('class="group"') == 10 and 'href="/?page=2#decided"' in decided
    second = client.get("/?page=2").text
    assert 'href="/?page=1#decided"' in second and "Page 2 of" in second
    assert client.get("/?page=nonsense").status_code == 200
