"""The contract page as Mike or an operator reads it, on a phone too: the settings the quote
runs used (not the page process's), which services are local stand-ins, no clipped tables."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from quoteflow.approval_page import create_app
from quoteflow.approval_page.contract_view import ran_with, stand_ins
from quoteflow.settings import get_settings
from tests.fixtures.page import KEY, staged_gate
from tests.fixtures.previews import small_preview, stage_gate


@pytest.fixture
def client(seeded_db, monkeypatch) -> Iterator[object]:
    from starlette.testclient import TestClient

    monkeypatch.setenv("QUOTEFLOW_APPROVAL_WINDOW_MINUTES", "60")
    get_settings.cache_clear()
    with TestClient(create_app(link_key=KEY), base_url="http://127.0.0.1") as c:
        yield c
    get_settings.cache_clear()


@pytest.mark.usefixtures("seeded_db")
def test_the_window_the_quote_runs_used_is_read_from_their_gates():
    gate = stage_gate(small_preview(), ref="contract", expires_in=timedelta(minutes=3))
    rows, source = ran_with([gate], window_minutes=60, validity_days=30)
    window = rows[0]
    assert (window.setting, window.as_run, window.page, window.differs) == (
        "Approval window",
        "3 min",
        "60 min",
        True,
    )
    assert source is not None and "newest quote" in source
    assert ran_with([], window_minutes=60, validity_days=30) == ([], None)


def test_services_on_this_machine_are_named_as_local_stand_ins():
    notes = stand_ins(
        {
            "netsuite": "http://127.0.0.1:5510/services/rest",
            "s3": "https://s3.amazonaws.com",
            "smtp": "localhost:5525",
        }
    )
    by_service = {n.service.split(" (")[0]: n for n in notes}
    assert by_service["NetSuite"].stand_in and "fake NetSuite" in by_service["NetSuite"].where
    assert not by_service["PDF storage"].stand_in
    assert by_service["Email to customers and Mike"].stand_in
    assert "SMTP sink" in by_service["Email to customers and Mike"].where
    unknown = stand_ins({})
    assert not any(n.stand_in for n in unknown)
    assert all("not configured" in n.where for n in unknown)


def test_the_contract_page_shows_how_it_runs_here_in_cards(client):
    staged_gate()  # an older gate with the page's hour does not matter: the newest decides
    stage_gate(small_preview(), ref="contract-page", expires_in=timedelta(minutes=3))
    page = client.get("/contract").text
    ran = page[page.index('id="ran-with"') : page.index('id="services"')]
    assert "differ from this page" in ran and "(this page: 60 min)" in ran
    assert 'class="list scroll"' not in page  # tables become cards on a phone, never clipped
    assert page.count('<table class="cards">') >= 5
    assert 'data-label="target"' in page
