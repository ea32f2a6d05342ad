"""What Mike is told, in plain words: an action waits, a gate nears expiry or expired,
a step or a verify check failed. Pure: composition only; sending lives in tasks/notify.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from quoteflow.models import ActionType
from quoteflow.presentation import (
    check_detail_text,
    check_text,
    data_age_text,
    format_money,
    local_time,
    time_left,
)
from quoteflow.quote import QuotePreview


class Notice(BaseModel):
    """One message to Mike."""

    subject: str = Field(max_length=300)
    body: str


def _quote_lines(preview: QuotePreview) -> list[str]:
    out = []
    for line in preview.lines:
        if line.case_price is None:
            out.append(f"  - {line.item_code} {line.description}: no price (left off the quote)")
            continue
        margin = f", margin {line.margin_pct}%" if line.margin_pct is not None else ""
        out.append(
            f"  - {line.item_code} {line.description}: "
            f"{format_money(line.case_price, preview.currency)} per {line.unit}{margin}"
        )
    return out


def describe_action(
    action_type: str,
    payload: dict[str, Any],
    *,
    tz: str | None = None,
    now: datetime | None = None,
) -> tuple[str, list[str]]:
    """(headline, detail lines) for a waiting action; with ``tz`` and ``now`` a quote
    also says how old its NetSuite data is."""
    if action_type == ActionType.quote_gate and "preview" in payload:
        preview = QuotePreview.model_validate(payload["preview"])
        margin = f"{preview.margin_pct}%" if preview.margin_pct is not None else "unknown"
        age = [data_age_text(preview.data_age, now=now, tz=tz) + "."] if tz and now else []
        detail = [
            f"Customer: {preview.customer_name} ({preview.customer_id}), "
            f"school year {preview.school_year}",
            *age,
            *_quote_lines(preview),
            f"Subtotal: {format_money(preview.subtotal, preview.currency)}, "
            f"overall margin {margin}",
        ]
        from quoteflow.presentation import plain_warnings
        from quoteflow.settings import get_settings

        detail += [
            f"Please check: {w}" for w in plain_warnings(preview, get_settings().margin_floor_pct)
        ]
        return f"Quote {preview.quote_id} for {preview.customer_name} needs your approval", detail
    if action_type == ActionType.send_quote:
        to = payload.get("to_name") or payload.get("to")
        detail = [
            f"To: {to} <{payload.get('to')}>",
            f"Subject: {payload.get('subject')}",
            "",
            str(payload.get("body", "")),
        ]
        return f"Email for quote {payload.get('quote_id')} is ready to send", detail
    if action_type == ActionType.quote_draft and isinstance(payload.get("request"), dict):
        request = payload["request"]
        items = request.get("item_codes") or []
        detail = [
            f"Customer: {request.get('customer_id')}, school year {request.get('school_year')}",
            f"{len(items)} item(s): {', '.join(items)}",
            "Approving prepares the quote with this year's prices; it comes back to you "
            "for approval before anything is written or sent.",
        ]
        return "A new quote draft is ready for your go-ahead", detail
    return "Something is waiting for your decision", []


def waiting_notice(
    *,
    action_id: int,
    action_type: str,
    payload: dict[str, Any],
    expires_at: datetime | None,
    link: str,
    tz: str,
    now: datetime,
    reminder: bool = False,
) -> Notice:
    """The message that tells Mike an action waits, with its signed link."""
    headline, detail = describe_action(action_type, payload, tz=tz, now=now)
    when = (
        f"Decide by {local_time(expires_at, tz)} (in {time_left(expires_at, now)})."
        if expires_at
        else "No deadline."
    )
    prefix = "Reminder: " if reminder else ""
    body = "\n".join(
        [
            f"{prefix}{headline}.",
            "",
            *detail,
            "",
            when,
            "",
            f"Open to approve or reject (the link shows the action first; it decides nothing "
            f"until you press a button): {link}",
            "",
            f"Action #{action_id}.",
        ]
    )
    return Notice(subject=f"{prefix}{headline}"[:300], body=body)


def expired_notice(
    *, action_id: int, action_type: str, payload: dict[str, Any], page_url: str | None = None
) -> Notice:
    """The message that tells Mike a gate closed without a decision, with where to
    re-open it."""
    headline, detail = describe_action(action_type, payload)
    body = "\n".join(
        [
            f"No decision was made in time: {headline[0].lower()}{headline[1:]} has expired.",
            "Nothing was sent to the customer or to NetSuite.",
            "",
            *detail,
            "",
            "To quote it again, open it and press Re-open"
            + (f": {page_url}" if page_url else " on your approval page."),
        ]
    )
    return Notice(subject=f"Expired: {headline}"[:300], body=body)


def held_notice(*, action_id: int, payload: dict[str, Any], reason: str) -> Notice:
    """The message that tells Mike a quote he approved was stopped before any write."""
    headline, detail = describe_action(ActionType.quote_gate, payload)
    quote = headline.removesuffix(" needs your approval")
    body = "\n".join(
        [
            f"You approved {quote[0].lower()}{quote[1:]}, but it was stopped before "
            f"anything was written: {reason}.",
            "Nothing was sent to the customer or to NetSuite: no quote, no PDF, no estimate, "
            "no email draft.",
            "",
            *detail,
            "",
            f"Action #{action_id}. Once the customer is cleared in NetSuite, re-open it from "
            "the approval page to quote again.",
        ]
    )
    return Notice(subject=f"Not sent: {quote}"[:300], body=body)


RECONCILE_STALE_EVENT = "reconcile.stale"


def reconcile_stale_notice(payload: dict[str, Any], tz: str) -> Notice:
    """The reconciler has not completed a pass for too long (its Automation's alert)."""
    try:
        last = local_time(datetime.fromisoformat(str(payload.get("last_pass_at"))), tz)
    except ValueError:
        last = "an unknown time"
    body = "\n".join(
        [
            f"The reconciler's last completed pass was at {last}, and none has completed since.",
            "Until it runs again, lost approvals are not started, crashed quote runs are not "
            "re-driven and no reminders or expiries go out.",
            "",
            "Check that a worker is running for the quoteflow work pool; "
            "`quoteflow recover list` shows the last pass of each recurring job and any "
            "stranded run, and `quoteflow recover now` runs a pass by hand.",
        ]
    )
    return Notice(subject="The reconciler has stopped running", body=body)


def draft_end_notice(
    *,
    headline: str,
    customer_name: str | None,
    school_year: str | None,
    sentences: list[str],
    what_to_do: str,
    page_url: str,
) -> Notice:
    """The message that tells Mike an approved quote draft did not become a quote."""
    who = customer_name or "a customer"
    year = f" ({school_year})" if school_year else ""
    body = "\n".join(
        [
            f"The quote draft you approved for {who}{year} did not become a quote.",
            *sentences,
            "",
            f"What you can do: {what_to_do}",
            "",
            f"See it on your approval page: {page_url}",
        ]
    )
    return Notice(subject=f"{headline.split(':')[0]}: {who}{year}"[:300], body=body)


STEP_WORDS = {
    "write_quote": "saving the quote",
    "render_pdf": "making the PDF",
    "store_pdf": "storing the PDF",
    "ns_push": "sending the estimate to NetSuite",
    "push_estimate": "sending the estimate to NetSuite",
    "draft_quote_email": "drafting the customer email",
    "email_sent": "sending the customer email",
    "touch_ar_forecast": "updating the customer's forecast",
}


def alert_notice(event_type: str, payload: dict[str, Any], tz: str = "UTC") -> Notice:
    """The message for a failed step (``alert``) or a verify check that failed or timed out."""
    if event_type == RECONCILE_STALE_EVENT:
        return reconcile_stale_notice(payload, tz)
    run_id = payload.get("run_id", "?")
    if event_type == "alert" and payload.get("headline"):
        # An alert that says itself what happened and what to do (dead letters, an email
        # in doubt, a gate closed by a failed run).
        subject = str(payload["headline"])
        body = f"{payload['headline']}.\n\n{payload.get('error') or ''}".rstrip()
        if payload.get("what_to_do"):
            body += f"\n\nWhat to do: {payload['what_to_do']}"
    elif event_type == "alert":
        step = STEP_WORDS.get(str(payload.get("step")), str(payload.get("step")))
        subject = f"A quote step failed: {step}"
        body = (
            f"{step[:1].upper()}{step[1:]} failed after {payload.get('attempts')} attempt(s): "
            f"{payload.get('error')}\n\n"
            "quoteflow retries what can be retried by itself; if this keeps failing, tell "
            f"whoever looks after quoteflow (reference: {run_id})."
        )
    else:
        outcome = "timed out" if event_type.endswith("timeout") else "failed"
        name = payload.get("check_name") or payload.get("check")
        check = f"“{check_text(str(name))}”" if name else "A check"
        quote = f"quote {payload['quote_id']}" if payload.get("quote_id") else "a quote"
        subject = f"Check {outcome} for {quote}: {check}"
        details = check_detail_text(
            payload.get("detail") or payload.get("observed") or payload.get("reason")
        )
        body = (
            f"The check {check} made after {quote} was written {outcome}. {details}\n\n"
            f"If this keeps happening, tell whoever looks after quoteflow (reference: {run_id})."
        ).strip()
    return Notice(subject=subject[:300], body=body)


# ---------------------------------------------------------------- which notices are due

NoticeKind = str  # "waiting" | "reminder" | "expired"


def notice_key(kind: NoticeKind, action_id: int) -> str:
    """The ledger idempotency key of one notice: each kind goes out once per action."""
    return f"notice:{kind}:{action_id}"


class NoticeCandidate(BaseModel):
    """The facts about an action that decide which notice it is due."""

    action_id: int
    status: str
    created_at: datetime
    expires_at: datetime | None = None


def due_notices(
    actions: list[NoticeCandidate],
    sent: set[str],
    *,
    now: datetime,
    reminder_minutes: float,
    first_notice_delay_seconds: float = 60,
) -> list[tuple[int, NoticeKind]]:
    """Pending actions whose first notice never went out (the run that staged them sends it;
    this catches a failed send), pending gates inside the reminder window, and expired
    gates nobody told Mike about. Each at most once (``sent`` holds the keys already out)."""
    due: list[tuple[int, NoticeKind]] = []
    for a in actions:
        if a.status == "pending":
            age = (now - a.created_at).total_seconds()
            if notice_key("waiting", a.action_id) not in sent and age >= first_notice_delay_seconds:
                due.append((a.action_id, "waiting"))
            elif (
                a.expires_at is not None
                and reminder_minutes > 0
                and now < a.expires_at
                and (a.expires_at - now).total_seconds() <= reminder_minutes * 60
                and notice_key("reminder", a.action_id) not in sent
            ):
                due.append((a.action_id, "reminder"))
        elif a.status == "expired" and notice_key("expired", a.action_id) not in sent:
            due.append((a.action_id, "expired"))
    return due
