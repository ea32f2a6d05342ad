"""Mike's inbox as a triage list (pure: ActionViews in, groups out). Everything about one
quote sits under one heading: the draft that asked for it, its approval and its customer
email. Groups with something waiting come first, soonest deadline first; each item carries
badges for what needs a look (margins under the floor, items not in the catalog, lines
without a price or at $0.00). Decided groups are paged."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import ValidationError

from quoteflow.approvals import approved_gate_preview
from quoteflow.mail import EmailDraft
from quoteflow.models import ActionStatus, ActionType, ActionView, as_utc
from quoteflow.quote import QuotePreview, QuoteRequest

DECIDED_PER_PAGE = 10
T = TypeVar("T")
# the order of a quote's steps under its heading
STEP_ORDER = {ActionType.quote_draft: 0, ActionType.quote_gate: 1, ActionType.send_quote: 2}


@dataclass(frozen=True)
class Flag:
    """A badge for what needs a look: the words and a tone (``bad`` or ``wait``)."""

    label: str
    tone: str


@dataclass
class InboxItem:
    action: ActionView
    summary: str
    closed: bool
    flags: list[Flag] = field(default_factory=list)


@dataclass
class QuoteGroup:
    """One quote's actions, in the order they happened (draft, approval, email)."""

    key: str
    heading: str
    items: list[InboxItem]

    @property
    def waiting(self) -> list[InboxItem]:
        return [i for i in self.items if i.action.status == ActionStatus.pending]

    @property
    def deadline(self) -> datetime | None:
        deadlines = [as_utc(i.action.expires_at) for i in self.waiting if i.action.expires_at]
        return min(deadlines) if deadlines else None

    @property
    def latest(self) -> datetime:
        return max(as_utc(i.action.decided_at or i.action.created_at) for i in self.items)


