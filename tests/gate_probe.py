"""A flow that only waits at an approval gate, deployed by tests/test_gate_wait.py so the
hot -> cold hand-over runs through a real worker without the whole quote workflow."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from prefect import flow
from prefect.input import RunInput
from prefect.runtime import deployment
from prefect.states import Completed, State
from pydantic import Field

from flows.gate_wait import await_decision_input


class Answer(RunInput):
    decision: Literal["approve", "reject"] = Field(description="Mike's answer.")


@flow(name="gate-probe")
def gate_probe(expires_at: datetime) -> State[None]:
    """Wait for an Answer until ``expires_at``; the final state's message is the answer."""
    answer = await_decision_input(
        Answer, key="gate", expires_at=expires_at, in_deployment=deployment.id is not None
    )
    return Completed(message=answer.decision if answer else "expired")
