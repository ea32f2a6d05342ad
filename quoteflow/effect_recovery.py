"""Every approved effect gets done once its service is back, and what cannot be done
automatically is put to Mike once, with the way out.

The reconciler's pass over approved effects (``recover_effects``):
- a send-quote-email run that failed on a cause that may pass (relay unreachable or
  not answering, a temporary 4xx) is re-driven with the fan-out steps' policy
  (``quoteflow.recovery``: at most ``redrive_max`` times, ``redrive_interval`` apart),
  then dead-lettered with one alert naming ``quoteflow recover redrive <run>``; a
  permanent refusal is dead-lettered at once (its step already alerted);
- an email whose delivery is in doubt (the SMTP session broke after the message may have
  been handed over, or the sending process was killed mid-send) is never re-sent on its
  own: Mike is alerted once per message with exactly what to check, and
  ``quoteflow recover release-email <quote> --sent|--not-sent`` records his answer;
- a customer-quote run that ended Failed or Cancelled while its gate waited gets its gate
  closed (``quoteflow.gate_close``) with one alert.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel

from quoteflow import ledger, quote_store
from quoteflow.db import session_scope
from quoteflow.gate_close import close_abandoned_gate
from quoteflow.mail import EmailDraft
from quoteflow.models import (
    ActionStatus,
    OutboundEmailLog,
    ProposedAction,
    RecoveryStatus,
)
from quoteflow.prefect_api import ended_runs_of
from quoteflow.presentation import format_when
from quoteflow.recovery import (
    QUOTE_DEPLOYMENT,
    SEND_DEPLOYMENT,
    Recovered,
    RecoveryPolicy,
    _lift_and_redrive,
    _redrive_or_dead_letter,
    dead_letter,
    recovery_of,
)
from quoteflow.sending import EMAIL_SENT_EVENT, SentEmail, read_sent_email, sent_key
from quoteflow.settings import approver_or_default

EMAIL_RELEASED_EVENT = "email.released"
SEND_STEP = "deliver_quote_email"
# A send run that failed with one of these refused for good (bad or changed action, a
# 5xx refusal, a delivery in doubt): re-driving it cannot help.
_PERMANENT_FAILURES = ("PermanentStepError", "SendRefusedError", "NotSentAgainError")


def send_failure_retryable(state_message: str | None) -> bool:
    """Whether a failed send run's failure may pass (the relay unreachable, a timeout
    before the data, a temporary refusal): everything but the permanent failures."""
    return not any(name in (state_message or "") for name in _PERMANENT_FAILURES)


# ---------------------------------------------------------------- the email in doubt


def in_doubt_key(message_id: str) -> str:
    """The ledger key of the one alert for a message whose delivery is in doubt."""
    return f"alert:email-in-doubt:{message_id}"


def alert_email_in_doubt(sent: SentEmail, run_id: str) -> bool:
    """Tell Mike, once per message, that this email may or may not have gone out, what to
    look for, and the two commands that settle it. True when newly alerted."""
    when = format_when(sent.sent_at)
    return ledger.record_alert(
        run_id=run_id,
        step=SEND_STEP,
        attempts=1,
        error=(
            f"The email to {sent.to} (subject: {sent.subject}) was being handed to the mail "
            f"relay at {when} when the connection broke or the sending process stopped. "
            "It may have gone out or not; quoteflow does not send it again on its own, so "
            "the customer never gets it twice."
        ),
        key=in_doubt_key(sent.message_id),
        headline=f"Check whether the quote {sent.quote_id} email reached {sent.to}",
        what_to_do=(
            f"look in your Sent folder or the mail relay's log for the message to {sent.to} "
            f"around {when} (Message-ID {sent.message_id}). If it went out, run "
            f"`quoteflow recover release-email {sent.quote_id} --sent`; if it did not, run "
            f"`quoteflow recover release-email {sent.quote_id} --not-sent` and it is sent "
            "once."
        ),
    )


class ReleaseError(ValueError):
    """Nothing to release: no email of that quote is in doubt."""


class Released(BaseModel):
    """What ``release_email`` recorded."""

    quote_id: str
    message_id: str
    verdict: Literal["sent", "not_sent"]
    run_id: str | None
    redrive: str | None = None  # what happened to the run that will send it (not_sent)


def email_in_doubt(quote_id: str) -> SentEmail:
    """The quote's email whose delivery is in doubt (claimed, never confirmed)."""
    with session_scope() as s:
        ids = list(
            s.execute(
                sa.select(OutboundEmailLog.message_id).where(
                    OutboundEmailLog.related_quote_id == quote_id
                )
            ).scalars()
        )
    rows = [r for r in (read_sent_email(m) for m in ids) if r is not None]
    doubtful = [r for r in rows if not r.confirmed]
    if doubtful:
        return doubtful[0]
    if rows:
        raise ReleaseError(
            f"the email of quote {quote_id} to {rows[0].to} was sent at "
            f"{format_when(rows[0].sent_at)} and confirmed: nothing is in doubt"
        )
    raise ReleaseError(f"no email of quote {quote_id} is in doubt (none was claimed for sending)")


def _claiming_run(proposed_action_id: int | None) -> str | None:
    if proposed_action_id is None:
        return None
    with session_scope() as s:
        row = s.get(ProposedAction, proposed_action_id)
        return row.claimed_by_run_id if row else None


