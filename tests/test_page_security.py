"""The page's doors without a stack: which host names it answers, and the form token that
belongs to one browser session (signed with the link key, so it survives a restart)."""

from __future__ import annotations

import warnings

from quoteflow.approval_page import create_app
from quoteflow.approval_page.auth import hash_password
from tests.fixtures.page import KEY, token_of

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

PASSWORD = "correct horse battery"


def test_loopback_names_are_answered_and_foreign_ones_refused() -> None:
    app = create_app(link_key=KEY)
    for base in ("http://127.0.0.1", "http://localhost:4620", "http://[::1]:4620"):
        with TestClient(app, base_url=base) as c:
            assert c.get("/healthz").status_code == 200, base
    for base in ("http://rebound.example.com", "http://127.0.0.1.example.com"):
        with TestClient(app, base_url=base) as c:
            assert c.get("/healthz").status_code == 421, base
            assert c.get("/login").status_code == 421, base


def test_an_exposed_page_answers_its_own_names() -> None:
    app = create_app(
        link_key=KEY,
        password_hash=hash_password(PASSWORD),
        allowed_hosts={"127.0.0.1", "quotes.example"},
    )
    with TestClient(app, base_url="https://quotes.example") as c:
        assert c.get("/healthz").status_code == 200
    with TestClient(app, base_url="https://elsewhere.example") as c:
        assert c.get("/healthz").status_code == 421


def login(client: TestClient, token: str, password: str = "wrong password") -> int:
    data = {"csrf_token": token, "password": password, "next": "/"}
    return client.post("/login", data=data, follow_redirects=False).status_code


def test_the_form_token_belongs_to_one_browser_session() -> None:
    app = create_app(link_key=KEY, password_hash=hash_password(PASSWORD))
    with (
        TestClient(app, base_url="http://127.0.0.1") as mine,
        TestClient(app, base_url="http://127.0.0.1") as theirs,
    ):
        token = token_of(mine.get("/login").text)
        assert token == token_of(mine.get("/login").text)  # one token for the session
        other = token_of(theirs.get("/login").text)
        assert other != token
        assert login(mine, other) == 403  # another browser's token
        assert login(mine, "") == 403
        assert login(mine, token) == 401  # its own token: on to the password
        assert login(mine, token, PASSWORD) == 303

    # Signed with the link key: a restarted page takes the forms it served before.
    restarted = create_app(link_key=KEY, password_hash=hash_password(PASSWORD))
    with TestClient(app, base_url="http://127.0.0.1") as before:
        token = token_of(before.get("/login").text)
        cookies = dict(before.cookies)
    with TestClient(restarted, base_url="http://127.0.0.1", cookies=cookies) as after:
        assert login(after, token, PASSWORD) == 303
    # Without the session's cookie the token means nothing.
    with TestClient(restarted, base_url="http://127.0.0.1") as stranger:
        assert login(stranger, token, PASSWORD) == 403
