"""Pure rules of the verify sweep (contract section 8): what an observation of a check
means, and which status a pending check moves to at a given time.

A check is *satisfied* (pass), *not yet* satisfied (stays pending until its deadline,
then timeout), *impossible* (can never pass: fail), *moot* because of a normal outcome
(Mike declined the email: skipped, with the reason), or could not be observed because of
an unexpected *error* (like not yet: pending until the deadline, then timeout). The
I/O that produces observations lives in tasks/verify.py.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from quoteflow.models import VerifyStatus
from quoteflow.presentation import format_when

Outcome = Literal["satisfied", "not_yet", "impossible", "moot", "error"]
CHECK_NAMES = ("quote_persisted", "pdf_stored", "email_sent")
PDF_SIGNATURE = b"%PDF-"
MAX_DETAIL = 1000


class Observation(BaseModel):
    """What one evaluation of a check saw, in words a person can read."""

    outcome: Outcome
    detail: str


class CheckVerdict(BaseModel):
    """A check's status after an evaluation, with the detail to record."""

    status: VerifyStatus
    detail: str
    evaluated: bool  # False when the check was not due or already finished: nothing to record


class QuoteRow(BaseModel):
    """The contract's quote_persisted query result: ``SELECT id, lifecycle_status ...``."""

    id: str
    lifecycle_status: str


class StoredPdfHead(BaseModel):
    """What a HEAD (and the first bytes) of the stored object showed."""

    size: int
    content_type: str | None
    prefix: bytes  # the object's first bytes (empty for an empty object)


def when(moment: datetime) -> str:
    """A moment as people read it in a detail string (the one format, Mike's time zone)."""
    return format_when(moment)


