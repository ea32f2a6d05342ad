"""Proposed actions: staging them and deciding them. One implementation for every
channel (the flow's gate and its Prefect UI form, the CLI, the approval page, Python).

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
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import sqlalchemy as sa
from prefect import get_client
from prefect.client.schemas.responses import SetStateStatus
from prefect.events import emit_event
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from quoteflow import WORKFLOW_TYPE, ledger
from quoteflow.db import session_scope
from quoteflow.decision import (
    ApprovalDecision,
    DecisionError,
    approved_preview,
    check_approver,
    overrides_of,
    parse_overrides,
)
from quoteflow.models import ActionStatus, ActionView, ProposedAction, utcnow
from quoteflow.prefect_api import is_unreachable
from quoteflow.quote import QuotePreview, QuoteRequest, payload_hash
from quoteflow.settings import approver_or_default, get_settings

Decision = Literal["approve", "reject"]


class ApprovalError(Exception):
    """A decision that cannot be taken (not pending, expired, changed payload, refused
    input); nothing was changed."""


class PrefectDownError(ApprovalError):
    """A gate decision while the Prefect API does not answer: the run cannot be asked
    whether it waits nor resumed, so nothing is recorded (every channel says so; the
    approver tries again). A draft decision needs no Prefect call and is recorded: its
    run is started by its trigger or, within a minute, by the reconciler."""

    def __init__(self, cause: BaseException) -> None:
        from quoteflow.prefect_api import PrefectUnreachable

        super().__init__(str(PrefectUnreachable(cause)))


def _find(session: Session, action_type: str, entity_ref: str) -> ProposedAction | None:
    stmt = sa.select(ProposedAction).where(
        ProposedAction.action_type == action_type, ProposedAction.entity_ref == entity_ref
    )
    return session.execute(stmt).scalars().first()


def stage_action(
    *,
    action_type: str,
    entity_ref: str,
    payload: dict[str, Any],
    approver: str | None = None,
    flow_run_id: str | None = None,
    expires_at: datetime | None = None,
    url: str | None = None,
) -> ActionView:
    """Get or create the action for (action_type, entity_ref): staging twice stages once."""
    approver = approver_or_default(approver)
    with session_scope(url) as s:
        existing = _find(s, action_type, entity_ref)
        if existing is not None:
            return ActionView.of(existing)
        row = ProposedAction(
            action_type=action_type,
            entity_ref=entity_ref,
            payload=payload,
            payload_hash=payload_hash(payload),
            approver=approver,
            flow_run_id=flow_run_id,
            expires_at=expires_at,
        )
        s.add(row)
        try:
            s.flush()
        except IntegrityError:
            s.rollback()
            existing = _find(s, action_type, entity_ref)
            assert existing is not None
            return ActionView.of(existing)
        return ActionView.of(row)


def get_action(action_id: int) -> ActionView:
    with session_scope() as s:
        row = s.get(ProposedAction, action_id)
        if row is None:
            raise ApprovalError(f"proposed action {action_id} does not exist")
        return ActionView.of(row)


def find_action(action_type: str, entity_ref: str) -> ActionView | None:
    with session_scope() as s:
        row = _find(s, action_type, entity_ref)
        return ActionView.of(row) if row else None


def list_actions(*, status: str | None = None, action_type: str | None = None) -> list[ActionView]:
    stmt = sa.select(ProposedAction).order_by(ProposedAction.created_at.desc())
    if status:
        stmt = stmt.where(ProposedAction.status == status)
    if action_type:
        stmt = stmt.where(ProposedAction.action_type == action_type)
    with session_scope() as s:
        return [ActionView.of(r) for r in s.execute(stmt).scalars().all()]


def _when(moment: datetime | None) -> str:
    from quoteflow.presentation import format_when

    return format_when(moment) if moment else "an unknown time"


def _already(row: ProposedAction | ActionView) -> ApprovalError:
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


def _read(action_id: int, url: str | None = None) -> ActionView:
    with session_scope(url) as s:
        row = s.get(ProposedAction, action_id)
        if row is None:
            raise ApprovalError(f"proposed action {action_id} does not exist")
        return ActionView.of(row)


SYSTEM_APPROVER = "system"  # who records an expiry: nobody decided


def _mark_expired(action_id: int, now: datetime, url: str | None = None) -> None:
    t = ProposedAction
    with session_scope(url) as s:
        s.execute(
            sa.update(t)
            .where(t.id == action_id, t.status == ActionStatus.pending.value)
            .values(status=ActionStatus.expired.value, decided_at=now, approver=SYSTEM_APPROVER)
            .execution_options(synchronize_session=False)
        )


def decide(
    action_id: int,
    decision: Decision,
    *,
    approver: str | None = None,
    notes: str | None = None,
    expected_hash: str | None = None,
    approved_payload: dict[str, Any] | None = None,
    now: datetime | None = None,
    allow_same: bool = False,
    url: str | None = None,
) -> ActionView:
    """Approve or reject a pending, unexpired action in ONE conditional write, recording
    who, when, notes and what was approved (``approved_payload``, default the staged
    payload, and its hash). Of racing decisions exactly one wins; the others get an
    ApprovalError naming the winner. With ``allow_same``, the decision already taken is
    returned unchanged (a re-run of the flow that recorded it)."""
    approver = approver_or_default(approver)
    now = now or utcnow()
    wanted = ActionStatus.approved if decision == "approve" else ActionStatus.rejected
    # Checks read in their own short transaction; the write below is a single statement
    # (on SQLite a read transaction upgraded to a write can fail instead of waiting).
    action = _read(action_id, url)
    if action.status != ActionStatus.pending:
        if allow_same and action.status == wanted:
            return action
        raise _already(action)
    if action.expires_at is not None and action.expires_at <= now:
        _mark_expired(action_id, now, url)
        raise ApprovalError(
            f"proposed action {action_id} expired at {_when(action.expires_at)}; "
            "nothing was approved"
        )
    check_binding(action, expected_hash)
    values: dict[str, Any] = {
        "status": wanted.value,
        "approver": approver,
        "decision_notes": notes or None,
        "decided_at": now,
    }
    if wanted == ActionStatus.approved:
        approved = approved_payload if approved_payload is not None else action.payload
        values.update(approved_payload=approved, approved_payload_hash=payload_hash(approved))
    t = ProposedAction
    with session_scope(url) as s:
        won = s.execute(
            sa.update(t)
            .where(
                t.id == action_id,
                t.status == ActionStatus.pending.value,
                t.payload_hash == action.payload_hash,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
    after = _read(action_id, url)
    if won != 1:
        if allow_same and after.status == wanted:
            return after
        raise _already(after)
    return after


def _undo(decided: ActionView, previous_approver: str) -> None:
    """Take back a decision nobody acted on (its run could not be resumed)."""
    t = ProposedAction
    with session_scope() as s:
        s.execute(
            sa.update(t)
            .where(
                t.id == decided.id,
                t.status == decided.status,
                t.decided_at == decided.decided_at,
            )
            .values(
                status=ActionStatus.pending.value,
                approver=previous_approver,
                decision_notes=None,
                decided_at=None,
                approved_payload=None,
                approved_payload_hash=None,
            )
            .execution_options(synchronize_session=False)
        )


def expire(action_id: int) -> ActionView:
    """Mark a still-pending action expired (idempotent)."""
    _read(action_id)
    _mark_expired(action_id, utcnow())
    return _read(action_id)


# ---------------------------------------------------------------- the approval path
# Every channel (CLI, approval page, Python) goes through approve()/reject() below:
# check, record (one conditional write), resume a waiting flow run, emit
# `proposed_action.<decision>`. The Prefect UI form resumes the run directly; the run
# then records the same decision with record_from_run().

QUOTE_DRAFT_ACTION_TYPE = "quote_draft"
GATE_ACTION_TYPE = "workflow_customer_quote"


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


def draft_quote(request: QuoteRequest, *, entity_ref: str | None = None) -> ActionView:
    """Stage a quote_draft proposed action (what the chat tool did). Approving it starts a
    customer-quote run through the deployment's event trigger. The same ``entity_ref``
    (e.g. one chat preview) stages once."""
    return stage_action(
        action_type=QUOTE_DRAFT_ACTION_TYPE,
        entity_ref=entity_ref or f"draft:{uuid.uuid4().hex}",
        payload={"request": request.model_dump(mode="json")},
    )


def emit_decision_event(action: ActionView) -> None:
    """``proposed_action.approved|rejected``: the one emitter every channel uses. The event
    id is derived from the action and the decision, so repeats collapse."""
    verb = "approved" if action.status == ActionStatus.approved else "rejected"
    emit_event(
        event=f"proposed_action.{verb}",
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
        id=uuid.uuid5(
            uuid.NAMESPACE_URL,
            f"proposed-action/{action.id}/{action.created_at.isoformat()}/{verb}",
        ),
    )
    from quoteflow.mail import SEND_ACTION_TYPE  # here: quoteflow.mail loads the PDF stack

    if action.action_type == SEND_ACTION_TYPE and verb == "rejected":
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


def _run_state(flow_run_id: str) -> str | None:
    """The run's state name when it is waiting (paused/suspended); None otherwise."""
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(flow_run_id))
    if run.state is None or not run.state.is_paused():
        return None
    return run.state.name


