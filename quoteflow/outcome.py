"""A customer-quote run's outcome record, built in one place.

Every way a run ends (its fan-out completed, partial or failed; blocked; rejected;
expired; failed on an error; crashed or cancelled) is one ``RunOutcome``: the run log
status and summary, the reflexion narrative and tags, the ledger event type, and the
name and message of the run's final state. The flow's post actions, its abnormal-end
hook, the reconciler's crash recorder and the expired-gate sweep build it here and only
write it, so an outcome reads the same whoever records it: a run that expired while
paused (recorded by itself) reads like one that expired suspended (recorded by the
sweep). Pure.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from quoteflow import WORKFLOW_TYPE
from quoteflow.decision import ApprovalDecision
from quoteflow.models import ActionView, RunStatus
from quoteflow.presentation import format_when
from quoteflow.quote import BlockReason, QuotePreview, QuoteRequest, QuoteWarning
from quoteflow.run_rules import StepOutcome, fanout_status


def reflexion_tags(customer_id: str | None, school_year: str | None) -> list[str]:
    """The reflexion log tags of a customer-quote run."""
    return [WORKFLOW_TYPE, "quote", f"customer:{customer_id}", f"school_year:{school_year}"]


def ledger_event_type(status: RunStatus) -> str:
    """The contract's three ledger events; blocked/rejected/expired runs did not complete."""
    if status == RunStatus.completed:
        return "workflow.completed"
    if status == RunStatus.partial:
        return "workflow.partial"
    return "workflow.failed"


def stranded_reason(state_name: str, since: datetime, message: str | None) -> str:
    """Why a run ended abnormally or is healed:
    ``run Crashed since Thu Dec 3, 2026, 6:00 AM CST: worker lost``."""
    return f"run {state_name} since {format_when(since)}" + (f": {message}" if message else "")


def expiry_reason(expires_at: datetime) -> str:
    """Why a gate's run expired; from the gate alone, so every recorder says the same."""
    return f"no decision before {format_when(expires_at)}"


class RunSubject(BaseModel):
    """What a run is about, as far as it got: the customer and school year from the
    start, the quote once it was priced."""

    customer_id: str | None = None
    customer_name: str | None = None
    school_year: str | None = None
    quote_id: str | None = None
    lines: int = 0
    subtotal: str | None = None
    warnings: list[QuoteWarning] = Field(default_factory=list)

    @classmethod
    def of_preview(cls, preview: QuotePreview) -> RunSubject:
        """The subject of a priced run: the quote's customer, lines, subtotal, warnings."""
        return cls(
            customer_id=preview.customer_id,
            customer_name=preview.customer_name,
            school_year=preview.school_year,
            quote_id=preview.quote_id,
            lines=len(preview.quotable_lines),
            subtotal=str(preview.subtotal),
            warnings=preview.warnings,
        )

    @classmethod
    def of(
        cls,
        request: QuoteRequest,
        preview: QuotePreview | None = None,
        *,
        customer_name: str | None = None,
    ) -> RunSubject:
        """The subject inside the flow: the request, and the preview once there is one."""
        if preview is not None:
            return cls.of_preview(preview)
        return cls(
            customer_id=request.customer_id,
            customer_name=customer_name,
            school_year=request.school_year,
        )

    @classmethod
    def of_record(cls, *records: dict[str, Any]) -> RunSubject:
        """The subject named by recorded dicts (a run's request parameters, its run log
        summary, a gate's preview); for each field the first record naming it wins."""
        merged: dict[str, Any] = {}
        for record in reversed(records):
            merged.update(
                {k: v for k, v in record.items() if k in cls.model_fields and v is not None}
            )
        return cls.model_validate(merged)

    @classmethod
    def of_gate_payload(cls, payload: dict[str, Any]) -> RunSubject:
        """The subject of a quote gate: the preview Mike was shown (whatever it names, if it
        is not a whole preview)."""
        staged = payload.get("preview") or {}
        try:
            return cls.of_preview(QuotePreview.model_validate(staged))
        except ValidationError:
            return cls.of_record(staged)


class FinalState(BaseModel):
    """The run's final Prefect state: Completed or Failed, its name and message."""

    completed: bool
    name: str
    message: str


