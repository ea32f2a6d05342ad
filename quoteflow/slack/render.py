"""What Mike reads in Slack, as Block Kit: the draft preview, a waiting action with its
buttons, the price modal and its review, and the message once decided. Pure: everything
shown is passed in; the words come from ``quoteflow.notices`` and
``quoteflow.presentation`` like every other channel's."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from quoteflow.models import ActionStatus, ActionType, ActionView
from quoteflow.notices import describe_action, local_time
from quoteflow.presentation import format_money, time_left
from quoteflow.quote import QuotePreview
from quoteflow.slack.parse import DraftParse

Blocks = list[dict[str, Any]]

# action_id / callback_id of every interactive element (the handlers' routing keys)
DRAFT_CREATE = "draft_create"
DRAFT_CANCEL = "draft_cancel"
DRAFT_CHOOSE = "draft_choose"  # + "_<n>": action ids are unique within a message
GATE_APPROVE = "gate_approve"
GATE_REJECT = "gate_reject"
GATE_PRICES = "gate_prices"
PRICES_VIEW = "gate_prices"
REVIEW_VIEW = "gate_prices_review"
PRICE_BLOCK_PREFIX = "price."
PRICE_INPUT = "price"
NOTES_BLOCK = "notes"
SECTION_MAX = 2900  # Slack's section text limit is 3000 characters


def _text(markdown: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": markdown[:SECTION_MAX]}


def section(markdown: str) -> dict[str, Any]:
    return {"type": "section", "text": _text(markdown)}


def context(markdown: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_text(markdown)]}


def button(
    label: str, action_id: str, value: str, style: str | None = None, url: str | None = None
) -> dict[str, Any]:
    b: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label[:75]},
        "action_id": action_id,
        "value": value[:2000],
    }
    if style:
        b["style"] = style
    if url:
        b["url"] = url
    return b


def _esc(text: str) -> str:
    """Slack's three escaped characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---------------------------------------------------------------- drafting


class DraftButton(BaseModel):
    """What *Create quote* carries: the request as understood, and the preview's id (the
    same preview pressed twice stages one draft)."""

    customer_id: str
    item_codes: list[str]
    school_year: str
    preview_id: str


def draft_preview(
    parse: DraftParse,
    *,
    prices: Mapping[str, Decimal | None],
    currency: str,
    customer_problem: str | None,
    preview_id: str,
    known_years: Sequence[str],
) -> Blocks:
    """The answer to ``/quote ...``: what was understood, what was not, and the buttons."""
    blocks: Blocks = []
    if parse.customer_id:
        year = parse.school_year or "?"
        blocks.append(
            section(
                f"*New quote for {_esc(parse.customer_name or '')}* ({parse.customer_id}), "
                f"school year {year}"
                + (
                    ""
                    if parse.year_given
                    else " (the newest priced year; add `for 26-27` for another)"
                )
            )
        )
    lines = []
    for m in parse.items:
        price = prices.get(m.item_code)
        shown = (
            f"{format_money(price, currency)} per case"
            if price is not None
            else f"no price for this customer in {parse.school_year} (it would be left off)"
        )
        lines.append(
            f"• {m.item_code} {_esc(m.description)}: {shown} (you wrote “{_esc(m.phrase)}”)"
        )
    if lines:
        blocks.append(section("\n".join(lines)))
    if parse.unmatched:
        words = ", ".join(f"“{_esc(w)}”" for w in parse.unmatched)
        blocks.append(section(f"I could not match {words} to a catalog item; left out."))
    for q in parse.questions:
        ask = (
            f"Which customer do you mean by “{_esc(q.phrase)}”?"
            if q.about == "customer"
            else f"Which item do you mean by “{_esc(q.phrase)}”?"
        )
        blocks.append(section(ask))
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    button(c.label, f"{DRAFT_CHOOSE}_{i}", c.text) for i, c in enumerate(q.choices)
                ],
            }
        )
    problems = list(parse.problems)
    if customer_problem:
        problems.append(f"{parse.customer_name}: {customer_problem}; it cannot be quoted.")
    if parse.school_year and known_years and parse.school_year not in known_years:
        problems.append(
            f"There are no prices for school year {parse.school_year} "
            f"(priced: {', '.join(known_years)})."
        )
    for p in problems:
        blocks.append(section(p))
    ready = parse.ready and not customer_problem and parse.school_year in known_years
    elements = []
    if ready:
        assert parse.customer_id and parse.school_year
        value = DraftButton(
            customer_id=parse.customer_id,
            item_codes=parse.item_codes,
            school_year=parse.school_year,
            preview_id=preview_id,
        ).model_dump_json()
        elements.append(button("Create quote", DRAFT_CREATE, value, "primary"))
    elements.append(button("Cancel", DRAFT_CANCEL, preview_id))
    blocks.append({"type": "actions", "elements": elements})
    if not ready and not parse.questions:
        blocks.append(context("Nothing was staged. Send `/quote` again with the missing part."))
    return blocks


