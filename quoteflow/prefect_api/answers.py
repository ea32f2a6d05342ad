"""What the Prefect server answers, as the gateway and its implementations share it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from prefect.states import State


@dataclass(frozen=True)
class Answer:
    """The server's answer to a state change: accepted, or why not (and the state the run
    is in when the server says)."""

    accepted: bool
    reason: str = ""
    state: State | None = None


RunOrder = Literal["expected_start", "end_time"]