def release_email(quote_id: str, *, sent: bool, by: str | None = None) -> Released:
    """Settle an email in doubt after a person checked: ``sent`` records it as sent (the
    ``email.sent`` confirmation, the quote marked sent); not ``sent`` drops the claim so
    exactly one new send may happen, and re-drives the run that claimed the email. Both
    are recorded in the ledger (``email.released``), once per claim."""
    by = approver_or_default(by)
    doubt = email_in_doubt(quote_id)
    run_id = _claiming_run(doubt.proposed_action_id)
    verdict: Literal["sent", "not_sent"] = "sent" if sent else "not_sent"
    key = f"email-released:{doubt.message_id}:{doubt.sent_at:%Y%m%dT%H%M%S%f}"
    payload: dict[str, Any] = {
        "quote_id": quote_id,
        "message_id": doubt.message_id,
        "to": doubt.to,
        "verdict": verdict,
        "by": by,
        "claimed_at": doubt.sent_at.isoformat(),
        "run_id": run_id,
    }
    if sent:
        ledger.record_event(
            EMAIL_SENT_EVENT,
            sent_key(doubt.message_id),
            payload={**payload, "sent_at": doubt.sent_at.isoformat(), "confirmed_by": by},
            resource_id=f"quoteflow.quote.{quote_id}",
        )
        quote_store.mark_sent(quote_id)
        ledger.record_event(
            EMAIL_RELEASED_EVENT, key, payload=payload, resource_id=f"quoteflow.quote.{quote_id}"
        )
        return Released(
            quote_id=quote_id, message_id=doubt.message_id, verdict=verdict, run_id=run_id
        )
    # The release is recorded before the claim goes: a crash in between leaves the email
    # in doubt (the command says so again), never sendable twice.
    ledger.record_event(
        EMAIL_RELEASED_EVENT, key, payload=payload, resource_id=f"quoteflow.quote.{quote_id}"
    )
    with session_scope() as s:
        s.execute(
            sa.delete(OutboundEmailLog).where(
                OutboundEmailLog.message_id == doubt.message_id,
                OutboundEmailLog.sent_at == doubt.sent_at,
            )
        )
    redrive = None
    if run_id is not None:
        from quoteflow.prefect_api import is_unreachable

        try:
            count = _lift_and_redrive(
                run_id, SEND_DEPLOYMENT, f"email released as not sent by {by}"
            )
            redrive = f"its run {run_id} re-driven (#{count}): it sends the email once"
        except Exception as exc:
            if not is_unreachable(exc):
                raise
            redrive = (
                f"Prefect is not reachable: run `quoteflow recover redrive {run_id}` once it "
                "is back (the email is released; it is sent once)"
            )
    return Released(
        quote_id=quote_id,
        message_id=doubt.message_id,
        verdict=verdict,
        run_id=run_id,
        redrive=redrive,
    )


# ---------------------------------------------------------------- the reconciler's pass


def _send_run(run: Any, policy: RecoveryPolicy, now: datetime) -> Recovered | None:
    """One failed send-quote-email run: re-drive, dead-letter or alert in doubt."""
    from quoteflow.approvals import ApprovalError, get_action

    run_id = str(run.id)
    action_id = (run.parameters or {}).get("proposed_action_id")
    if not isinstance(action_id, int):
        return None
    try:
        action = get_action(action_id)
    except ApprovalError:
        return None
    if action.status != ActionStatus.approved or _claiming_run(action_id) != run_id:
        return None  # not approved, or another run took it over
    try:
        draft = EmailDraft.model_validate(action.payload)
    except ValueError:
        return None
    sent = read_sent_email(draft.message_id)
    if sent is not None and sent.confirmed:
        return None  # it went out (a later run, or Mike released it as sent)
    rec = recovery_of(run_id)
    if sent is not None:  # in doubt: Mike decides, never the reconciler
        alert_email_in_doubt(sent, run_id)
        if rec is not None and rec.status == RecoveryStatus.dead_letter:
            return None
        why = f"delivery of {draft.message_id} to {draft.to} is in doubt; waiting for Mike"
        dead_letter(run_id, SEND_DEPLOYMENT, why, rec.redrives if rec else 0, alert=False)
        return Recovered(kind="dead_letter", subject=SEND_DEPLOYMENT, run_id=run_id, detail=why)
    message = run.state.message if run.state is not None else None
    return _redrive_or_dead_letter(
        run_id,
        SEND_DEPLOYMENT,
        f"email {draft.message_id} to {draft.to} not sent: {(message or 'failed')[:300]}",
        retryable=send_failure_retryable(message),
        policy=policy,
        now=now,
    )


def redrive_failed_sends(policy: RecoveryPolicy, now: datetime) -> list[Recovered]:
    """Failed send-quote-email runs whose approved email is still unsent."""
    out = []
    for run in ended_runs_of(SEND_DEPLOYMENT, states=["FAILED"], since=now - policy.lookback):
        done = _send_run(run, policy, now)
        if done is not None:
            out.append(done)
    return out


def close_gates_of_ended_runs(policy: RecoveryPolicy, now: datetime) -> list[Recovered]:
    """customer-quote runs that ended Failed or Cancelled while their gate waited: the
    gate is closed with the reason, Mike told once (the run's own hook usually did it)."""
    out = []
    for run in ended_runs_of(
        QUOTE_DEPLOYMENT, states=["FAILED", "CANCELLED"], since=now - policy.lookback
    ):
        state = run.state
        reason = f"run {state.name if state else 'ended'}: {(state.message if state else '') or ''}"
        closed = close_abandoned_gate(str(run.id), reason.strip(": ")[:300])
        if closed is not None:
            out.append(
                Recovered(
                    kind="dead_letter",
                    subject=f"gate {closed.id}",
                    run_id=str(run.id),
                    detail=f"closed: its run ended before a decision ({reason[:200]})",
                )
            )
    return out


def recover_effects(policy: RecoveryPolicy, now: datetime) -> list[Recovered]:
    """The pass: failed sends re-driven or settled, gates of ended runs closed."""
    return redrive_failed_sends(policy, now) + close_gates_of_ended_runs(policy, now)
