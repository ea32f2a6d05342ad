"""Proposed actions: deciding them. One implementation for every channel (the flow's gate
and its Prefect UI form, the CLI, the approval page, Python): check, record (one
conditional write in the action store), resume the waiting run through the Prefect
gateway, emit ``proposed_action.<decision>``.

The contract (README "Approvals"):
- bound: a decision names the hash of the payload the approver saw; the stored payload
  must still hash to the staged hash and to that one, or nothing changes;
- serialised: a decision is one conditional ``UPDATE ... WHERE status = 'pending'``;
  exactly one of racing decisions wins, the others are told who won and when;
- executed as approved: the approved payload (prices applied) is stored with its hash,
  and a resumed run executes exactly that payload.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from pydantic import BaseModel

from quoteflow import ledger, prefect_api
from quoteflow.action_record import ApprovalVerb, decide, expire
from quoteflow.action_rules import (
    SYSTEM_APPROVER,
    ApprovalError,
    already_decided,
    approved_gate_preview,
    check_binding,
    gate_approval,
    gate_decision,
    gate_entity_ref,
    gate_payload,
    payload_to_execute,
    preview_to_execute,
    staged_preview,
)
from quoteflow.action_store import (
    find_action,
    get_action,
    list_actions,
    stage_action,
    stale_gates,
    undo_decision,
)
from quoteflow.decision import ApprovalDecision, DecisionError, check_approver, overrides_of
from quoteflow.models import ActionStatus, ActionType, ActionView
from quoteflow.prefect_api import is_unreachable
from quoteflow.quote import QuoteRequest
from quoteflow.settings import approver_or_default, get_settings

__all__ = [
    "SYSTEM_APPROVER",
    "ApprovalError",
    "ApprovalVerb",
    "PrefectDownError",
    "RecordedDecision",
    "approve",
    "approved_gate_preview",
    "check_binding",
    "decide",
    "draft_quote",
    "emit_decision_event",
    "expire",
    "find_action",
    "gate_decision",
    "gate_entity_ref",
    "gate_payload",
    "get_action",
    "list_actions",
    "payload_to_execute",
    "preview_to_execute",
    "record_from_run",
    "reject",
    "reopen",
    "stage_action",
    "staged_preview",
    "stale_gates",
]


class PrefectDownError(ApprovalError):
    """A gate decision while the Prefect API does not answer: the run cannot be asked
    whether it waits nor resumed, so nothing is recorded (every channel says so; the
    approver tries again). A draft decision needs no Prefect call and is recorded: its
    run is started by its trigger or, within a minute, by the reconciler."""

    def __init__(self, cause: BaseException) -> None:
        from quoteflow.prefect_api import PrefectUnreachable

        super().__init__(str(PrefectUnreachable(cause)))


# ---------------------------------------------------------------- the approval path
# Every channel (CLI, approval page, Python) goes through approve()/reject() below:
# check, record (one conditional write), resume a waiting flow run, emit
# `proposed_action.<decision>`. The Prefect UI form resumes the run directly; the run
# then records the same decision with record_from_run().


def draft_quote(request: QuoteRequest, *, entity_ref: str | None = None) -> ActionView:
    """Stage a quote_draft proposed action (what the chat tool did). Approving it starts a
    customer-quote run through the deployment's event trigger. The same ``entity_ref``
    (e.g. one chat preview) stages once."""
    return stage_action(
        action_type=ActionType.quote_draft,
        entity_ref=entity_ref or f"draft:{uuid.uuid4().hex}",
        payload={"request": request.model_dump(mode="json")},
    )


def emit_decision_event(action: ActionView) -> None:
    """``proposed_action.approved|rejected``: the one emitter every channel uses. The event
    id is derived from the action and the decision, so repeats collapse."""
    verb = "approved" if action.status == ActionStatus.approved else "rejected"
    prefect_api.emit(
        f"proposed_action.{verb}",
        resource={
            "prefect.resource.id": f"proposed-action.{action.id}",
            "prefect.resource.name": f"{action.action_type} {action.entity_ref}",
            "action_type": action.action_type,
            "entity_ref": action.entity_ref,
        },
        payload={
            **action.payload,
            "proposed_action_id": action.id,
            "decision_notes": action.decision_notes,
            "approver": action.approver,
            "payload_hash": action.payload_hash,
            "approved_payload_hash": action.approved_payload_hash,
        },
        # Repeats of one decision collapse; the creation time keeps ids unique should the
        # database be rebuilt while the Prefect server (and its event store) lives on.
        event_id=uuid.uuid5(
            uuid.NAMESPACE_URL,
            f"proposed-action/{action.id}/{action.created_at.isoformat()}/{verb}",
        ),
    )

    if action.action_type == ActionType.send_quote and verb == "rejected":
        quote_id = str(action.payload.get("quote_id") or action.entity_ref.split(":", 1)[-1])
        ledger.record_event(
            "quote.email_declined",
            f"email-declined:{action.id}",
            payload={
                "quote_id": quote_id,
                "proposed_action_id": action.id,
                "approver": action.approver,
                "notes": action.decision_notes,
            },
            run_id=action.flow_run_id,
        )


def _ensure_waiting(action: ActionView) -> None:
    """The gate's run waits for a decision (asked twice across the hot-to-cold hand-over,
    when the run is Running for a moment)."""
    if not action.flow_run_id:
        raise ApprovalError(f"proposed action {action.id} has no flow run to resume")
    if prefect_api.waiting_state(action.flow_run_id) is None:
        time.sleep(prefect_api.HANDOVER_RETRY_SECONDS)
        if prefect_api.waiting_state(action.flow_run_id) is None:
            raise ApprovalError(
                f"flow run {action.flow_run_id} is not waiting for a decision; nothing changed"
            )


def _resume_gate(action: ActionView) -> None:
    """Resume the gate's run with the recorded decision; a refusal is an error."""
    assert action.flow_run_id
    answer = prefect_api.resume_gate(action.flow_run_id, gate_decision(action))
    if not answer.accepted:
        raise ApprovalError(
            f"the Prefect server refused the decision: {answer.reason}; nothing changed"
        )


