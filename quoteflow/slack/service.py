"""The Slack channel's I/O: reading the mirror for drafting, staging through the drafting
service, deciding through the approval service, and posting / updating messages with
slack_sdk. Where each waiting action's message is (channel, ts, the hash it showed) is kept
in the event ledger under ``slack:message:<action id>``, so it is posted once and every
later change updates that one message."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from quoteflow import approvals, ledger, quotables
from quoteflow.approvals import ApprovalError, staged_preview
from quoteflow.decision import approved_preview, parse_overrides, price_concerns
from quoteflow.drafting import DraftRefused, customer_problem, start_quote
from quoteflow.models import ActionStatus, ActionType, ActionView, utcnow
from quoteflow.quote import QuotePreview, QuoteRequest, payload_hash
from quoteflow.settings import get_settings
from quoteflow.slack import render
from quoteflow.slack.parse import CustomerOption, ItemOption, parse_draft

if TYPE_CHECKING:
    from blocks.slack import SlackCredentials

# What the message follows after an approval (the page's timeline, in its words).
FOLLOWED_STEPS = ("Quote", "PDF", "NetSuite estimate", "Email draft", "Email sent")
NOT_ALLOWED = "You are not allowed to draft or decide quotes from Slack. Nothing was changed."
MESSAGE_KEY = "slack:message:{}"
NOTICE_KEY = "notice:slack:{}:{}"

_block_lock = threading.Lock()
_block: SlackCredentials | None = None


def approver_of(slack_user: str | None) -> str | None:
    """The approver a Slack user is mapped to (QUOTEFLOW_SLACK_APPROVERS), if any and if
    that name is a configured approver."""
    settings = get_settings()
    name = settings.slack_approvers.get(slack_user or "")
    return name if name in settings.approvers else None


def slack_block() -> SlackCredentials | None:
    """The Slack app block, loaded once per process; None when none is registered."""
    global _block
    with _block_lock:
        if _block is None:
            from blocks.slack import SlackCredentials

            try:
                _block = SlackCredentials.load(get_settings().slack_block)
            except ValueError:  # no such block: Slack is not set up
                return None
        return _block


# ---------------------------------------------------------------- drafting


def preview_draft(text: str, preview_id: str, today: date | None = None) -> list[dict[str, Any]]:
    """The answer to a drafting text (nothing is staged)."""
    years = quotables.school_years()
    customers = [CustomerOption(id=c.id, name=c.name) for c in quotables.customers()]
    items = [
        ItemOption(item_code=i.item_code, description=i.description)
        for i in quotables.catalog_items()
    ]
    parse = parse_draft(
        text,
        customers,
        items,
        today=today or utcnow().date(),
        default_year=years[0] if years else None,
    )
    prices: dict[str, Decimal | None] = {}
    problem = None
    if parse.customer_id:
        entry = quotables.find_customer(parse.customer_id)
        problem = customer_problem(entry) if entry else None
        if parse.school_year:
            prices = {
                i.item_code: i.case_price
                for i in quotables.catalog_items(parse.customer_id, parse.school_year)
            }
    return render.draft_preview(
        parse,
        prices=prices,
        currency=get_settings().currency,
        customer_problem=problem,
        preview_id=preview_id,
        known_years=years,
    )


def create_draft(button: render.DraftButton, approver: str) -> list[dict[str, Any]]:
    """*Create quote*: stage and approve the draft exactly as the page's New quote does;
    the same preview pressed twice stages one draft."""
    request = QuoteRequest(
        customer_id=button.customer_id,
        item_codes=button.item_codes,
        school_year=button.school_year,
    )
    try:
        draft = start_quote(
            request,
            approver=approver,
            notes="new quote from Slack",
            entity_ref=f"slack:{button.preview_id}",
        )
    except DraftRefused as exc:
        return [render.section(f"Nothing was staged: {exc}.")]
    name = quotables.customer_name(button.customer_id) or button.customer_id
    when = render.local_time(draft.created_at, get_settings().local_timezone)
    return render.draft_created(name, draft, when=f"at {when}")


# ---------------------------------------------------------------- messages


def message_of(action_id: int) -> dict[str, Any] | None:
    """{channel, ts, hash} of the action's message, when one was posted."""
    return ledger.event_payload(MESSAGE_KEY.format(action_id))


