"""Pure functions that turn a quote into a NetSuite ``estimate`` request body."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from quoteflow.quote import CENT, QuotePreview

EXTERNAL_ID_MAX_LENGTH = 64
_EXTERNAL_ID_ALLOWED = re.compile(r"[A-Za-z0-9_-]+")


class EstimateLine(BaseModel):
    """One line of a NetSuite estimate: item internal id, quantity and unit rate."""

    model_config = ConfigDict(frozen=True)

    netsuite_item_id: str = Field(min_length=1, max_length=32)
    quantity: int = Field(ge=1)
    rate: Decimal = Field(ge=0, allow_inf_nan=False)
    description: str | None = None


def validate_external_id(external_id: str) -> str:
    """Return ``external_id`` if NetSuite accepts it (letters, digits, ``_``, ``-``; 1..64).

    Raises ValueError naming the reason otherwise.
    """
    if not isinstance(external_id, str):
        raise ValueError(f"external id must be a string, got {type(external_id).__name__}")
    if not external_id:
        raise ValueError("external id must not be empty")
    if len(external_id) > EXTERNAL_ID_MAX_LENGTH:
        raise ValueError(
            f"external id is {len(external_id)} characters long; "
            f"at most {EXTERNAL_ID_MAX_LENGTH} are allowed"
        )
    if not _EXTERNAL_ID_ALLOWED.fullmatch(external_id):
        bad = sorted({ch for ch in external_id if not _EXTERNAL_ID_ALLOWED.fullmatch(ch)})
        shown = ", ".join(repr(ch) for ch in bad)
        raise ValueError(
            f"external id {external_id!r} contains {shown}; "
            "only letters, digits, '_' and '-' are allowed"
        )
    return external_id


def rate_to_json(rate: Decimal) -> float:
    """A rate as the JSON number NetSuite receives: rounded half-up to cents."""
    return float(rate.quantize(CENT, rounding=ROUND_HALF_UP))


def build_estimate_body(
    *,
    customer_id: str,
    lines: list[EstimateLine],
    memo: str | None = None,
    external_id: str | None = None,
) -> dict[str, Any]:
    """The JSON body of ``record/v1/estimate`` for a customer and its lines."""
    if not customer_id:
        raise ValueError("customer_id (the NetSuite customer internal id) must not be empty")
    if not lines:
        raise ValueError("an estimate needs at least one line")
    items: list[dict[str, Any]] = []
    for line in lines:
        item: dict[str, Any] = {
            "item": {"id": line.netsuite_item_id},
            "quantity": line.quantity,
            "rate": rate_to_json(line.rate),
        }
        if line.description:
            item["description"] = line.description
        items.append(item)
    body: dict[str, Any] = {"entity": {"id": customer_id}, "item": {"items": items}}
    if external_id is not None:
        body["externalId"] = validate_external_id(external_id)
    if memo is not None:
        body["memo"] = memo
    return body


def superseded_body(old_quote_id: str, new_quote_id: str) -> dict[str, Any]:
    """The header update that marks a revised quote's estimate superseded (lines untouched)."""
    note = f"SUPERSEDED by quote {new_quote_id}"
    return {
        "title": f"{note} (was quoteflow quote {old_quote_id})",
        "memo": f"{note}; this estimate is no longer current.",
    }


def estimate_lines_from_preview(preview: QuotePreview) -> list[EstimateLine]:
    """Estimate lines for the preview's quotable lines (resolved and priced), in order.

    Raises ValueError if a quotable line has no NetSuite item id: pushing it would
    silently drop a priced line from the estimate.
    """
    lines: list[EstimateLine] = []
    for view in preview.quotable_lines:
        if not view.netsuite_item_id:
            raise ValueError(
                f"quote {preview.quote_id} line {view.line_no} ({view.item_code}) "
                "has no NetSuite item id"
            )
        assert view.case_price is not None  # quotable implies priced
        lines.append(
            EstimateLine(
                netsuite_item_id=view.netsuite_item_id,
                quantity=view.quantity,
                rate=view.case_price,
                description=view.description or None,
            )
        )
    return lines