def _settle(
    action_id: int,
    decision: ApprovalVerb,
    *,
    approver: str | None,
    notes: str | None,
    price_overrides: dict[str, Any] | None,
    expected_hash: str | None,
    confirm: bool,
) -> ActionView:
    try:
        approver = check_approver(approver_or_default(approver), get_settings().approvers)
        action = get_action(action_id)
        if action.status != ActionStatus.pending:
            raise already_decided(action)
        check_binding(action, expected_hash)
        approved_payload: dict[str, Any] | None = None
        if action.action_type == ActionType.quote_gate:
            if decision == "approve":
                approved_payload = gate_approval(action, price_overrides or {}, confirm)
            _ensure_waiting(action)
        elif price_overrides:
            raise ApprovalError("price overrides apply only to workflow_customer_quote actions")
    except DecisionError as exc:
        raise ApprovalError(f"{exc}; nothing changed") from exc
    except Exception as exc:
        if is_unreachable(exc):
            raise PrefectDownError(exc) from exc
        raise
    decided = decide(
        action_id,
        decision,
        approver=approver,
        notes=notes,
        expected_hash=action.payload_hash,
        approved_payload=approved_payload,
    )
    if action.action_type == ActionType.quote_gate:
        try:
            _resume_gate(decided)
        except Exception as exc:
            assert action.flow_run_id
            if is_unreachable(exc):  # the resume never reached the server: take it back
                undo_decision(decided, action.approver)
                raise PrefectDownError(exc) from exc
            # Someone else resumed the run meanwhile: it reads this recorded decision.
            # Still waiting: nobody will act on the decision, so take it back.
            if prefect_api.waiting_state(action.flow_run_id) is not None:
                undo_decision(decided, action.approver)
            raise
    emit_decision_event(decided)
    return decided