# A gate handing over from its hot pause to a suspension is Running for a moment
# (flows/gate_wait.py): a decision arriving then is retried once, this long after.
HANDOVER_RETRY_SECONDS = 0.5


def _ensure_waiting(action: ActionView) -> None:
    if not action.flow_run_id:
        raise ApprovalError(f"proposed action {action.id} has no flow run to resume")
    if _run_state(action.flow_run_id) is None:
        time.sleep(HANDOVER_RETRY_SECONDS)
        if _run_state(action.flow_run_id) is None:
            raise ApprovalError(
                f"flow run {action.flow_run_id} is not waiting for a decision; nothing changed"
            )


def _resume_gate(action: ActionView, run_input: dict[str, Any]) -> None:
    """Resume the suspended (or paused) customer-quote run with the decision; the
    server's answer is checked: a refused resume is an error (after one retry across the
    hot-to-cold hand-over)."""
    assert action.flow_run_id
    with get_client(sync_client=True) as client:
        result = client.resume_flow_run(UUID(action.flow_run_id), run_input=run_input)
        if result.status != SetStateStatus.ACCEPT:
            time.sleep(HANDOVER_RETRY_SECONDS)
            result = client.resume_flow_run(UUID(action.flow_run_id), run_input=run_input)
    if result.status != SetStateStatus.ACCEPT:
        reason = result.details.reason if result.details else str(result.status)
        raise ApprovalError(f"the Prefect server refused the decision: {reason}; nothing changed")


