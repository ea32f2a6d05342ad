"""The approval page behind a reverse proxy: the login limiter counts each person. Served
by uvicorn as `quoteflow page serve` serves it (quoteflow.approval_page.proxy), on a real
socket: every request comes from 127.0.0.1, as it would from a proxy on the same host."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from quoteflow.approval_page import create_app
from quoteflow.approval_page.auth import hash_password
from quoteflow.approval_page.proxy import page_server_config
from tests.fixtures.page import KEY, free_port, token_of

PASSWORD = "correct horse battery"
HASH = hash_password(PASSWORD)


@contextlib.contextmanager
def page(trusted: list[str]) -> Iterator[httpx.Client]:
    port = free_port()
    app = create_app(link_key=KEY, password_hash=HASH, allowed_hosts={"127.0.0.1"})
    server = uvicorn.Server(
        page_server_config(app, host="127.0.0.1", port=port, trusted_proxies=trusted)
    )
    server.config.log_level = "warning"
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the page did not start"
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)


def login(client: httpx.Client, password: str, forwarded_for: str | None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    token = token_of(client.get("/login", headers=headers).text)
    return client.post(
        "/login", data={"csrf_token": token, "password": password, "next": "/"}, headers=headers
    )


def lock_out(client: httpx.Client, forwarded_for: str) -> None:
    for _ in range(5):
        assert login(client, "a wrong guess", forwarded_for).status_code == 401
    assert login(client, PASSWORD, forwarded_for).status_code == 429


def test_trusted_proxy_the_limiter_counts_each_client_behind_it() -> None:
    with page(["127.0.0.1"]) as client:
        lock_out(client, "203.0.113.7")
        # Another person behind the same proxy is not locked out by the first one's typos.
        assert login(client, PASSWORD, "198.51.100.20").status_code == 303
        # A chain: the address the trusted proxy saw (right-most untrusted one) counts,
        # not whatever the client put first.
        assert login(client, PASSWORD, "198.51.100.99, 203.0.113.7").status_code == 429


def test_no_trusted_proxy_forwarded_headers_are_ignored() -> None:
    with page([]) as client:
        lock_out(client, "203.0.113.7")
        # The header is anyone's to forge: without a trusted proxy it changes nothing,
        # so a new X-Forwarded-For does not escape the lock.
        assert login(client, PASSWORD, "198.51.100.20").status_code == 429
        assert login(client, PASSWORD, None).status_code == 429


def test_a_proxy_not_on_the_list_is_not_believed() -> None:
    with page(["10.0.0.1"]) as client:  # the request comes from 127.0.0.1: not a proxy
        lock_out(client, "203.0.113.7")
        assert login(client, PASSWORD, "198.51.100.20").status_code == 429


@pytest.mark.parametrize(
    ("env", "expected"),
    [(None, []), ('["127.0.0.1", "10.0.0.0/8"]', ["127.0.0.1", "10.0.0.0/8"])],
)
def test_the_setting_is_off_by_default(monkeypatch, env, expected) -> None:
    from quoteflow.settings import Settings

    if env is None:
        monkeypatch.delenv("QUOTEFLOW_PAGE_TRUSTED_PROXIES", raising=False)
    else:
        monkeypatch.setenv("QUOTEFLOW_PAGE_TRUSTED_PROXIES", env)
    assert Settings().page_trusted_proxies == expected
