"""The one HITL decision contract: what a decision on a quote gate carries and the rules
it must pass, whichever channel it comes from (Prefect UI resume form, approval page, CLI,
Python API).

``ApprovalDecision`` is the flow's RunInput (so the Prefect server's JSON-schema check
refuses malformed prices before the run sees them); the page reads its limits from these
fields; ``approved_preview`` is the single rule set every channel applies before a
decision is recorded.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

from prefect.input import RunInput
from pydantic import BaseModel, ConfigDict, Field

from quoteflow.quote import QuotePreview, apply_price_overrides, margin_pct, money
from quoteflow.settings import default_approver

# A plain price in dollars and cents: digits, an optional point and one or two decimals.
# No sign, exponent, NaN/Infinity, thousands separator or locale comma; at most 999999.99.
PRICE_PATTERN = r"^(?:0|[1-9][0-9]{0,5})(?:\.[0-9]{1,2})?$"
PRICE_RULE = "a plain price like 41.50: digits, at most 2 decimals, below 1000000"
NOTES_MAX_CHARS = 2000
MAX_OVERRIDES = 200
# Guardrail: an approved price this far from the quoted one needs confirmation.
PRICE_RATIO_LIMIT = Decimal(3)

_PRICE_RE = re.compile(PRICE_PATTERN)


class DecisionError(ValueError):
    """A decision the rules refuse; the message names the item and the rule."""


class PriceOverride(BaseModel):
    """One approved price replacing the quoted one."""

    # The Prefect server checks run input against the JSON schema with Python's ``re``
    # (jsonschema); pydantic's default engine is Rust's, where ``$`` does not match before
    # a trailing newline. The same engine on both sides accepts exactly the same strings
    # ("41.50\n" passes both; parse_price strips it), so no input the server lets through
    # can fail the run when it loads it.
    model_config = ConfigDict(regex_engine="python-re")

    item_code: str = Field(
        min_length=1, max_length=64, description="An item code on this quote, e.g. FS-1001."
    )
    case_price: str = Field(
        pattern=PRICE_PATTERN,
        max_length=9,
        description="Approved price per case, e.g. 41.50 (digits, at most 2 decimals).",
    )


class ApprovalDecision(RunInput):
    """Mike's decision on a quote. The server checks every field against this schema."""

    decision: Literal["approve", "reject"] = Field(description="Approve runs the fan-out.")
    notes: str = Field(
        default="", max_length=NOTES_MAX_CHARS, description="Why; kept on the proposed action."
    )
    price_overrides: list[PriceOverride] = Field(
        default_factory=list,
        max_length=MAX_OVERRIDES,
        description="Prices that replace the quoted ones.",
    )
    confirm: bool = Field(
        default=False,
        description="Confirm prices that are zero, below cost, under the margin floor, or "
        "more than 3x / less than 1/3 of the quoted price.",
    )
    approver: str = Field(
        default_factory=default_approver,
        min_length=1,
        max_length=64,
        description="A configured approver.",
    )


def _price_problem(text: str) -> str:
    """Which part of the price rule a text breaks, in words."""
    lowered = text.lower()
    if not text:
        return "is empty"
    if any(word in lowered for word in ("nan", "inf")):
        return "is not a finite number (NaN and infinity are refused)"
    if "e" in lowered and any(c.isdigit() for c in lowered):
        return "uses an exponent; write the plain amount, e.g. 1000.00"
    if "," in text or "_" in text or " " in text or "'" in text:
        return "has a thousands separator or a decimal comma; write e.g. 1490.00 or 14.90"
    if text.startswith(("-", "+")):
        return "must be a plain amount of 0 or more, without a sign"
    if re.fullmatch(r"[0-9]+\.[0-9]{3,}", text):
        return "has more than 2 decimal places"
    if re.fullmatch(r"[0-9]+(\.[0-9]{1,2})?", text):
        return "must be below 1000000 (and without leading zeros)"
    return "is not a number"


def price_problem(text: str) -> str | None:
    """None when ``text`` is a price by the one price rule (PRICE_PATTERN); else which part
    of the rule it breaks, in words. Every reader of prices (decisions, spreadsheets) asks
    this."""
    return None if _PRICE_RE.match(text) else _price_problem(text)


def parse_price(item_code: str, raw: str | Decimal | int | float) -> Decimal:
    """One approved price, by the one price rule; DecisionError naming the item and the
    rule it breaks otherwise."""
    text = raw.strip() if isinstance(raw, str) else str(raw)
    if isinstance(raw, float) and raw.is_integer():
        text = str(int(raw))
    if problem := price_problem(text):
        raise DecisionError(
            f"approved price for {item_code}: {text!r} {problem} (expected {PRICE_RULE})"
        )
    return Decimal(text)