def _gate_approval(
    action: ActionView, overrides: dict[str, Any], confirm: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(approved payload, the prices as the run input carries them) for a gate approval;
    the rules the run applies are applied here first, so the run never refuses it."""
    prices = parse_overrides(overrides)
    approved = approved_preview(
        staged_preview(action),
        prices,
        confirm=confirm,
        margin_floor=get_settings().margin_floor_pct,
    )
    run_prices = [{"item_code": c, "case_price": str(p)} for c, p in prices.items()]
    return gate_payload(approved), {"price_overrides": run_prices}


def _settle(
    action_id: int,
    decision: Decision,
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
            raise _already(action)
        check_binding(action, expected_hash)
        approved_payload: dict[str, Any] | None = None
        run_prices: dict[str, Any] = {"price_overrides": []}
        if action.action_type == GATE_ACTION_TYPE:
            if decision == "approve":
                approved_payload, run_prices = _gate_approval(
                    action, price_overrides or {}, confirm
                )
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
    if action.action_type == GATE_ACTION_TYPE:
        run_input = {
            "decision": decision,
            "notes": notes or "",
            "approver": approver,
            "confirm": confirm,
            **run_prices,
        }
        try:
            _resume_gate(action, run_input)
        except Exception as exc:
            assert action.flow_run_id
            if is_unreachable(exc):  # the resume never reached the server: take it back
                _undo(decided, action.approver)
                raise PrefectDownError(exc) from exc
            # Someone else resumed the run meanwhile: it reads this recorded decision.
            # Still waiting: nobody will act on the decision, so take it back.
            if _run_state(action.flow_run_id) is not None:
                _undo(decided, action.approver)
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
    if gate.action_type != GATE_ACTION_TYPE:
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
        action_type=QUOTE_DRAFT_ACTION_TYPE,
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
            _gate_approval(action, dict(overrides_of(decision)), decision.confirm)[0]
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


def stale_gates(*, expired_before: datetime) -> list[ActionView]:
    """Quote gates still pending although their window closed before ``expired_before``.

    A suspended run holds no process, so nobody inside it records the expiry: the
    Prefect server fails the run and this finds what is left to record."""
    stmt = sa.select(ProposedAction).where(
        ProposedAction.action_type == GATE_ACTION_TYPE,
        ProposedAction.status == ActionStatus.pending,
        ProposedAction.expires_at < expired_before,
    )
    with session_scope() as s:
        return [ActionView.of(r) for r in s.execute(stmt).scalars().all()]