def clip(text: str, limit: int = MAX_DETAIL) -> str:
    """Keep recorded details bounded (an exception message can be huge)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def required_param(params: dict[str, Any], name: str) -> str | None:
    """A non-empty string parameter of a check, or None when it is missing or malformed."""
    value = params.get(name)
    return value if isinstance(value, str) and value.strip() else None


def malformed(check_name: str, params: dict[str, Any]) -> Observation | None:
    """A check this sweep can never evaluate (unknown name, missing parameters): it can
    never pass, so it fails rather than waiting for its deadline. None when usable."""
    if check_name not in CHECK_NAMES:
        return Observation(outcome="impossible", detail=f"unknown check {check_name!r}")
    if required_param(params, "quote_id") is None:
        return Observation(outcome="impossible", detail="params has no quote_id")
    if check_name == "pdf_stored" and required_param(params, "key") is None:
        return Observation(outcome="impossible", detail="params has no object key")
    return None


def quote_gone(quote_id: str) -> Observation:
    return Observation(outcome="impossible", detail=f"quote {quote_id} is not in quotes")


def observe_quote_persisted(quote_id: str, row: QuoteRow | None) -> Observation:
    """Satisfied when the quote row exists; impossible once it is gone (the check is
    staged only after the run wrote it)."""
    if row is None:
        return quote_gone(quote_id)
    return Observation(
        outcome="satisfied",
        detail=f"quote {row.id} is in quotes (lifecycle {row.lifecycle_status})",
    )


# A quote in one of these states will never be emailed on Mike's behalf: he decided it.
_DECIDED_QUOTE = {
    "accepted": "was accepted",
    "rejected": "was declined",
    "expired": "expired",
    "superseded": "was replaced by a newer quote",
}
# An email draft in one of these states will never be sent.
_DECIDED_DRAFT = {
    "rejected": "Mike declined the email (chose not to send it)",
    "expired": "the email draft expired unsent",
}


def observe_email_sent(
    quote_id: str,
    quote: QuoteRow | None,
    email_log_id: int | None,
    draft_status: str | None = None,
) -> Observation:
    """Satisfied when outbound_email_log has a message for the quote. The email waits for
    Mike's approval, so its absence means not yet, unless the quote itself is gone, or the
    email will never be sent by decision: Mike chose not to send the draft (``draft_status``)
    or the quote was already decided (accepted, declined, expired, replaced). Then the check
    is moot: recorded once, never retried."""
    if quote is None:
        return quote_gone(quote_id)
    if email_log_id is not None:
        return Observation(
            outcome="satisfied",
            detail=f"quote {quote_id} emailed (outbound_email_log id {email_log_id})",
        )
    why = _DECIDED_DRAFT.get(draft_status or "") or (
        f"quote {quote_id} {_DECIDED_QUOTE[quote.lifecycle_status]} before its email was sent"
        if quote.lifecycle_status in _DECIDED_QUOTE
        else None
    )
    if why is not None:
        return Observation(outcome="moot", detail=f"not sent by decision: {why}")
    return Observation(
        outcome="not_yet", detail=f"no outbound_email_log row for quote {quote_id} yet"
    )


def observe_pdf_stored(
    quote_id: str, key: str, quote: QuoteRow | None, head: StoredPdfHead | None
) -> Observation:
    """Satisfied when the object exists and starts with the %PDF- signature; impossible
    when the quote is gone or the object is not a PDF; not yet when there is no object."""
    if quote is None:
        return quote_gone(quote_id)
    if head is None:
        return Observation(outcome="not_yet", detail=f"no object at {key}")
    if head.size == 0:
        return Observation(outcome="impossible", detail=f"{key} is empty (0 bytes), not a PDF")
    if not head.prefix.startswith(PDF_SIGNATURE):
        return Observation(
            outcome="impossible",
            detail=f"{key} is not a PDF: starts with {head.prefix[:8]!r} "
            f"({head.size:,} bytes, content type {head.content_type or 'none'})",
        )
    return Observation(
        outcome="satisfied",
        detail=f"{key} stored: {head.size:,} bytes, %PDF signature, "
        f"content type {head.content_type or 'none'}",
    )


def observe_error(exc: BaseException) -> Observation:
    """An unexpected error while checking: recorded, and retried by the next sweep."""
    return Observation(outcome="error", detail=clip(f"error: {type(exc).__name__}: {exc}"))


def decide(
    status: str, observation: Observation, *, now: datetime, due_at: datetime, deadline: datetime
) -> CheckVerdict:
    """The status a check moves to. Finished checks never change (sweeps are
    idempotent); a check before its window is not judged; a satisfied check passes
    whenever it is seen; an unsatisfied one times out at its deadline."""
    current = VerifyStatus(status)
    if current != VerifyStatus.pending:
        return CheckVerdict(status=current, detail="already finished", evaluated=False)
    if now < due_at:
        return CheckVerdict(status=current, detail=f"not due until {when(due_at)}", evaluated=False)
    if observation.outcome == "satisfied":
        return CheckVerdict(status=VerifyStatus.passed, detail=observation.detail, evaluated=True)
    if observation.outcome == "impossible":
        return CheckVerdict(status=VerifyStatus.failed, detail=observation.detail, evaluated=True)
    if observation.outcome == "moot":
        return CheckVerdict(status=VerifyStatus.skipped, detail=observation.detail, evaluated=True)
    if now >= deadline:
        return CheckVerdict(
            status=VerifyStatus.timeout,
            detail=clip(f"not satisfied by the deadline {when(deadline)}: {observation.detail}"),
            evaluated=True,
        )
    return CheckVerdict(
        status=VerifyStatus.pending,
        detail=clip(f"{observation.detail}; retrying until {when(deadline)}"),
        evaluated=True,
    )


def event_type_for(status: VerifyStatus) -> str | None:
    """The ledger event of a finished check: verify.failed, verify.timeout, or none."""
    if status == VerifyStatus.failed:
        return "verify.failed"
    if status == VerifyStatus.timeout:
        return "verify.timeout"
    return None


def event_key(check_id: int, status: VerifyStatus) -> str:
    """One ledger event per check and outcome, so repeated sweeps collapse."""
    return f"verify:{check_id}:{status.value}"


def sweep_counts(new_statuses: list[str], errors: int = 0) -> dict[str, int]:
    """Counts by new status of the checks a sweep evaluated, plus totals."""
    by_status = Counter(new_statuses)
    counts = {s.value: by_status.get(s.value, 0) for s in VerifyStatus}
    counts["evaluated"] = len(new_statuses)
    counts["errors"] = errors
    return counts