def _steps(action: ActionView) -> tuple[list[render.Step], list[str]]:
    """What followed a decided quote gate (the page's timeline) and its alerts."""
    if action.action_type != ActionType.quote_gate or action.status != ActionStatus.approved:
        return [], []
    from quoteflow.timeline import gate_outcome

    base = get_settings().public_base_url.rstrip("/")
    outcome = gate_outcome(action)
    steps = [
        render.Step(
            name=s.step,
            status=s.status,
            detail=s.detail,
            link=(base + s.link) if s.link and s.link.startswith("/") else s.link,
        )
        for s in outcome.steps[1:]  # the decision itself is the line above
        if s.step in FOLLOWED_STEPS
    ]
    alerts = [
        f"The {a.get('step')} step failed after {a.get('attempts')} attempt(s): {a.get('error')}"
        for a in (ledger.run_events(action.flow_run_id, "alert") if action.flow_run_id else [])
    ]
    return steps, alerts


def compose(action: ActionView, shown_hash: str) -> tuple[list[dict[str, Any]], str]:
    """(blocks, fallback text) of the action's message as things stand now."""
    settings = get_settings()
    tz = settings.local_timezone
    if action.status == ActionStatus.pending:
        if payload_hash(action.payload) != shown_hash or action.payload_hash != shown_hash:
            return render.changed_message(action, shown_hash=shown_hash), "This action changed"
        return (
            render.waiting_message(
                action,
                tz=tz,
                now=utcnow(),
                shown_hash=shown_hash,
                page_url=settings.public_base_url.rstrip("/"),
            ),
            render.describe_action(action.action_type, action.payload)[0],
        )
    steps, alerts = _steps(action)
    return (
        render.decided_message(action, tz=tz, steps=steps, alerts=alerts),
        render.decided_line(action, tz),
    )


def post_waiting(action_id: int) -> bool:
    """Post the waiting action to Mike's Slack, once (the ledger keeps it to once; a crash
    between the post and the record posts again rather than never). False without Slack
    or when already posted."""
    key = NOTICE_KEY.format("waiting", action_id)
    block = slack_block()
    if block is None or ledger.recorded_keys([key]):
        return False
    action = approvals.get_action(action_id)
    if action.status != ActionStatus.pending:
        return False
    blocks, text = compose(action, action.payload_hash)
    answer = block.get_client().chat_postMessage(channel=block.channel, blocks=blocks, text=text)
    where = {"channel": answer["channel"], "ts": answer["ts"], "hash": action.payload_hash}
    ledger.record_event("slack.message", MESSAGE_KEY.format(action_id), payload=where)
    ledger.record_event("notice.sent", key, payload={"channel": answer["channel"]})
    return True


def post_reminder(action_id: int) -> bool:
    """A reminder in the thread of the action's message (once)."""
    key = NOTICE_KEY.format("reminder", action_id)
    block, where = slack_block(), message_of(action_id)
    if block is None or where is None or ledger.recorded_keys([key]):
        return False
    action = approvals.get_action(action_id)
    if action.status != ActionStatus.pending or action.expires_at is None:
        return False
    at = render.local_time(action.expires_at, get_settings().local_timezone)
    block.get_client().chat_postMessage(
        channel=where["channel"],
        thread_ts=where["ts"],
        text=f"Reminder: this still waits for you; decide by {at}.",
    )
    ledger.record_event("notice.sent", key, payload={"channel": where["channel"]})
    return True


SHOWN_KEY = "slack:shown:{}:{}"


def sync_message(action_id: int) -> bool:
    """Update the action's message when what it would show changed: each distinct version
    is sent once (its digest is kept in the ledger), so the page's follower and the
    reconcile sweep never repeat an update. False without a message or a change."""
    block, where = slack_block(), message_of(action_id)
    if block is None or where is None:
        return False
    blocks, text = compose(approvals.get_action(action_id), where["hash"])
    key = SHOWN_KEY.format(action_id, payload_hash({"blocks": blocks, "text": text})[:24])
    if ledger.recorded_keys([key]):
        return False
    block.get_client().chat_update(
        channel=where["channel"], ts=where["ts"], blocks=blocks, text=text
    )
    ledger.record_event("slack.updated", key, payload={"action_id": action_id})
    return True


