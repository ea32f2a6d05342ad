"""One slot of a Prefect global concurrency limit, through Prefect's own
``prefect.concurrency.sync.concurrency`` (its client, its auth, its lease renewal).

The slot is held under a lease that Prefect renews in the background while the block runs,
so a long hold (a hot approval gate) keeps its slot, and a slot held by a process that dies
is freed when the lease runs out (at most ``LEASE_SECONDS`` later).

On a Prefect server backed by SQLite, taking a slot can be answered 503 (the database was
busy) and Prefect's client waits 2 s before asking again; a Prefect server on PostgreSQL
(``QUOTEFLOW_PREFECT_SERVER_DATABASE_URL`` for the local stack) does not do this.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Literal

import httpx
from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError
from prefect.concurrency.sync import concurrency
from prefect.logging import get_logger

# The shortest lease the server accepts; Prefect renews it every 75 % of it.
LEASE_SECONDS = 60.0
_LOCKED = 423  # every slot is taken
log = get_logger("quoteflow.throttle")

SlotOutcome = Literal["held", "full", "no_limit"]


def _refusal(error: ConcurrencySlotAcquisitionError) -> SlotOutcome:
    """What a refused acquisition means: "full" (every slot taken, told not to wait: the
    server's 423) or "no_limit" (strict mode's own refusal, which has no cause); anything
    else (the server failing) raises."""
    cause = error.__cause__
    if cause is None:
        return "no_limit"
    if isinstance(cause, httpx.HTTPStatusError) and cause.response.status_code == _LOCKED:
        return "full"
    raise error


@contextmanager
def limit_slot(name: str, *, wait: bool = True) -> Iterator[SlotOutcome]:
    """Hold one slot of the global concurrency limit ``name`` for the block's duration.
    Yields "held"; "no_limit" (nothing throttled) when no such limit exists; "full" when
    every slot is taken and ``wait`` is False (with ``wait`` it waits for a slot)."""
    with ExitStack() as held:
        try:
            held.enter_context(
                concurrency(
                    name,
                    lease_duration=LEASE_SECONDS,
                    max_retries=None if wait else 0,
                    # strict: a missing limit is told apart from a granted slot
                    strict=True,
                    # a failed renewal must not cut a NetSuite call or a gate short
                    raise_on_lease_renewal_failure=False,
                )
            )
        except ConcurrencySlotAcquisitionError as error:
            outcome = _refusal(error)
            if outcome == "no_limit":
                log.warning("Concurrency limit %r does not exist: not throttled.", name)
        else:
            outcome = "held"
        yield outcome