class RunOutcome(BaseModel):
    """How one run ended, and everything its post-action records say about it."""

    status: RunStatus
    subject: RunSubject
    reason: str | None = None
    gate_action_id: int | None = None
    decision: dict[str, Any] | None = None  # as typed at the gate, without metadata
    steps: list[StepOutcome] = Field(default_factory=list)
    # Crashed or cancelled: recorded for the run by its hook or the reconciler.
    abnormal: bool = False

    # ------------------------------------------------------------ builders

    @classmethod
    def blocked(cls, subject: RunSubject, blocks: list[BlockReason]) -> RunOutcome:
        """A blocking precondition failed: nothing written but the post actions."""
        reason = "; ".join(f"{b.check}: {b.message}" for b in blocks)
        return cls(status=RunStatus.blocked, subject=subject, reason=reason)

    @classmethod
    def held_after_approval(
        cls,
        subject: RunSubject,
        reason: str,
        decision: ApprovalDecision,
        gate_action_id: int,
    ) -> RunOutcome:
        """Mike approved, but the live check before any write stopped the fan-out (the
        customer is on hold in NetSuite now, or NetSuite could not tell): nothing written."""
        return cls(
            status=RunStatus.blocked,
            subject=subject,
            reason=reason,
            gate_action_id=gate_action_id,
            decision=_dump(decision),
        )

    @classmethod
    def rejected(
        cls, subject: RunSubject, decision: ApprovalDecision, gate_action_id: int
    ) -> RunOutcome:
        """Mike rejected the quote at the gate."""
        return cls(
            status=RunStatus.rejected,
            subject=subject,
            gate_action_id=gate_action_id,
            decision=_dump(decision),
        )

    @classmethod
    def expired(cls, subject: RunSubject, gate: ActionView) -> RunOutcome:
        """Nobody decided before the gate's window closed."""
        if gate.expires_at is None:
            raise ValueError(f"gate {gate.id} has no approval window: it cannot expire")
        return cls(
            status=RunStatus.expired,
            subject=subject,
            reason=expiry_reason(gate.expires_at),
            gate_action_id=gate.id,
        )

    @classmethod
    def fanned_out(
        cls,
        subject: RunSubject,
        steps: list[StepOutcome],
        decision: ApprovalDecision | None = None,
        gate_action_id: int | None = None,
    ) -> RunOutcome:
        """After the approved fan-out: completed, partial or failed as its steps add up."""
        return cls(
            status=fanout_status(steps),
            subject=subject,
            gate_action_id=gate_action_id,
            decision=_dump(decision),
            steps=steps,
        )

    @classmethod
    def failed(cls, subject: RunSubject, error: BaseException) -> RunOutcome:
        """The flow itself raised."""
        return cls(
            status=RunStatus.failed, subject=subject, reason=f"{type(error).__name__}: {error}"
        )

    @classmethod
    def crashed(
        cls,
        reason: str,
        *,
        previous: dict[str, Any] | None = None,
        request: dict[str, Any] | None = None,
    ) -> RunOutcome:
        """A run that ended abnormally (crashed, cancelled): what its run log said so far
        (``previous``, a summary) and its request parameters, now failed for ``reason``."""
        previous = previous or {}
        return cls(
            status=RunStatus.failed,
            subject=RunSubject.of_record(request or {}, previous),
            reason=reason,
            gate_action_id=previous.get("gate_action_id"),
            decision=previous.get("decision"),
            steps=[StepOutcome.model_validate(s) for s in previous.get("steps") or []],
            abnormal=True,
        )

    # ------------------------------------------------------------ what is recorded

    @property
    def quote_written(self) -> bool:
        """write_quote completed: the verify checks have a quote to check."""
        return any(s.name == "write_quote" and s.status == "completed" for s in self.steps)

    @property
    def failed_steps(self) -> list[StepOutcome]:
        """The fan-out steps that failed or never ran."""
        return [s for s in self.steps if s.status in ("failed", "not_run")]

    @property
    def event_type(self) -> str:
        """The ledger (and Prefect) event of this outcome."""
        return ledger_event_type(self.status)

    @property
    def tags(self) -> list[str]:
        """The reflexion log tags."""
        return reflexion_tags(self.subject.customer_id, self.subject.school_year)

    @property
    def summary(self) -> dict[str, Any]:
        """The run log summary (also the ledger event's payload)."""
        s = self.subject
        return {
            "status": self.status.value,
            "customer_id": s.customer_id,
            "customer_name": s.customer_name,
            "school_year": s.school_year,
            "quote_id": s.quote_id,
            "lines": s.lines,
            "subtotal": s.subtotal,
            "warnings": [w.model_dump() for w in s.warnings],
            "reason": self.reason,
            "gate_action_id": self.gate_action_id,
            "decision": self.decision,
            "steps": [step.model_dump() for step in self.steps],
        }

    @property
    def narrative(self) -> str:
        """A short, readable account of the run for the reflexion log."""
        s = self.subject
        who = (
            f"{s.customer_name} ({s.customer_id})"
            if s.customer_name
            else f"customer {s.customer_id}"
        )
        parts = [f"Customer quote for {who}, school year {s.school_year}."]
        notes = (self.decision or {}).get("notes")
        if self.abnormal:
            parts.append(f"The run ended abnormally: {self.reason}.")
        elif self.status == RunStatus.blocked and self.decision is not None:
            parts.append(
                f"Mike approved quote {s.quote_id}, but it was blocked before any write: "
                f"{self.reason}."
            )
        elif self.status == RunStatus.blocked:
            parts.append(f"Blocked before any write: {self.reason}.")
        elif self.status == RunStatus.rejected:
            parts.append(f"Mike rejected quote {s.quote_id}" + (f": {notes}." if notes else "."))
        elif self.status == RunStatus.expired:
            parts.append(
                f"No decision on quote {s.quote_id} within the approval window; it expired."
            )
        else:
            parts.extend(self._fanout_story(notes))
        if s.warnings:
            parts.append("Warnings: " + "; ".join(w.message for w in s.warnings) + ".")
        return " ".join(parts)

    def _fanout_story(self, notes: str | None) -> list[str]:
        s = self.subject
        parts: list[str] = []
        if self.decision is not None or self.steps:
            parts.append(
                f"Quote {s.quote_id} with {s.lines} line(s), subtotal {s.subtotal}, approved by Mike."
            )
        if notes:
            parts.append(f"Mike's notes: {notes}.")
        done = [st.name for st in self.steps if st.status == "completed"]
        skipped = [st.name for st in self.steps if st.status == "skipped"]
        failed = [f"{st.name} ({st.error})" for st in self.failed_steps]
        if done:
            parts.append("Done: " + ", ".join(done) + ".")
        if skipped:
            parts.append("Skipped: " + ", ".join(skipped) + ".")
        if failed:
            parts.append("Failed: " + "; ".join(failed) + ".")
        elif self.status == RunStatus.failed and self.reason:
            parts.append(f"Failed: {self.reason}.")
        return parts

    @property
    def final_state(self) -> FinalState:
        """The state the flow returns (an error raises instead; a crash has its own)."""
        s = self.subject
        if self.status == RunStatus.completed:
            return FinalState(
                completed=True,
                name="Completed",
                message=f"quote {s.quote_id} done: {len(self.steps)} steps",
            )
        if self.status == RunStatus.blocked:
            return FinalState(completed=True, name="Blocked", message=self.reason or "")
        if self.status == RunStatus.rejected:
            notes = (self.decision or {}).get("notes")
            return FinalState(completed=True, name="Rejected", message=notes or "rejected by Mike")
        if self.status == RunStatus.expired:
            return FinalState(completed=False, name="Expired", message=self.reason or "")
        if self.steps:
            names = ", ".join(st.name for st in self.failed_steps)
            return FinalState(
                completed=False,
                name="Partial" if self.status == RunStatus.partial else "Failed",
                message=f"{self.status.value}: failed steps: {names}",
            )
        return FinalState(completed=False, name="Failed", message=self.reason or "failed")


def _dump(decision: ApprovalDecision | None) -> dict[str, Any] | None:
    return decision.model_dump(mode="json", exclude={"metadata"}) if decision else None