def decided_with_messages(hours: float = 24) -> list[int]:
    """Actions decided or expired in the last ``hours`` whose Slack message may still
    have to follow them."""
    import sqlalchemy as sa

    from quoteflow.db import session_scope
    from quoteflow.models import Event, ProposedAction

    since = utcnow() - timedelta(hours=hours)
    keys = sa.literal(MESSAGE_KEY.format("")) + sa.cast(ProposedAction.id, sa.String)
    stmt = (
        sa.select(ProposedAction.id)
        .join(Event, Event.idempotency_key == keys)
        .where(ProposedAction.status != ActionStatus.pending, ProposedAction.decided_at >= since)
        .order_by(ProposedAction.id)
    )
    with session_scope() as s:
        return list(s.execute(stmt).scalars())


def outcome_settled(action_id: int) -> bool:
    """Nothing more will change on the message: not approved, or approved and its run
    reached the email draft's decision or an alert (the follower stops then)."""
    action = approvals.get_action(action_id)
    if action.status == ActionStatus.pending:
        return False
    if action.action_type != ActionType.quote_gate:
        return True
    steps, alerts = _steps(action)
    if action.status != ActionStatus.approved or alerts:
        return True
    status = {s.name: s.status for s in steps}
    return status.get("Email sent") == "sent" or status.get("Email draft") in (
        ActionStatus.rejected,
        ActionStatus.expired,
    )


def gate_of(action_id: int) -> int | None:
    """The quote gate an email draft belongs to (its message then shows the email's fate)."""
    action = approvals.get_action(action_id)
    if action.action_type == ActionType.quote_gate:
        return action.id
    quote_id = action.payload.get("quote_id")
    if not quote_id:
        return None
    from quoteflow.db import session_scope
    from quoteflow.models import Quote

    with session_scope() as s:
        quote = s.get(Quote, quote_id)
        run_id = quote.flow_run_id if quote else None
    gate = (
        approvals.find_action(ActionType.quote_gate, approvals.gate_entity_ref(run_id))
        if run_id
        else None
    )
    return gate.id if gate else None


# ---------------------------------------------------------------- deciding


def refusal(action_id: int, error: str) -> str:
    """What Mike is told when a press decides nothing: who decided and when, or why."""
    try:
        action = approvals.get_action(action_id)
    except ApprovalError:
        return error
    if action.status != ActionStatus.pending:
        return render.already_decided(action, get_settings().local_timezone)
    return f"Nothing was decided: {error}"


def decide(
    action_id: int,
    decision: str,
    *,
    approver: str,
    shown_hash: str,
    prices: dict[str, str] | None = None,
    notes: str | None = None,
    confirm: bool = False,
) -> ActionView:
    """Approve or reject through the approval service, bound to the hash the message
    showed (ApprovalError otherwise, nothing changed)."""
    if decision == "approve":
        return approvals.approve(
            action_id,
            approver=approver,
            notes=notes or "approved in Slack",
            price_overrides=prices or None,
            expected_hash=shown_hash,
            confirm=confirm,
        )
    return approvals.reject(
        action_id, approver=approver, notes=notes or "rejected in Slack", expected_hash=shown_hash
    )


def prices_to_change(action_id: int, shown_hash: str) -> QuotePreview:
    """The preview the price modal edits: only for a pending gate still showing
    ``shown_hash`` (ApprovalError otherwise)."""
    action = approvals.get_action(action_id)
    if action.status != ActionStatus.pending:
        raise ApprovalError(f"proposed action {action_id} is {action.status}")
    approvals.check_binding(action, shown_hash)
    return staged_preview(action)


def gate_preview(action_id: int) -> QuotePreview:
    """The preview a gate waits with (checked against its staged hash)."""
    return staged_preview(approvals.get_action(action_id))


def review(action_id: int, prices: dict[str, str]) -> tuple[QuotePreview, QuotePreview, list[str]]:
    """(quoted, as approved, what needs confirming) for the typed prices, by the decision
    contract's rules; DecisionError naming the item and the rule otherwise."""
    staged = gate_preview(action_id)
    parsed = parse_overrides(prices)
    floor = get_settings().margin_floor_pct
    approved = approved_preview(staged, parsed, confirm=True, margin_floor=floor)
    return staged, approved, price_concerns(staged, parsed, margin_floor=floor)
