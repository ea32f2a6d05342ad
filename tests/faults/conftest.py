"""The fault matrix shares the session stack and database (tests/fixtures)."""

from __future__ import annotations

import httpx
import pytest

from quoteflow.settings import get_settings


def netsuite(stack, action: str, **body):
    """Drive the fake NetSuite server (reset, fail modes) or read what it stored."""
    url = f"{stack.netsuite.base_url}/_fake/{action}"
    if action in ("estimates", "requests"):
        return httpx.get(url, timeout=10).json()
    return httpx.post(url, json=body, timeout=10).json()


@pytest.fixture
def fault_env(stack, seeded_db, monkeypatch):
    """Fast pause polling and retries; NetSuite healthy before and after each case."""
    monkeypatch.setenv("QUOTEFLOW_PAUSE_POLL_SECONDS", "1")
    monkeypatch.setenv("QUOTEFLOW_RETRY_BASE_SECONDS", "0.2")
    get_settings.cache_clear()
    netsuite(stack, "reset")
    yield stack
    netsuite(stack, "reset")
    get_settings.cache_clear()