def draft_created(customer_name: str, draft: ActionView, *, when: str) -> Blocks:
    """The preview once *Create quote* was pressed."""
    outcome = (
        "its quote run is starting; the quote comes back here for your approval"
        if draft.status == ActionStatus.approved
        else f"it waits as {draft.status} on the approval page"
    )
    return [
        section(f"Quote draft #{draft.id} for {_esc(customer_name)} created {when}: {outcome}.")
    ]


# ---------------------------------------------------------------- waiting actions


class ButtonValue(BaseModel):
    """What every decision button carries: the action and the payload hash it showed."""

    a: int
    h: str

    def encode(self) -> str:
        return self.model_dump_json()

    @classmethod
    def decode(cls, raw: str) -> ButtonValue:
        return cls.model_validate(json.loads(raw))


WAITING_SUFFIXES = (" needs your approval", " is ready to send")


def _summary(action: ActionView, payload: Mapping[str, Any]) -> Blocks:
    headline, detail = describe_action(action.action_type, dict(payload))
    if action.status != ActionStatus.pending:
        for suffix in WAITING_SUFFIXES:
            headline = headline.removesuffix(suffix)
    body = "\n".join(_esc(d) for d in detail if d is not None)
    return [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150]}},
        section(body or " "),
    ]


def waiting_message(
    action: ActionView, *, tz: str, now: datetime, shown_hash: str, page_url: str
) -> Blocks:
    """A waiting action: what it proposes, the deadline in Mike's time zone, and the
    buttons (each carrying the action and the hash of what this message shows)."""
    blocks = _summary(action, action.payload)
    if action.expires_at:
        left = time_left(action.expires_at, now)
        blocks.append(section(f"Decide by *{local_time(action.expires_at, tz)}* (in {left})."))
    value = ButtonValue(a=action.id, h=shown_hash).encode()
    elements = [
        button("Approve", GATE_APPROVE, value, "primary"),
        button("Reject", GATE_REJECT, value, "danger"),
    ]
    if action.action_type == ActionType.quote_gate:
        elements.append(button("Change prices", GATE_PRICES, value))
    blocks.append({"type": "actions", "block_id": f"decide.{action.id}", "elements": elements})
    blocks.append(
        context(
            f"Action #{action.id} · shown version {shown_hash[:12]} · "
            f"<{page_url}/actions/{action.id}|open on the approval page>"
        )
    )
    return blocks


def decided_line(action: ActionView, tz: str) -> str:
    """``Approved by mike at Fri Nov 27, 2:05 PM CST.`` (or rejected / expired)."""
    if action.status == ActionStatus.expired:
        moment = action.expires_at or action.decided_at
        at = local_time(moment, tz) if moment else "its deadline"
        return f"Expired at {at}: nothing was decided, nothing was sent."
    at = local_time(action.decided_at, tz) if action.decided_at else "an unknown time"
    return f"{action.status.capitalize()} by {action.approver} at {at}."


def already_decided(action: ActionView, tz: str) -> str:
    """What a second press answers."""
    line = decided_line(action, tz)
    if action.status == ActionStatus.expired:
        return f"Too late: {line[0].lower()}{line[1:]}"
    return f"Already {line[0].lower()}{line[1:]} Nothing changed."


class Step(BaseModel):
    """One thing that followed the decision, in words (from the timeline)."""

    name: str
    status: str
    detail: str = ""
    link: str | None = None


def decided_message(
    action: ActionView,
    *,
    tz: str,
    steps: Sequence[Step],
    alerts: Sequence[str],
    notes: str | None = None,
) -> Blocks:
    """The message once decided: what was decided (the approved prices), by whom and when,
    then what followed as the run proceeds."""
    payload = action.approved_payload or action.payload
    blocks = _summary(action, payload)
    icon = {"approved": ":white_check_mark:", "rejected": ":x:"}.get(action.status, ":hourglass:")
    line = f"{icon} *{decided_line(action, tz)}*"
    if action.decision_notes:
        line += f" Notes: “{_esc(action.decision_notes)}”."
    blocks.append(section(line))
    changed = changed_prices(action)
    if changed:
        blocks.append(section("Prices changed: " + "; ".join(changed) + "."))
    follow = []
    for s in steps:
        text = f"• {s.name}: {s.status}" + (f", {_esc(s.detail)}" if s.detail else "")
        if s.link:
            text += f" (<{s.link}|open>)"
        follow.append(text)
    if follow:
        blocks.append(section("\n".join(follow)))
    for a in alerts:
        blocks.append(section(f":warning: {_esc(a)}"))
    blocks.append(context(f"Action #{action.id}"))
    return blocks


