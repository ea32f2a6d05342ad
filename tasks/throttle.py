"""One slot of a Prefect global concurrency limit, taken without Prefect's 2 s retry.

Why not ``prefect.concurrency.sync.concurrency``: on a Prefect server backed by SQLite,
taking a slot is a read-then-write transaction that the server answers with HTTP 503
(SQLITE_BUSY_SNAPSHOT) whenever another write lands in between - which the fan-out's own
task-run events do all the time. Prefect's client then sleeps 2**n s (2 s, then 4 s; it
sleeps even when told not to retry) before asking again: that was ns_push's 2-6 s
(measured in the flow-run process: 0.02-0.1 s without a 503, ~2 s with one). Here the same
REST calls (``/v2/concurrency_limits/increment-with-lease`` and ``decrement-with-lease``)
are made with plain httpx and retried after 50 ms-3 s. The limit, its slots and leases stay
Prefect's: a slot held by a process that dies is freed when its lease runs out.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import httpx
from prefect.logging import get_logger
from prefect.settings import get_current_settings

_BUSY = 503  # the server's answer to a busy SQLite database
_LOCKED = 423  # every slot is taken: the server says when to ask again (Retry-After)
_BACKOFF = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)
log = get_logger("quoteflow.throttle")


def _api() -> httpx.Client:
    """An httpx client for the Prefect API this process uses, authenticated like Prefect's."""
    api = get_current_settings().api
    if not api.url:
        raise RuntimeError("PREFECT_API_URL is not set: no server holds the concurrency limit")
    headers: dict[str, str] = {}
    if api.auth_string:
        token = base64.b64encode(api.auth_string.get_secret_value().encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    elif api.key:
        headers["Authorization"] = f"Bearer {api.key.get_secret_value()}"
    return httpx.Client(base_url=api.url.rstrip("/") + "/", headers=headers, timeout=30)


def _post(api: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST; on 503 ask again soon (seven times, 6.35 s in all); other errors raise."""
    for delay in (*_BACKOFF, None):
        response = api.post(path, json=body)
        if response.status_code != _BUSY or delay is None:
            return response
        time.sleep(delay)
    raise AssertionError("unreachable")


SlotOutcome = Literal["held", "full", "no_limit"]


@contextmanager
def limit_slot(name: str, *, hold_seconds: float, wait: bool = True) -> Iterator[SlotOutcome]:
    """Hold one slot of the global concurrency limit ``name`` for the block's duration.
    Yields "held"; "no_limit" (nothing throttled) when no such limit exists; "full" when
    every slot is taken and ``wait`` is False (with ``wait`` it waits for a slot).
    ``hold_seconds`` bounds the block: the lease lasts twice that (1 min to 1 day)."""
    lease_duration = min(max(60.0, hold_seconds * 2), 86_400.0)
    with _api() as api:
        while True:
            response = _post(
                api,
                "v2/concurrency_limits/increment-with-lease",
                {
                    "names": [name],
                    "slots": 1,
                    "mode": "concurrency",
                    "lease_duration": lease_duration,
                },
            )
            if response.status_code != _LOCKED:
                break
            if not wait:
                yield "full"
                return
            time.sleep(float(response.headers.get("Retry-After", 1)))
        response.raise_for_status()
        body = response.json()
        if not body.get("limits"):
            log.warning("Concurrency limit %r does not exist: not throttled.", name)
            yield "no_limit"
            return
        lease_id = body["lease_id"]
        try:
            yield "held"
        finally:
            released = _post(
                api, "v2/concurrency_limits/decrement-with-lease", {"lease_id": lease_id}
            )
            if released.is_error:  # the lease frees the slot when it runs out
                log.warning(
                    "Could not release a %r slot (lease %s): %s", name, lease_id, released.text
                )
