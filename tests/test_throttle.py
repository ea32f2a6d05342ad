"""The NetSuite throttle takes and gives back a slot of a Prefect global concurrency
limit on the real server (the slot is what the server counts, not a local counter)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from prefect import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError

from tasks.throttle import _refusal, limit_slot


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
        with limit_slot(name) as first:
            assert first == "held"
            assert _active_slots(name) == 1
            with limit_slot(name, wait=False) as second:
                assert second == "held"
                with limit_slot(name, wait=False) as third:
                    assert third == "full"
                    assert _active_slots(name) == 2
        assert _active_slots(name) == 0
    finally:
        with get_client(sync_client=True) as client:
            client.delete_global_concurrency_limit_by_name(name)


def test_a_missing_limit_throttles_nothing(stack) -> None:
    with limit_slot(f"no-such-limit-{uuid.uuid4().hex[:8]}") as outcome:
        assert outcome == "no_limit"


def test_a_server_error_while_taking_a_slot_is_raised_not_read_as_full_or_missing() -> None:
    request = httpx.Request("POST", "http://127.0.0.1/api/v2/concurrency_limits/increment")
    for status, meaning in ((423, "full"), (500, None), (503, None)):
        error = ConcurrencySlotAcquisitionError("Unable to acquire concurrency slots")
        error.__cause__ = httpx.HTTPStatusError(
            "refused", request=request, response=httpx.Response(status, request=request)
        )
        if meaning is None:
            with pytest.raises(ConcurrencySlotAcquisitionError):
                _refusal(error)
        else:
            assert _refusal(error) == meaning
    assert _refusal(ConcurrencySlotAcquisitionError("must be created first")) == "no_limit"