def approve(
    action_id: int,
    *,
    approver: str | None = None,
    notes: str | None = None,
    price_overrides: dict[str, Any] | None = None,
    expected_hash: str | None = None,
    confirm: bool = False,
) -> ActionView:
    """Approve a pending proposed action, from any channel. ``expected_hash``: the payload
    hash the approver was shown; ``confirm``: approve prices the guardrails question."""
    return _settle(
        action_id,
        "approve",
        approver=approver,
        notes=notes,
        price_overrides=price_overrides,
        expected_hash=expected_hash,
        confirm=confirm,
    )


def reject(
    action_id: int,
    *,
    approver: str | None = None,
    notes: str | None = None,
    expected_hash: str | None = None,
) -> ActionView:
    """Reject a pending proposed action, from any channel."""
    return _settle(
        action_id,
        "reject",
        approver=approver,
        notes=notes,
        price_overrides=None,
        expected_hash=expected_hash,
        confirm=False,
    )


REOPENABLE = (ActionStatus.expired, ActionStatus.rejected)


def reopen(action_id: int, *, approver: str | None = None, notes: str | None = None) -> ActionView:
    """Quote again what an expired or rejected quote gate proposed, without retyping: a
    quote_draft for the same request that keeps the quote id, approved at once, so a new
    customer-quote run starts and its gate comes back to Mike. Re-opening one gate twice
    gives the same draft."""
    gate = get_action(action_id)
    if gate.action_type != ActionType.quote_gate:
        raise ApprovalError(
            f"proposed action {action_id} is a {gate.action_type}: only a quote approval can be re-opened"
        )
    if gate.status not in REOPENABLE:
        raise ApprovalError(
            f"proposed action {action_id} is {gate.status}: only an expired or rejected quote "
            "can be re-opened; nothing changed"
        )
    preview = staged_preview(gate)
    request = QuoteRequest(
        customer_id=preview.customer_id,
        item_codes=[line.item_code for line in preview.lines],
        school_year=preview.school_year,
        quote_id=preview.quote_id,
        catalog=preview.catalog,
        include_pdf=preview.include_pdf,
    )
    draft = stage_action(
        action_type=ActionType.quote_draft,
        entity_ref=f"reopen:{gate.id}",
        payload={"request": request.model_dump(mode="json"), "reopens_action_id": gate.id},
    )
    if draft.status != ActionStatus.pending:
        return draft
    try:
        return approve(
            draft.id,
            approver=approver,
            notes=notes or f"re-opened quote {preview.quote_id} (action #{gate.id})",
        )
    except ApprovalError:
        again = get_action(draft.id)
        if again.status == ActionStatus.approved:  # a concurrent re-open won: same draft
            return again
        raise


class RecordedDecision(BaseModel):
    """What the run learnt recording a decision: the action as recorded, or why the typed
    decision was refused (the gate stays pending; the run asks again)."""

    action: ActionView
    problem: str | None = None


def record_from_run(action_id: int, decision: ApprovalDecision) -> RecordedDecision:
    """The gate's run records a decision typed in the Prefect UI form exactly like the
    other channels: the same rules against the preview Mike was shown, then approver,
    time, notes, approved payload and hash, and the event. When a channel already recorded
    the decision (it resumed the run), that record stands: the run follows what is
    recorded, never its own input."""
    action = get_action(action_id)
    if action.status != ActionStatus.pending:
        return RecordedDecision(action=action)
    try:
        who = check_approver(decision.approver, get_settings().approvers)
        approved_payload = (
            gate_approval(action, dict(overrides_of(decision)), decision.confirm)
            if decision.decision == "approve"
            else None
        )
    except DecisionError as exc:
        return RecordedDecision(action=action, problem=str(exc))
    try:
        decided = decide(
            action_id,
            decision.decision,
            approver=who,
            notes=decision.notes or None,
            approved_payload=approved_payload,
        )
    except ApprovalError:
        recorded = get_action(action_id)
        if recorded.status == ActionStatus.pending:
            raise  # e.g. the stored payload no longer matches what was staged
        return RecordedDecision(action=recorded)  # another channel's decision won the race
    emit_decision_event(decided)
    return RecordedDecision(action=decided)
