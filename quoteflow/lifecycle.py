"""A quote's life after it is written: accepted or declined by the customer, expired
past ``valid_until``, superseded by a revision; and the proposed pricing each quote
carries, applied to pricing_master only when the customer accepts.

Rules are pure (``TRANSITIONS``, ``refusal``); each transition is one transaction: a
conditional ``UPDATE quotes ... WHERE lifecycle_status IN (allowed)`` (so two racing
decisions cannot both win, even on SQLite), the proposals settled, and one ledger event
keyed ``quote.<action>:<quote id>``. The Prefect mirror of that event follows the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session

from quoteflow import prefect_api
from quoteflow.db import session_scope
from quoteflow.decision import NOTES_MAX_CHARS
from quoteflow.ledger import event_uuid
from quoteflow.models import (
    ActionStatus,
    ActionType,
    Event,
    LifecycleStatus,
    PricingMaster,
    ProposalStatus,
    ProposedAction,
    ProposedPricing,
    Quote,
    utcnow,
)
from quoteflow.presentation import format_day
from quoteflow.settings import approver_or_default


class QuoteAction(StrEnum):
    accept = "accept"
    decline = "decline"
    expire = "expire"
    supersede = "supersede"


@dataclass(frozen=True)
class Transition:
    """Where an action may start, where it ends, and what happens to the proposals."""

    allowed_from: frozenset[str]
    to: LifecycleStatus
    event_type: str
    proposals_to: ProposalStatus


_SENT = frozenset({LifecycleStatus.proposed, LifecycleStatus.sent})
TRANSITIONS: dict[QuoteAction, Transition] = {
    QuoteAction.accept: Transition(
        _SENT, LifecycleStatus.accepted, "quote.accepted", ProposalStatus.applied
    ),
    QuoteAction.decline: Transition(
        _SENT, LifecycleStatus.rejected, "quote.declined", ProposalStatus.closed
    ),
    QuoteAction.expire: Transition(
        _SENT | {LifecycleStatus.draft},
        LifecycleStatus.expired,
        "quote.expired",
        ProposalStatus.closed,
    ),
    # A revision may replace any quote the customer has not accepted.
    QuoteAction.supersede: Transition(
        _SENT | {LifecycleStatus.draft, LifecycleStatus.rejected, LifecycleStatus.expired},
        LifecycleStatus.superseded,
        "quote.superseded",
        ProposalStatus.closed,
    ),
}


class TransitionRefused(Exception):
    """The quote does not exist, or it is in a state where the action makes no sense."""


def refusal(
    action: QuoteAction,
    quote_id: str,
    status: str,
    *,
    valid_until: date | None,
    today: date,
) -> str | None:
    """Why ``action`` cannot happen to a quote in ``status`` (None when it can)."""
    rule = TRANSITIONS[action]
    if status not in rule.allowed_from:
        allowed = ", ".join(sorted(rule.allowed_from))
        return f"quote {quote_id} is {status}: {action} is allowed only from {allowed}"
    if action == QuoteAction.accept and valid_until is not None and valid_until < today:
        return (
            f"quote {quote_id} expired on {format_day(valid_until)} (valid_until): "
            "it can no longer be accepted; revise it instead"
        )
    if action == QuoteAction.expire and (valid_until is None or valid_until >= today):
        return f"quote {quote_id} is valid until {valid_until}: it has not expired"
    return None


def event_key(action: QuoteAction, quote_id: str) -> str:
    """The ledger idempotency key of a transition (each target state is final: one per quote)."""
    return f"quote.{action}:{quote_id}"


class TransitionResult(BaseModel):
    quote_id: str
    action: QuoteAction
    status: str
    changed: bool  # False: the quote was already in the target state, nothing written
    proposals: int = 0  # proposals settled by this transition
    pricing_rows: int = 0  # pricing_master rows written (accept only)
    message: str


@dataclass
class PendingEvent:
    """A ledger event written in the transaction, to mirror to Prefect after the commit."""

    event_type: str
    key: str
    quote_id: str
    payload: dict[str, Any]


def emit_pending(events: list[PendingEvent]) -> None:
    """Mirror committed ledger events as Prefect events (deterministic ids: once each)."""
    for ev in events:
        prefect_api.emit(
            ev.event_type,
            resource={
                "prefect.resource.id": f"quoteflow.quote.{ev.quote_id}",
                "quoteflow.idempotency_key": ev.key,
            },
            payload=ev.payload,
            event_id=event_uuid(ev.key),
        )


def _settle_proposals(
    s: Session, quote: Quote, to: ProposalStatus, now: datetime
) -> tuple[int, int]:
    """Apply (accept) or close the quote's open proposals; returns (settled, pricing rows)."""
    open_rows = (
        s.execute(
            sa.select(ProposedPricing).where(
                ProposedPricing.quote_id == quote.id,
                ProposedPricing.status == ProposalStatus.proposed,
            )
        )
        .scalars()
        .all()
    )
    pricing_rows = 0
    if to == ProposalStatus.applied:
        for p in open_rows:
            row = s.execute(
                sa.select(PricingMaster).where(
                    PricingMaster.customer_id == p.customer_id,
                    PricingMaster.item_code == p.item_code,
                    PricingMaster.school_year == p.school_year,
                )
            ).scalars().first() or PricingMaster(
                customer_id=p.customer_id,
                item_code=p.item_code,
                school_year=p.school_year,
                case_price=p.new_price,
            )
            row.case_price = p.new_price
            row.cost_basis = p.cost_basis
            row.margin_pct = p.margin_pct
            row.source = f"quote:{quote.id}"
            row.updated_at = now
            s.add(row)
            pricing_rows += 1
    settled = s.execute(
        sa.update(ProposedPricing)
        .where(
            ProposedPricing.quote_id == quote.id,
            ProposedPricing.status == ProposalStatus.proposed,
        )
        .values(status=to, decided_at=now)
    ).rowcount
    return settled, pricing_rows