def changed_message(action: ActionView, *, shown_hash: str) -> Blocks:
    """A waiting action whose payload is no longer what this message showed: no buttons."""
    blocks = _summary(action, action.payload)
    blocks.append(
        section(
            ":warning: *This changed after this message was sent*: what it showed "
            f"(version {shown_hash[:12]}) is no longer what waits. Nothing was decided; "
            "open it on the approval page."
        )
    )
    blocks.append(context(f"Action #{action.id}"))
    return blocks


def changed_prices(action: ActionView) -> list[str]:
    """``FS-1001 $64.20 -> $99.99`` for each line Mike re-priced."""
    if action.action_type != ActionType.quote_gate or not action.approved_payload:
        return []
    try:
        staged = QuotePreview.model_validate(action.payload["preview"])
        approved = QuotePreview.model_validate(action.approved_payload["preview"])
    except (KeyError, TypeError, ValueError):
        return []
    out = []
    for before, after in zip(staged.lines, approved.lines, strict=False):
        if before.case_price != after.case_price and after.case_price is not None:
            was = format_money(before.case_price, staged.currency) if before.case_price else "none"
            out.append(
                f"{after.item_code} {was} → {format_money(after.case_price, approved.currency)}"
            )
    return out


# ---------------------------------------------------------------- the price modal


class ModalState(BaseModel):
    """What the modal carries between its steps (private_metadata)."""

    a: int
    h: str
    channel: str | None = None
    ts: str | None = None
    prices: dict[str, str] = {}
    notes: str = ""


def price_modal(preview: QuotePreview, state: ModalState, *, errors_hint: str = "") -> dict:
    """One price field per priceable line, prefilled with the quoted price."""
    blocks: Blocks = [
        section(
            f"*{_esc(preview.customer_name)}*, quote {preview.quote_id}: "
            "change the prices you want; the rest stay as quoted."
        )
    ]
    for line in preview.lines:
        if not line.resolved:
            continue
        quoted = (
            format_money(line.case_price, preview.currency)
            if line.case_price is not None
            else "no price"
        )
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": PRICE_INPUT,
            "placeholder": {"type": "plain_text", "text": "e.g. 41.50"},
        }
        initial = state.prices.get(line.item_code) or (
            str(line.case_price) if line.case_price is not None else ""
        )
        if initial:
            element["initial_value"] = initial
        blocks.append(
            {
                "type": "input",
                "block_id": f"{PRICE_BLOCK_PREFIX}{line.item_code}",
                "optional": True,
                "label": {
                    "type": "plain_text",
                    "text": f"{line.item_code} {line.description}"[:140] + f" (quoted {quoted})",
                },
                "element": element,
            }
        )
    blocks.append(
        {
            "type": "input",
            "block_id": NOTES_BLOCK,
            "optional": True,
            "label": {"type": "plain_text", "text": "Notes"},
            "element": {
                "type": "plain_text_input",
                "action_id": "notes",
                "multiline": True,
                "max_length": 2000,
                **({"initial_value": state.notes} if state.notes else {}),
            },
        }
    )
    return {
        "type": "modal",
        "callback_id": PRICES_VIEW,
        "private_metadata": state.model_dump_json(),
        "title": {"type": "plain_text", "text": "Change prices"},
        "submit": {"type": "plain_text", "text": "Review"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks[:100],
    }


def review_modal(
    staged: QuotePreview, approved: QuotePreview, concerns: Sequence[str], state: ModalState
) -> dict:
    """The review step (as on the page): each line's quoted and approved price with the
    margin that follows, the subtotal, and what needs confirming; submitting approves."""
    rows = []
    for before, line in zip(staged.lines, approved.lines, strict=True):
        if line.case_price is None:
            rows.append(f"• {line.item_code}: no price, left off the quote")
            continue
        was = format_money(before.case_price, staged.currency) if before.case_price else "none"
        now = format_money(line.case_price, approved.currency)
        margin = f", margin {line.margin_pct}%" if line.margin_pct is not None else ""
        mark = " *(changed)*" if before.case_price != line.case_price else ""
        rows.append(f"• {line.item_code} {_esc(line.description)}: {was} → {now}{margin}{mark}")
    blocks: Blocks = [
        section(f"*{_esc(approved.customer_name)}*, quote {approved.quote_id}, at these prices:"),
        section("\n".join(rows)),
        section(
            f"Subtotal {format_money(approved.subtotal, approved.currency)}, overall margin "
            f"{approved.margin_pct if approved.margin_pct is not None else 'unknown'}%."
        ),
    ]
    if concerns:
        blocks.append(
            section(":warning: *Needs your confirmation:* " + "; ".join(_esc(c) for c in concerns))
        )
    return {
        "type": "modal",
        "callback_id": REVIEW_VIEW,
        "private_metadata": state.model_dump_json(),
        "title": {"type": "plain_text", "text": "Review prices"},
        "submit": {
            "type": "plain_text",
            "text": "Confirm and approve" if concerns else "Approve",
        },
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }
