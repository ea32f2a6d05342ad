"""Prices from a spreadsheet on Mike's page: the upload form checks or imports a CSV
through the same import as the command, behind the page's form token and login."""

from __future__ import annotations

import html as html_lib
import re
import warnings
from collections.abc import Iterator
from decimal import Decimal

import pytest

from quoteflow.approval_page import create_app
from quoteflow.settings import get_settings
from tests.fixtures.demo import DEMO_CUSTOMER_ID
from tests.fixtures.page import KEY, token_of
from tests.fixtures.pricing import stored_prices

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

HEADER = "customer_id,item_code,case_price,cost_basis\n"


@pytest.fixture
def client(pricing_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("QUOTEFLOW_DATABASE_URL", pricing_db)
    get_settings.cache_clear()
    with TestClient(
        create_app(link_key=KEY), base_url="http://127.0.0.1", follow_redirects=False
    ) as c:
        yield c
    get_settings.cache_clear()


def page_token(client: TestClient) -> str:
    """The form token of this client's session, as the upload form carries it."""
    return token_of(client.get("/pricing").text)


def upload(client: TestClient, text: str, year: str, action: str, token: str | None = None):
    return client.post(
        "/pricing",
        data={"csrf_token": token or page_token(client), "school_year": year, "action": action},
        files={"file": ("district-prices.csv", text.encode(), "text/csv")},
    )


def plain(html: str) -> str:
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_check_then_import_then_a_refused_file(client, pricing_db, import_year):
    form = client.get("/pricing")
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text
    assert token_of(form.text)

    body = HEADER + f"{DEMO_CUSTOMER_ID},FS-1001,41.50,30.00\n{DEMO_CUSTOMER_ID},FS-1002,12.00,\n"
    checked = upload(client, body, import_year, "check")
    assert checked.status_code == 200
    text = plain(checked.text)
    assert "Checked only: nothing saved." in text
    assert f"district-prices.csv, school year {import_year}: 2 price row(s): 2 new" in text
    assert stored_prices(pricing_db) == {}

    saved = upload(client, body, import_year, "import")
    assert saved.status_code == 200 and "Saved." in plain(saved.text)
    assert stored_prices(pricing_db)[(DEMO_CUSTOMER_ID, "FS-1001")].case_price == Decimal("41.50")

    moved = upload(client, HEADER + f"{DEMO_CUSTOMER_ID},FS-1001,45.00,\n", import_year, "check")
    assert "1 changed" in plain(moved.text)
    assert "row 2: customer 1107, FS-1001: $41.50 -> $45.00 (+$3.50, +8.4%)" in plain(moved.text)

    bad = upload(
        client,
        HEADER + f'{DEMO_CUSTOMER_ID},FS-1001,"14,90",\n9999,FS-1002,1.00,\n',
        import_year,
        "import",
    )
    assert bad.status_code == 400
    text = plain(bad.text)
    assert "Nothing was saved: 2 problem(s) in district-prices.csv." in text
    assert "row 2, case_price: '14,90' is not a 2-decimal price" in text
    assert "row 3, customer_id: '9999' is not a known customer" in text
    assert stored_prices(pricing_db)[(DEMO_CUSTOMER_ID, "FS-1001")].case_price == Decimal("41.50")


def test_upload_needs_the_form_token_and_a_file(client, pricing_db, import_year):
    body = HEADER + f"{DEMO_CUSTOMER_ID},FS-1001,41.50,\n"
    assert upload(client, body, import_year, "import", token="stale").status_code == 403
    no_file = client.post(
        "/pricing",
        data={"csrf_token": page_token(client), "school_year": import_year, "action": "import"},
        files={"file": ("", b"", "text/csv")},
    )
    assert no_file.status_code == 400 and "file: choose a CSV file" in plain(no_file.text)
    assert client.post("/pricing", data={"csrf_token": page_token(client)}).status_code == 415
    assert stored_prices(pricing_db) == {}


def test_beyond_loopback_the_upload_needs_a_login(pricing_db, monkeypatch):
    from quoteflow.approval_page.auth import hash_password

    monkeypatch.setenv("QUOTEFLOW_DATABASE_URL", pricing_db)
    get_settings.cache_clear()
    app = create_app(
        link_key=KEY,
        password_hash=hash_password("correct horse battery"),
        allowed_hosts={"quotes.example"},
    )
    with TestClient(app, base_url="https://quotes.example", follow_redirects=False) as c:
        assert c.get("/pricing").status_code == 303
        token = token_of(c.get("/login").text)  # this session's own token: still no login
        body = HEADER + f"{DEMO_CUSTOMER_ID},FS-1001,1.00,\n"
        refused = upload(c, body, "2030-31", "import", token=token)
        assert refused.status_code == 401
    get_settings.cache_clear()
    assert stored_prices(pricing_db) == {}