def _close_email_drafts(s: Session, quote_id: str, status: str, now: datetime) -> None:
    """A quote that was answered or ended needs no customer email any more: its email
    draft still waiting for Mike closes with it, in the same transaction."""
    t = ProposedAction
    s.execute(
        sa.update(t)
        .where(
            t.action_type == ActionType.send_quote,
            t.entity_ref == f"quote:{quote_id}",
            t.status == ActionStatus.pending.value,
        )
        .values(
            status=ActionStatus.expired.value,
            decided_at=now,
            approver="system",
            decision_notes=f"closed: the quote was {'declined' if status == 'rejected' else status}",
        )
        .execution_options(synchronize_session=False)
    )


def apply_transition(
    s: Session,
    quote_id: str,
    action: QuoteAction,
    *,
    actor: str,
    notes: str | None = None,
    now: datetime,
    extra: dict[str, Any] | None = None,
) -> tuple[TransitionResult, list[PendingEvent]]:
    """The transition inside the caller's transaction (write_quote supersedes this way).
    Raises TransitionRefused; the caller emits the returned events after committing."""
    rule = TRANSITIONS[action]
    today = now.date()
    # One conditional UPDATE holds the whole rule (state and date), and it comes before
    # any read: it takes the write lock first, so a racing transition waits for this one
    # and then finds nothing to update.
    where = [Quote.id == quote_id, Quote.lifecycle_status.in_(list(rule.allowed_from))]
    if action == QuoteAction.accept:
        where.append(sa.or_(Quote.valid_until.is_(None), Quote.valid_until >= today))
    elif action == QuoteAction.expire:
        where.append(Quote.valid_until < today)
    updated = s.execute(
        sa.update(Quote)
        .where(*where)
        .values(lifecycle_status=rule.to, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    quote = s.get(Quote, quote_id, populate_existing=True)
    if quote is None:
        raise TransitionRefused(f"quote {quote_id} does not exist")
    if updated != 1:
        if quote.lifecycle_status == rule.to:
            return TransitionResult(
                quote_id=quote_id,
                action=action,
                status=quote.lifecycle_status,
                changed=False,
                message=f"quote {quote_id} is already {rule.to}; nothing changed",
            ), []
        reason = refusal(
            action, quote_id, quote.lifecycle_status, valid_until=quote.valid_until, today=today
        )
        raise TransitionRefused(reason or f"quote {quote_id} is {quote.lifecycle_status}")
    settled, pricing_rows = _settle_proposals(s, quote, rule.proposals_to, now)
    _close_email_drafts(s, quote_id, rule.to, now)
    key = event_key(action, quote_id)
    payload: dict[str, Any] = {
        "quote_id": quote_id,
        "customer_id": quote.customer_id,
        "action": str(action),
        "status": str(rule.to),
        "actor": actor,
        "notes": notes,
        "proposals": settled,
        "pricing_rows": pricing_rows,
        **(extra or {}),
    }
    s.add(Event(type=rule.event_type, idempotency_key=key, payload=payload, occurred_at=now))
    message = f"quote {quote_id} {rule.to}"
    if settled:
        verb = "applied to pricing_master" if pricing_rows else "closed"
        message += f"; {settled} proposed price(s) {verb}"
    return TransitionResult(
        quote_id=quote_id,
        action=action,
        status=rule.to,
        changed=True,
        proposals=settled,
        pricing_rows=pricing_rows,
        message=message,
    ), [PendingEvent(rule.event_type, key, quote_id, payload)]


def transition(
    quote_id: str,
    action: QuoteAction | str,
    *,
    actor: str | None = None,
    notes: str | None = None,
    now: datetime | None = None,
) -> TransitionResult:
    """Accept, decline, expire or supersede one quote, as one atomic write plus its event.
    Repeating a transition that already happened changes nothing (``changed`` False)."""
    action = QuoteAction(action)
    if notes is not None and len(notes) > NOTES_MAX_CHARS:
        raise TransitionRefused(f"notes: at most {NOTES_MAX_CHARS} characters (got {len(notes)})")
    actor = approver_or_default(actor)
    with session_scope() as s:
        result, events = apply_transition(
            s, quote_id, action, actor=actor, notes=notes, now=now or utcnow()
        )
    emit_pending(events)
    return result


def accept(
    quote_id: str, *, actor: str | None = None, notes: str | None = None
) -> TransitionResult:
    """The customer accepted: proposed prices go to pricing_master, exactly once."""
    return transition(quote_id, QuoteAction.accept, actor=actor, notes=notes)


def decline(
    quote_id: str, *, actor: str | None = None, notes: str | None = None
) -> TransitionResult:
    """The customer declined: proposals closed, pricing_master untouched."""
    return transition(quote_id, QuoteAction.decline, actor=actor, notes=notes)


def overdue_quote_ids(today: date, limit: int = 500) -> list[str]:
    """Open quotes whose ``valid_until`` is before ``today``, oldest first."""
    stmt = (
        sa.select(Quote.id)
        .where(
            Quote.lifecycle_status.in_(list(TRANSITIONS[QuoteAction.expire].allowed_from)),
            Quote.valid_until < today,
        )
        .order_by(Quote.valid_until, Quote.id)
        .limit(limit)
    )
    with session_scope() as s:
        return list(s.execute(stmt).scalars().all())


# ---------------------------------------------------------------- proposed pricing


class ProposalView(BaseModel):
    quote_id: str
    customer_id: str
    item_code: str
    school_year: str
    old_price: Decimal | None
    new_price: Decimal
    cost_basis: Decimal | None
    margin_pct: Decimal | None
    approver: str
    proposed_at: datetime
    status: str
    decided_at: datetime | None

    @classmethod
    def of(cls, row: ProposedPricing) -> ProposalView:
        return cls.model_validate(row.model_dump())


def open_proposals(customer_id: str, item_codes: list[str]) -> list[ProposalView]:
    """Proposals still waiting for the customer, for these items (newest first)."""
    if not item_codes:
        return []
    stmt = (
        sa.select(ProposedPricing)
        .where(
            ProposedPricing.customer_id == customer_id,
            ProposedPricing.item_code.in_(item_codes),
            ProposedPricing.status == ProposalStatus.proposed,
        )
        .order_by(ProposedPricing.proposed_at.desc())
    )
    with session_scope() as s:
        return [ProposalView.of(r) for r in s.execute(stmt).scalars().all()]
