"""The approval page as its own process (`quoteflow page serve`), password on: the link and
session key comes from its Prefect Secret block, read inside the running event loop."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from quoteflow.approval_page.auth import hash_password
from tests.fixtures.page import free_port, token_of

pytestmark = pytest.mark.stack
PASSWORD = "correct horse battery"


@pytest.fixture
def page_process(stack, seeded_db) -> Iterator[str]:
    """A fresh page process, password on; yields its base URL."""
    port = free_port()
    env = dict(
        os.environ,
        PREFECT_API_URL=stack.prefect.api_url,
        QUOTEFLOW_PAGE_PASSWORD_HASH=hash_password(PASSWORD),
        QUOTEFLOW_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", "from quoteflow.cli import main; main()", "page", "serve"]
        + ["--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 150  # a loaded 2-core machine: Prefect imports are slow
    try:
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the page process did not start"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_login_from_a_fresh_page_process(page_process):
    with httpx.Client(base_url=page_process, follow_redirects=False, timeout=20) as c:
        first = c.get("/")  # the first request of the process: no link opened before
        assert first.status_code == 303 and first.headers["location"].startswith("/login")
        form = c.get("/login")
        assert form.status_code == 200
        data = {"csrf_token": token_of(form.text), "password": PASSWORD, "next": "/"}
        logged_in = c.post("/login", data=data)
        assert logged_in.status_code == 303, logged_in.text[:500]
        inbox = c.get("/")
        assert inbox.status_code == 200, inbox.text[:500]
        assert re.search(r"<h1[^>]*>", inbox.text)
        assert c.get("/quotes").status_code == 200


def test_links_pointing_at_loopback_warn_when_mail_leaves_the_machine():
    from quoteflow.links import loopback_link_warning

    warning = loopback_link_warning("http://127.0.0.1:4620", "smtp.office365.com")
    assert warning and "QUOTEFLOW_PUBLIC_BASE_URL" in warning and "smtp.office365.com" in warning
    assert loopback_link_warning("http://127.0.0.1:4620", "127.0.0.1") is None
    assert loopback_link_warning("https://quotes.example.org", "smtp.office365.com") is None


def test_stack_page_on_another_port_sets_the_links_base_url(tmp_path, monkeypatch):
    from devstack.stack.services import page_spec

    monkeypatch.delenv("QUOTEFLOW_PUBLIC_BASE_URL", raising=False)
    assert page_spec(tmp_path, 4711, 4200).env["QUOTEFLOW_PUBLIC_BASE_URL"].endswith(":4711")
    monkeypatch.setenv("QUOTEFLOW_PUBLIC_BASE_URL", "https://quotes.example.org")
    spec = page_spec(tmp_path, 4711, 4200)
    assert spec.env["QUOTEFLOW_PUBLIC_BASE_URL"] == "https://quotes.example.org"
