"""Telling Mike: waiting actions (with a signed link), reminders, expiry, alerts. Each
notice is sent through the configured notification block and recorded in the ledger
under its own key, so it goes out once; a failed send is retried by the next sweep."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import prefect.blocks.notifications  # noqa: F401  (Prefect's own notifier types, by slug)
import sqlalchemy as sa
from prefect import task
from prefect.blocks.core import Block
from prefect.logging import get_logger

from quoteflow import ledger
from quoteflow.approvals import get_action
from quoteflow.db import session_scope
from quoteflow.links import action_link
from quoteflow.models import ActionStatus, ActionType, ProposedAction, utcnow
from quoteflow.notices import (
    RECONCILE_STALE_EVENT,
    Notice,
    NoticeCandidate,
    alert_notice,
    due_notices,
    expired_notice,
    held_notice,
    notice_key,
    waiting_notice,
)
from quoteflow.settings import get_settings
from tasks.policy import short_retry_options


def _deliver(key: str, notice: Notice, event_type: str) -> bool:
    """Send once per key: skipped when the ledger holds it, recorded after the send (a
    crash in between sends it again rather than never)."""
    if ledger.recorded_keys([key]):
        return False
    import blocks.notify  # noqa: F401  (our default notifier, found by its slug; imports prefect_email)

    notifier: Any = Block.load(get_settings().notify_block)
    notifier.notify(notice.body, notice.subject)
    ledger.record_event(
        event_type,
        key,
        payload={"subject": notice.subject},
        resource_id=f"quoteflow.{key.replace(':', '.')}",
    )
    return True


def _compose(action_id: int, kind: str) -> Notice:
    settings = get_settings()
    action = get_action(action_id)
    if kind == "expired":
        return expired_notice(
            action_id=action.id,
            action_type=action.action_type,
            payload=action.payload,
            page_url=f"{settings.public_base_url.rstrip('/')}/actions/{action.id}",
        )
    return waiting_notice(
        action_id=action.id,
        action_type=action.action_type,
        payload=action.payload,
        expires_at=action.expires_at,
        link=action_link(action.id),
        tz=settings.local_timezone,
        now=utcnow(),
        reminder=kind == "reminder",
    )


def _to_slack(kind: str, action_id: int) -> None:
    """The same notice in Slack, when a Slack app is registered: the waiting action with
    its buttons, a reminder in its thread, or its message updated once it expired. Each
    once, by its own ledger key; a failure is logged and never stops the email."""
    from quoteflow.slack import service as slack

    try:
        if kind == "waiting":
            slack.post_waiting(action_id)
        elif kind == "reminder":
            slack.post_reminder(action_id)
        else:
            slack.sync_message(action_id)
    except Exception as exc:  # Slack down or misconfigured: email still goes out
        get_logger("quoteflow.notify").warning(
            "Slack %s notice for action %s not sent: %s: %s",
            kind,
            action_id,
            type(exc).__name__,
            exc,
        )


def send_waiting_notice(action_id: int) -> bool:
    """Tell Mike this action waits for him, with its signed link (once per action), by
    email and in Slack."""
    if get_action(action_id).status != ActionStatus.pending:
        return False
    _to_slack("waiting", action_id)
    return _deliver(notice_key("waiting", action_id), _compose(action_id, "waiting"), "notice.sent")


@task(**short_retry_options())
def notify_waiting_action(action_id: int) -> bool:
    """Tell Mike this action waits for him (the gate calls it right after staging)."""
    return send_waiting_notice(action_id)


def _candidates(since_hours: float = 24) -> list[NoticeCandidate]:
    recent = utcnow() - timedelta(hours=since_hours)
    stmt = sa.select(ProposedAction).where(
        sa.or_(
            ProposedAction.status == ActionStatus.pending,
            sa.and_(
                ProposedAction.status == ActionStatus.expired,
                ProposedAction.action_type == ActionType.quote_gate,
                ProposedAction.decided_at >= recent,
            ),
        )
    )
    with session_scope() as s:
        return [
            NoticeCandidate(
                action_id=r.id,
                status=r.status,
                created_at=r.created_at,
                expires_at=r.expires_at,
            )
            for r in s.execute(stmt).scalars()
            if r.id is not None
        ]


@task(**short_retry_options())
def notify_held_after_approval(action_id: int, reason: str) -> bool:
    """Tell Mike the quote he approved was stopped before any write, and why (once per gate)."""
    action = get_action(action_id)
    notice = held_notice(action_id=action.id, payload=action.payload, reason=reason)
    return _deliver(notice_key("held", action_id), notice, "notice.sent")


@task
def send_due_notices() -> list[str]:
    """Missed first notices, reminders before expiry, and expiry notices; returns the keys
    sent. One failing send is logged and left for the next sweep, never stops the others."""
    settings = get_settings()
    logger = get_logger("quoteflow.notify")
    candidates = _candidates()
    keys = [
        notice_key(k, c.action_id) for c in candidates for k in ("waiting", "reminder", "expired")
    ]
    due = due_notices(
        candidates,
        ledger.recorded_keys(keys),
        now=utcnow(),
        reminder_minutes=settings.reminder_minutes,
    )
    sent: list[str] = []
    for action_id, kind in due:
        key = notice_key(kind, action_id)
        _to_slack(kind, action_id)
        try:
            if _deliver(key, _compose(action_id, kind), "notice.sent"):
                sent.append(key)
        except Exception as exc:  # one bad action or a flaky relay must not stop the sweep
            logger.warning("notice %s not sent: %s: %s", key, type(exc).__name__, exc)
    return sent


@task(**short_retry_options())
def notify_draft_end(action_id: int) -> bool:
    """Tell Mike an approved quote draft's run ended without a quote (once per draft)."""
    from quoteflow.attention import draft_end
    from quoteflow.notices import draft_end_notice

    end = draft_end(action_id)
    if end is None:
        return False
    notice = draft_end_notice(
        headline=end.headline,
        customer_name=end.customer_name,
        school_year=end.school_year,
        sentences=end.sentences,
        what_to_do=end.what_to_do,
        page_url=f"{get_settings().public_base_url.rstrip('/')}/actions/{action_id}",
    )
    return _deliver(f"notice:draft-end:{action_id}", notice, "notice.sent")


@task(**short_retry_options())
def notify_alert(event_type: str, event_id: str, payload: dict[str, Any]) -> bool:
    """Tell Mike a step failed for good or a verify check failed or timed out (once per event)."""
    if event_type == RECONCILE_STALE_EVENT:  # its Automation knows no pass: ask Prefect
        from quoteflow.liveness import stale_reconciler_alert

        event_id, payload = stale_reconciler_alert()
    notice = alert_notice(event_type, payload, get_settings().local_timezone)
    return _deliver(f"notice:event:{event_id}", notice, "notice.sent")


@task
def refresh_slack_messages() -> list[int]:
    """Bring the Slack message of each recently decided action up to date with what
    followed (whatever channel decided it): the page follows a Slack decision within
    seconds; this sweep is the backstop. Returns the actions whose message changed."""
    from quoteflow.slack import service as slack

    if slack.slack_block() is None:
        return []
    changed = []
    for action_id in slack.decided_with_messages():
        try:
            if slack.sync_message(action_id):
                changed.append(action_id)
        except Exception as exc:  # one message must not stop the others
            get_logger("quoteflow.notify").warning(
                "Slack message of action %s not updated: %s: %s", action_id, type(exc).__name__, exc
            )
    return changed