def item_code_key(code: str) -> str:
    """An item code as the catalog keys it (``ItemCode`` strips surrounding whitespace):
    the one normalisation before codes are compared or looked up."""
    return code.strip()


def parse_overrides(overrides: dict[str, str | Decimal | int | float]) -> dict[str, Decimal]:
    """Every approved price checked by ``parse_price``; item codes normalised."""
    if len(overrides) > MAX_OVERRIDES:
        raise DecisionError(f"price overrides: at most {MAX_OVERRIDES}")
    codes = [item_code_key(code) for code in overrides]
    repeated = sorted({c for c in codes if codes.count(c) > 1})
    if repeated:
        raise DecisionError(f"price overrides: item(s) given twice: {', '.join(repeated)}")
    return {
        item_code_key(code): parse_price(item_code_key(code), raw)
        for code, raw in overrides.items()
    }


def overrides_of(decision: ApprovalDecision) -> dict[str, Decimal]:
    """The decision's prices as decimals (an item given twice, once padded, is refused)."""
    codes = [item_code_key(o.item_code) for o in decision.price_overrides]
    repeated = sorted({c for c in codes if codes.count(c) > 1})
    if repeated:
        raise DecisionError(f"price overrides: item(s) given twice: {', '.join(repeated)}")
    return parse_overrides(
        {item_code_key(o.item_code): o.case_price for o in decision.price_overrides}
    )


def check_approver(approver: str, approvers: list[str]) -> str:
    """The approver, if configured (QUOTEFLOW_APPROVERS); DecisionError otherwise."""
    name = approver.strip()
    if name not in approvers:
        raise DecisionError(
            f"approver {approver!r} is not a configured approver ({', '.join(approvers)})"
        )
    return name


def price_concerns(
    preview: QuotePreview, overrides: dict[str, Decimal], *, margin_floor: float
) -> list[str]:
    """Approved prices that need an explicit confirmation, one sentence each: zero, below
    cost, under the margin floor, or more than 3x / under 1/3 of the quoted price."""
    floor = Decimal(str(margin_floor))
    lines = {line.item_code: line for line in preview.lines}
    concerns: list[str] = []
    for code, price in overrides.items():
        line = lines.get(code)
        if line is None:
            continue  # apply_price_overrides names it
        if price == 0:
            concerns.append(f"{code}: approved price is zero")
            continue
        cost = line.cost_basis
        if cost is not None and price < cost:
            concerns.append(f"{code}: approved price {money(price)} is below cost {cost}")
        else:
            m = margin_pct(price, cost)
            if m is not None and m < floor:
                concerns.append(f"{code}: margin {m}% is under the {margin_floor:g}% floor")
        quoted = line.case_price
        if quoted is not None and quoted > 0:
            if price > quoted * PRICE_RATIO_LIMIT:
                concerns.append(
                    f"{code}: approved price {money(price)} is more than 3x the quoted {quoted}"
                )
            elif price * PRICE_RATIO_LIMIT < quoted:
                concerns.append(
                    f"{code}: approved price {money(price)} is less than 1/3 of the quoted {quoted}"
                )
    return concerns


def approved_preview(
    preview: QuotePreview,
    overrides: dict[str, Decimal],
    *,
    confirm: bool,
    margin_floor: float,
) -> QuotePreview:
    """The quote as approved: the staged preview with the approved prices applied.

    Refuses (DecisionError) unknown or unpriceable items, prices needing confirmation
    without ``confirm``, and a quote with nothing to quote. No overrides: the staged
    preview itself, unchanged (so its hash is the staged hash)."""
    if not overrides:
        approved = preview
    else:
        try:
            approved = apply_price_overrides(preview, overrides, margin_floor=margin_floor)
        except ValueError as exc:
            raise DecisionError(str(exc)) from exc
        concerns = price_concerns(preview, overrides, margin_floor=margin_floor)
        if concerns and not confirm:
            raise DecisionError(
                "needs confirmation (confirm the prices to approve them): " + "; ".join(concerns)
            )
    if not approved.quotable_lines:
        raise DecisionError("nothing to quote: set a price for at least one item, or reject")
    return approved


def refused_input_problem(exc: Exception) -> str:
    """An input the form refused, in words naming each field and value (the run asks again)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for err in errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where or 'input'} {err.get('input')!r}: {err.get('msg')}")
    return "; ".join(parts) or str(exc)
