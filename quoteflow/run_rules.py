"""Pure rules about a workflow run: retry delays, how step outcomes add up to a run
status, and which verify checks a run stages (what its outcome record says:
quoteflow.outcome)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from quoteflow.models import RunStatus

StepStatus = Literal["completed", "failed", "skipped", "not_run"]
FANOUT_STEPS = ("write_quote", "render_pdf", "send_email", "ns_push", "ar_forecast_touch")

# Contract section 8: check name -> window after the run.
VERIFY_WINDOWS: dict[str, timedelta] = {
    "quote_persisted": timedelta(seconds=2),
    "pdf_stored": timedelta(seconds=10),
    "email_sent": timedelta(seconds=30),
}


def retry_delays(attempts: int, base_seconds: float, max_seconds: float) -> list[float]:
    """Exponential backoff between attempts, capped: 3 attempts from 1.5 s -> [1.5, 3.0]."""
    return [min(base_seconds * 2**i, max_seconds) for i in range(max(attempts - 1, 0))]


class StepOutcome(BaseModel):
    """What one fan-out step did, for the run log and the summary artifact."""

    name: str
    status: StepStatus
    attempts: int = 0
    duration_seconds: float | None = None
    error: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


def fanout_status(steps: list[StepOutcome]) -> RunStatus:
    """completed when every step that should run succeeded; partial when some did;
    failed when none did (or the quote itself was never written)."""
    ran = [s for s in steps if s.status != "skipped"]
    failed = [s for s in ran if s.status in ("failed", "not_run")]
    if not failed:
        return RunStatus.completed
    write = next((s for s in steps if s.name == "write_quote"), None)
    if write is not None and write.status != "completed":
        return RunStatus.failed
    return RunStatus.partial


class VerifyCheckSpec(BaseModel):
    check_name: str
    params: dict[str, Any]
    due_at: datetime
    deadline: datetime


def verify_checks_for(
    *, quote_id: str, pdf_key: str | None, finished_at: datetime, deadline_minutes: int
) -> list[VerifyCheckSpec]:
    """quote_persisted and email_sent always; pdf_stored only when a PDF was made."""
    deadline = finished_at + timedelta(minutes=deadline_minutes)
    specs = [
        VerifyCheckSpec(
            check_name="quote_persisted",
            params={"quote_id": quote_id},
            due_at=finished_at + VERIFY_WINDOWS["quote_persisted"],
            deadline=deadline,
        )
    ]
    if pdf_key:
        specs.append(
            VerifyCheckSpec(
                check_name="pdf_stored",
                params={"quote_id": quote_id, "key": pdf_key},
                due_at=finished_at + VERIFY_WINDOWS["pdf_stored"],
                deadline=deadline,
            )
        )
    specs.append(
        VerifyCheckSpec(
            check_name="email_sent",
            params={"quote_id": quote_id},
            due_at=finished_at + VERIFY_WINDOWS["email_sent"],
            deadline=deadline,
        )
    )
    return specs