@dataclass
class Page(Generic[T]):
    items: list[T]
    number: int
    pages: int
    per_page: int = DECIDED_PER_PAGE

    @property
    def newer(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def older(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


@dataclass
class Inbox:
    waiting: list[QuoteGroup]
    decided: Page[QuoteGroup]


def _preview(action: ActionView) -> QuotePreview | None:
    try:
        return approved_gate_preview(action) or QuotePreview.model_validate(
            action.payload["preview"]
        )
    except (KeyError, TypeError, ValidationError):
        return None


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def quote_flags(preview: QuotePreview) -> list[Flag]:
    """What on a quote needs a look before approving, as short badges."""
    by_check: dict[str, int] = {}
    for w in preview.warnings:
        by_check[w.check] = by_check.get(w.check, 0) + max(1, len(w.item_codes))
    zero = sum(1 for line in preview.quotable_lines if line.case_price == 0)
    flags = []
    if by_check.get("margin_floor"):
        flags.append(
            Flag(_plural(by_check["margin_floor"], "under your floor", "under your floor"), "bad")
        )
    if zero:
        flags.append(Flag(_plural(zero, "line at $0.00", "lines at $0.00"), "bad"))
    if by_check.get("items_resolved"):
        flags.append(
            Flag(_plural(by_check["items_resolved"], "unknown item", "unknown items"), "wait")
        )
    if by_check.get("pricing_found"):
        flags.append(
            Flag(
                _plural(by_check["pricing_found"], "item without price", "items without price"),
                "wait",
            )
        )
    return flags


def _quote_of(action: ActionView, quote_by_run: Mapping[str, str]) -> tuple[str, str | None]:
    """(group key, quote id) of an action; a draft belongs to the quote its run made."""
    try:
        if action.action_type == ActionType.quote_gate:
            quote_id = QuotePreview.model_validate(action.payload["preview"]).quote_id
            return f"quote:{quote_id}", quote_id
        if action.action_type == ActionType.send_quote:
            quote_id = EmailDraft.model_validate(action.payload).quote_id
            return f"quote:{quote_id}", quote_id
    except (KeyError, TypeError, ValidationError):
        pass
    if action.action_type == ActionType.quote_draft and action.claimed_by_run_id:
        quote_id = quote_by_run.get(action.claimed_by_run_id)
        if quote_id:
            return f"quote:{quote_id}", quote_id
    return f"action:{action.id}", None


def _heading(items: list[InboxItem], quote_id: str | None, names: Mapping[str, str]) -> str:
    who, year = None, None
    for item in items:
        preview = (
            _preview(item.action) if item.action.action_type == ActionType.quote_gate else None
        )
        if preview is not None:
            who, year = preview.customer_name, preview.school_year
            break
        if item.action.action_type == ActionType.quote_draft:
            try:
                request = QuoteRequest.model_validate(item.action.payload["request"])
            except (KeyError, TypeError, ValidationError):
                continue
            who = names.get(request.customer_id, f"customer {request.customer_id}")
            year = request.school_year
    title = f"Quote {quote_id}" if quote_id else "New quote"
    return " · ".join(part for part in (title, who, year) if part)


def group_by_quote(
    actions: Iterable[ActionView],
    *,
    summary: Callable[[ActionView], str],
    now: datetime,
    names: Mapping[str, str] | None = None,
) -> list[QuoteGroup]:
    """The actions grouped by the quote they belong to, each group in step order."""
    actions = list(actions)
    quote_by_run = {}
    for a in actions:
        if a.action_type == ActionType.quote_gate and a.flow_run_id:
            _, quote_id = _quote_of(a, {})
            if quote_id:
                quote_by_run[a.flow_run_id] = quote_id
    groups: dict[str, tuple[str | None, list[InboxItem]]] = {}
    for a in actions:
        key, quote_id = _quote_of(a, quote_by_run)
        preview = _preview(a) if a.action_type == ActionType.quote_gate else None
        closed = (
            a.status == ActionStatus.pending
            and a.expires_at is not None
            and as_utc(a.expires_at) <= now
        )
        item = InboxItem(
            a,
            summary(a),
            closed,
            quote_flags(preview)
            if preview is not None and a.status == ActionStatus.pending
            else [],
        )
        groups.setdefault(key, (quote_id, []))[1].append(item)
    out = []
    for key, (quote_id, items) in groups.items():
        items.sort(
            key=lambda i: (STEP_ORDER.get(i.action.action_type, 3), as_utc(i.action.created_at))
        )
        out.append(QuoteGroup(key, _heading(items, quote_id, names or {}), items))
    return out


def paginate(items: list[T], number: int, per_page: int = DECIDED_PER_PAGE) -> Page[T]:
    """Page ``number`` (from 1; out of range: the nearest page) of ``items``."""
    pages = max(1, math.ceil(len(items) / per_page))
    number = min(max(1, number), pages)
    return Page(items[(number - 1) * per_page : number * per_page], number, pages, per_page)


def build_inbox(
    actions: Iterable[ActionView],
    *,
    summary: Callable[[ActionView], str],
    now: datetime,
    names: Mapping[str, str] | None = None,
    page: int = 1,
) -> Inbox:
    """Groups with something waiting (soonest deadline first; without one, newest
    first), then decided groups, newest first, ``DECIDED_PER_PAGE`` to a page."""
    groups = group_by_quote(actions, summary=summary, now=now, names=names)
    waiting = sorted(
        (g for g in groups if g.waiting),
        key=lambda g: (0, g.deadline.timestamp()) if g.deadline else (1, -g.latest.timestamp()),
    )
    decided = sorted((g for g in groups if not g.waiting), key=lambda g: g.latest, reverse=True)
    return Inbox(waiting, paginate(decided, page))


def page_number(raw: str | None) -> int:
    """``?page=N`` as a page number (1 when missing or not a number)."""
    try:
        return max(1, int(raw or "1"))
    except ValueError:
        return 1
