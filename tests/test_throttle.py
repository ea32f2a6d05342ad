"""The NetSuite throttle takes and gives back a slot of a Prefect global concurrency
limit on the real server (the slot is what the server counts, not a local counter)."""

from __future__ import annotations

import uuid

from prefect import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

from tasks.throttle import limit_slot


def _active_slots(name: str) -> int:
    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(name).active_slots


def test_slots_are_held_inside_the_block_refused_when_full_and_given_back(stack) -> None:
    name = f"test-throttle-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=name, limit=2, active=True)
        )
    try:
        with limit_slot(name, hold_seconds=5) as first:
            assert first == "held"
            assert _active_slots(name) == 1
            with limit_slot(name, hold_seconds=5, wait=False) as second:
                assert second == "held"
                with limit_slot(name, hold_seconds=5, wait=False) as third:
                    assert third == "full"
                    assert _active_slots(name) == 2
        assert _active_slots(name) == 0
    finally:
        with get_client(sync_client=True) as client:
            client.delete_global_concurrency_limit_by_name(name)


def test_a_missing_limit_throttles_nothing(stack) -> None:
    with limit_slot(f"no-such-limit-{uuid.uuid4().hex[:8]}", hold_seconds=5) as outcome:
        assert outcome == "no_limit"
