"""The rules of proposed actions and quote gates: what a decision is bound to, what a
gate's payload holds, the decision a gate's run is resumed with, and what a resumed run
executes. Pure: no database, no Prefect."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from quoteflow import WORKFLOW_TYPE
from quoteflow.decision import (
    ApprovalDecision,
    DecisionError,
    PriceOverride,
    approved_preview,
    overrides_of,
    parse_overrides,
)
from quoteflow.models import ActionStatus, ActionView, ProposedAction
from quoteflow.quote import QuotePreview, payload_hash
from quoteflow.settings import get_settings

SYSTEM_APPROVER = "system"  # who records an expiry: nobody decided


class ApprovalError(Exception):
    """A decision that cannot be taken (not pending, expired, changed payload, refused
    input); nothing was changed."""


def _when(moment: datetime | None) -> str:
    from quoteflow.presentation import format_when

    return format_when(moment) if moment else "an unknown time"


def already_decided(row: ProposedAction | ActionView) -> ApprovalError:
    """What a decision that lost tells its approver: who decided, and when."""
    if row.status == ActionStatus.expired:
        return ApprovalError(
            f"proposed action {row.id} expired at {_when(row.expires_at or row.decided_at)}; "
            "nothing changed"
        )
    return ApprovalError(
        f"proposed action {row.id} is already {row.status} by {row.approver} at "
        f"{_when(row.decided_at)}; nothing changed"
    )


def expired_error(action_id: int, expires_at: datetime | None) -> ApprovalError:
    return ApprovalError(
        f"proposed action {action_id} expired at {_when(expires_at)}; nothing was approved"
    )


def check_binding(action: ActionView, expected_hash: str | None) -> None:
    """The stored payload must still hash to the staged hash, and to the hash the approver
    saw (when the channel carries it)."""
    actual = payload_hash(action.payload)
    if actual != action.payload_hash:
        raise ApprovalError(
            f"proposed action {action.id}: its stored payload no longer matches what was "
            f"staged (hash {actual[:12]} vs staged {action.payload_hash[:12]}); nothing changed"
        )
    if expected_hash is not None and expected_hash.strip().lower() != action.payload_hash:
        raise ApprovalError(
            f"proposed action {action.id} is not what you were shown (you saw hash "
            f"{expected_hash.strip()[:12]}, it is now {action.payload_hash[:12]}); reload it "
            "and decide again; nothing changed"
        )


def gate_entity_ref(flow_run_id: str) -> str:
    """The contract's entity_ref of a run's approval gate."""
    return f"workflow:customer_quote:run_{flow_run_id}"


def gate_payload(preview: QuotePreview) -> dict[str, Any]:
    """A quote gate's payload (staged, and as approved): what the hashes cover."""
    return {"preview": preview.model_dump(mode="json"), "workflow_type": WORKFLOW_TYPE}


def staged_preview(action: ActionView) -> QuotePreview:
    """The preview Mike was shown, after checking it still hashes to the staged hash."""
    check_binding(action, None)
    try:
        return QuotePreview.model_validate(action.payload["preview"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ApprovalError(f"proposed action {action.id} holds no valid quote preview") from exc


def approved_gate_preview(action: ActionView) -> QuotePreview | None:
    """The preview as approved (prices applied), when the action is approved."""
    if action.status != ActionStatus.approved or not action.approved_payload:
        return None
    try:
        return QuotePreview.model_validate(action.approved_payload["preview"])
    except (KeyError, TypeError, ValueError):
        return None


def gate_approval(action: ActionView, overrides: dict[str, Any], confirm: bool) -> dict[str, Any]:
    """The approved payload of a gate approval: the rules the run applies are applied here
    first, so the run never refuses it. DecisionError when they refuse."""
    approved = approved_preview(
        staged_preview(action),
        parse_overrides(overrides),
        confirm=confirm,
        margin_floor=get_settings().margin_floor_pct,
    )
    return gate_payload(approved)


def gate_decision(action: ActionView) -> ApprovalDecision:
    """The decision a decided gate's run is resumed with: the approved prices are the lines
    whose approved price differs from the staged one (the run executes the approved payload
    stored on the action in any case)."""
    overrides: list[PriceOverride] = []
    approved = approved_gate_preview(action)
    if approved is not None:
        staged = {line.item_code: line.case_price for line in staged_preview(action).lines}
        overrides = [
            PriceOverride(item_code=line.item_code, case_price=str(line.case_price))
            for line in approved.lines
            if line.case_price is not None and line.case_price != staged.get(line.item_code)
        ]
    return ApprovalDecision(
        decision="approve" if action.status == ActionStatus.approved else "reject",
        notes=action.decision_notes or "",
        approver=action.approver,
        price_overrides=overrides,
        confirm=bool(overrides),  # the approver confirmed them when deciding
    )


def payload_to_execute(
    action: ActionView, candidate: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """What a resumed run executes: its own approved payload when it hashes to the
    approved hash, else the approved payload stored on the action (when that still
    verifies; e.g. the run's task results were lost and its preview was rebuilt from
    today's prices). Returns (payload, used_stored). ApprovalError: nothing verifiable."""
    if action.status != ActionStatus.approved or not action.approved_payload_hash:
        raise ApprovalError(f"proposed action {action.id} is {action.status}, not approved")
    if payload_hash(candidate) == action.approved_payload_hash:
        return candidate, False
    stored = action.approved_payload
    if stored is not None and payload_hash(stored) == action.approved_payload_hash:
        return stored, True
    raise ApprovalError(
        f"proposed action {action.id}: neither the run's preview nor the stored approved "
        f"payload hashes to the approved hash {action.approved_payload_hash[:12]}; nothing "
        "written"
    )


def preview_to_execute(
    action: ActionView, decision: ApprovalDecision, preview: QuotePreview
) -> tuple[QuotePreview, bool]:
    """The quote a resumed run executes, exactly as approved: its own preview with the
    decision's prices when that hashes to the approved hash, else the stored approved
    payload (its preview was rebuilt from today's prices after its task results were
    lost). Returns (preview, used_stored); ApprovalError when nothing verifies."""
    try:
        own = approved_preview(
            preview,
            overrides_of(decision),
            confirm=True,  # confirmed (or not needed) when the decision was taken
            margin_floor=get_settings().margin_floor_pct,
        )
        candidate = gate_payload(own)
    except DecisionError:
        candidate = {}  # the rebuilt preview cannot take these prices: only the stored one can
    payload, used_stored = payload_to_execute(action, candidate)
    return QuotePreview.model_validate(payload["preview"]), used_stored
