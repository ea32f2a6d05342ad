"""The decision form: checked against the decision contract's limits, the review step's
digest and the staged/approved comparison."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from quoteflow.approval_page.security import FormError
from quoteflow.decision import NOTES_MAX_CHARS, DecisionError, parse_price
from quoteflow.models import ActionView
from quoteflow.presentation import format_money
from quoteflow.quote import QuotePreview, payload_hash

HASH_FIELD = "expect_hash"  # the payload hash of what the page showed
CONFIRM_FIELD = "confirm"  # the review step's digest of the prices it showed
PRICE_FIELD_PREFIX = "price."


@dataclass
class DecisionForm:
    """What a decision form carries once checked."""

    values: dict[str, str]
    notes: str | None
    price_overrides: dict[str, str]
    expect_hash: str


def check_decision_form(
    values: Mapping[str, str], preview: QuotePreview | None, *, with_prices: bool
) -> DecisionForm:
    """Notes, the hash the page showed and (for a quote gate) the approved prices, checked
    by the contract's price rule. An input for a line that cannot be priced is refused
    here: the run would only ask again after the gate was recorded."""
    notes = values.get("notes", "").strip()
    if len(notes) > NOTES_MAX_CHARS:
        raise FormError(400, f"notes: at most {NOTES_MAX_CHARS} characters", "notes")
    expect_hash = values.get(HASH_FIELD, "").strip()
    if not expect_hash:
        raise FormError(400, "The form does not say which version you saw: reload and decide.")
    overrides: dict[str, str] = {}
    if with_prices:
        priceable = (
            {line.item_code for line in preview.lines if line.resolved} if preview else set()
        )
        for name, raw in values.items():
            if not name.startswith(PRICE_FIELD_PREFIX) or not raw.strip():
                continue
            code = name[len(PRICE_FIELD_PREFIX) :]
            try:
                parse_price(code, raw)
            except DecisionError as exc:
                raise FormError(400, str(exc), name) from exc
            if code not in priceable:
                raise FormError(
                    400, f"approved price for {code}: not a priceable line of this quote", name
                )
            overrides[code] = raw.strip()
    return DecisionForm(
        values=dict(values),
        notes=notes or None,
        price_overrides=overrides,
        expect_hash=expect_hash,
    )


def review_digest(action: ActionView, overrides: Mapping[str, str]) -> str:
    """Names exactly the prices (and payload) a review step showed: a confirmation counts
    only for those."""
    return payload_hash({"hash": action.payload_hash, "prices": dict(sorted(overrides.items()))})[
        :24
    ]


def compare_rows(staged: QuotePreview, approved: QuotePreview) -> list[dict[str, Any]]:
    """Per line: the quoted price beside the approved one, and the margin that follows."""
    rows = []
    for quoted, line in zip(staged.lines, approved.lines, strict=True):
        rows.append(
            {
                "no": line.line_no,
                "code": line.item_code,
                "description": line.description or "(not in catalog)",
                "quoted": format_money(quoted.case_price, staged.currency)
                if quoted.case_price is not None
                else "no pricing",
                "approved": format_money(line.case_price, approved.currency)
                if line.case_price is not None
                else "—",
                "changed": line.case_price != quoted.case_price,
                "cost": ""
                if line.cost_basis is None
                else format_money(line.cost_basis, approved.currency),
                "margin": "n/a" if line.margin_pct is None else f"{line.margin_pct}%",
                "flags": line.flags,
            }
        )
    return rows


def unknown_cost_concerns(preview: QuotePreview, prices: Mapping[str, Any]) -> list[str]:
    """A typed price on a line whose cost nobody knows: its margin cannot be checked (an
    unknown cost is never taken as zero)."""
    lines = {line.item_code: line for line in preview.lines}
    return [
        f"{code}: its cost is unknown, so the margin of {format_money(price, preview.currency)} "
        "cannot be checked."
        for code, price in prices.items()
        if code in lines and lines[code].cost_basis is None
    ]
