"""customer-quote: the customer_quote workflow contract (v2) as one Prefect flow.

trigger -> load context -> preconditions -> Mike's approval gate -> the live hold check
(NetSuite, now) -> five side effects -> post actions. The flow only sequences tasks;
reads and writes live in tasks/, rules in quoteflow.quote and quoteflow.run_rules, what each
outcome records in quoteflow.outcome.
A run started again once its gate is staged (resumed after Mike's answer, or re-driven)
continues from that gate and the preview stored on it, without looking anything up again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import Flow, FlowRun
from prefect.futures import wait
from prefect.runtime import deployment as current_deployment
from prefect.runtime import flow_run as current_run
from prefect.states import Completed, Failed, State
from pydantic import Field, ValidationError

from blocks.netsuite import NetSuiteCredentials
from flows.gate_wait import await_decision_input
from quoteflow import WORKFLOW_TYPE
from quoteflow.approvals import preview_to_execute, staged_preview
from quoteflow.decision import ApprovalDecision, refused_input_problem
from quoteflow.gate_close import close_abandoned_gate
from quoteflow.models import ActionStatus, ActionType, ActionView, RunStatus
from quoteflow.outcome import RunOutcome, RunSubject, stranded_reason
from quoteflow.outcome_records import record_crash
from quoteflow.presentation import resume_description
from quoteflow.quote import QuoteContext, QuotePreview, QuoteRequest, check_blocking
from quoteflow.run_rules import StepOutcome
from quoteflow.settings import get_settings
from tasks.approvals import (
    find_staged_gate,
    name_run_expired,
    record_gate_decision,
    record_gate_expired,
    stage_gate_action,
)
from tasks.ar_forecast import touch_ar_forecast
from tasks.claims import claim_proposed_action, log_claim_refused
from tasks.context import (
    QuoteIdentity,
    allocate_quote_id,
    load_current_pricing,
    load_customer,
    load_customer_programs,
    load_data_age,
    load_open_proposals,
    load_open_quotes,
    resolve_items,
)
from tasks.effects import close_gate_of_ended_run
from tasks.email import draft_quote_email
from tasks.ledger import emit_workflow_event, log_run, stage_verify_checks, write_reflexion
from tasks.netsuite import check_live_hold, push_estimate
from tasks.notify import notify_draft_end, notify_held_after_approval, notify_waiting_action
from tasks.pdf import render_pdf
from tasks.quotes import build_quote_preview, write_quote
from tasks.reports import (
    collect_step_outcomes,
    publish_preview,
    publish_run_summary,
    step_states,
)


def _now() -> datetime:
    return datetime.now(UTC)


def _load_context(request: QuoteRequest, run_id: str) -> tuple[QuoteContext, QuoteIdentity]:
    """Lane 2: the contract's four queries, item resolution, open proposals, the data's
    age and the quote id, all at once."""
    customer_f = load_customer.submit(request.customer_id)
    programs_f = load_customer_programs.submit(request.customer_id)
    pricing_f = load_current_pricing.submit(
        request.customer_id, request.item_codes, request.school_year
    )
    open_f = load_open_quotes.submit(request.customer_id)
    items_f = resolve_items.submit(request.item_codes, request.catalog)
    identity_f = allocate_quote_id.submit(request, run_id)
    proposals_f = load_open_proposals.submit(request.customer_id, request.item_codes)
    age_f = load_data_age.submit(request.customer_id, request.item_codes, request.school_year)
    context = QuoteContext(
        customer=customer_f.result(),
        programs=programs_f.result(),
        pricing=pricing_f.result(),
        open_quotes=open_f.result(),
        items=items_f.result(),
        proposals=proposals_f.result(),
        data_age=age_f.result(),
    )
    return context, identity_f.result()


def _price(request: QuoteRequest, context: QuoteContext, identity: QuoteIdentity) -> QuotePreview:
    """The preview Mike decides on, its warnings logged and published."""
    preview = build_quote_preview(request, context, identity.quote_id, identity.supersedes_quote_id)
    for w in preview.warnings:
        get_run_logger().warning("%s: %s %s", w.check, w.message, w.item_codes)
    publish_preview(preview)
    return preview


def _await_decision(
    preview: QuotePreview, gate: ActionView
) -> tuple[ApprovalDecision | None, ActionView]:
    """Suspend (in a deployment: no process held) or pause (elsewhere) until Mike
    decides, and record the decision on the gate (unless a channel already did: the run
    follows what is recorded). An input the rules refuse asks again, keeping what was
    typed, as often as it comes: only the gate's deadline ends the wait. Returns (None,
    gate) when the approval window passes."""
    logger = get_run_logger()
    in_deployment = current_deployment.id is not None
    problem: str | None = None
    typed: dict[str, Any] = {}
    round_no = 0
    while True:
        round_no += 1
        assert gate.expires_at is not None
        settings = get_settings()
        description = resume_description(
            preview,
            page_url=f"{settings.public_base_url.rstrip('/')}/actions/{gate.id}",
            decide_by=gate.expires_at,
            margin_floor=settings.margin_floor_pct,
            problem=problem,
        )
        # No initial decision on the first round: a form that starts on "approve" would
        # approve on a bare Submit. After a refusal the form keeps what Mike chose.
        form = ApprovalDecision.with_initial_data(description=description, **typed)
        key = f"approval-{round_no}"
        try:
            decision = await_decision_input(
                form, key=key, expires_at=gate.expires_at, in_deployment=in_deployment
            )
        except ValidationError as exc:  # the server let through what the form refuses
            problem = refused_input_problem(exc)
            logger.warning("Decision input refused, asking again: %s", problem)
            continue
        if decision is None:  # the approval window passed
            return None, gate
        recorded = record_gate_decision(gate.id, decision)
        if recorded.problem:
            problem = recorded.problem
            # Keep what was typed (notes, prices); who decides and confirming are asked anew.
            typed = decision.model_dump(
                mode="json", include={"decision", "notes", "price_overrides"}
            )
            logger.warning("Decision refused (round %d), asking again: %s", round_no, problem)
            continue
        return decision, recorded.action


def _stage_gate(run_id: str, preview: QuotePreview) -> ActionView:
    """Lane 3, the HITL gate (risk 3 >= 3): stage it and tell Mike."""
    gate = stage_gate_action(run_id, preview, get_settings().approval_window_minutes)
    log_run(run_id, RunStatus.awaiting_approval)
    # A failed notice never holds the gate: the reminder sweep sends it again.
    notify_waiting_action(gate.id, return_state=True)
    return gate


def _staged(gate: ActionView) -> QuotePreview:
    """A run started again after staging its gate (resumed from the suspension, or
    re-driven after its process died) continues from that gate with the preview Mike was
    shown: no lookups again, nothing rebuilt from today's data, no task replayed."""
    get_run_logger().info(
        "Continuing from approval gate %s (staged %s UTC, %s): the quote Mike was shown.",
        gate.id,
        f"{gate.created_at:%Y-%m-%d %H:%M:%S}",
        gate.status,
    )
    return staged_preview(gate)


def _gate(preview: QuotePreview, gate: ActionView) -> tuple[ApprovalDecision | None, ActionView]:
    """Wait for Mike's decision on the staged gate; (None, the expired gate) when the
    window passes unanswered."""
    decision, gate = _await_decision(preview, gate)
    if decision is None:
        gate = record_gate_expired(gate.id)
    return decision, gate


def _approved(gate: ActionView, decision: ApprovalDecision, preview: QuotePreview) -> QuotePreview:
    """Before any side effect: exactly what was approved."""
    approved, used_stored = preview_to_execute(gate, decision, preview)
    if used_stored:
        get_run_logger().warning(
            "This run's preview differs from the one Mike approved (hash %s); executing "
            "the approved payload stored on proposed action %s instead.",
            gate.approved_payload_hash,
            gate.id,
        )
    if approved != preview:
        publish_preview(approved)  # the preview artifact shows the approved prices
    return approved


def _live_hold(preview: QuotePreview, netsuite: NetSuiteCredentials) -> str | None:
    """Before any write: why NetSuite says the customer must not be quoted now (on hold,
    inactive), or that it could not say (unreachable after the step's retries); None
    when the fan-out may write."""
    state = check_live_hold(preview.customer_id, preview.customer_name, netsuite, return_state=True)
    if state.is_completed():
        return state.result()
    return (
        f"live hold check: NetSuite could not confirm the customer's status ({state.message}); "
        "nothing is written on an unconfirmed status"
    )


def _fan_out(
    preview: QuotePreview, run_id: str, netsuite: NetSuiteCredentials
) -> tuple[list[StepOutcome], str | None]:
    """Lane 4: write_quote first; PDF, NetSuite and AR concurrently; the email draft
    after the PDF. Returns every step's outcome and the stored PDF's key."""
    settings = get_settings()
    bucket = None
    if preview.include_pdf:
        from prefect_aws import S3Bucket  # only an approved run needs it (import ~1 s)

        bucket = S3Bucket.load(settings.s3_bucket_block)
    written = write_quote.submit(preview, run_id)
    futures: dict[str, Any] = {"write_quote": written}
    skipped: dict[str, str] = {}
    pdf_f = None
    if bucket is not None:
        pdf_f = render_pdf.submit(
            preview, bucket, settings.company_name, run_id, wait_for=[written]
        )
        futures["render_pdf"] = pdf_f
    else:
        skipped["render_pdf"] = "include_pdf is false"
        get_run_logger().info("render_pdf skipped: include_pdf is false")
    futures["ns_push"] = push_estimate.submit(preview, netsuite, run_id, wait_for=[written])
    futures["ar_forecast_touch"] = touch_ar_forecast.submit(
        preview.customer_id, preview.quote_id, wait_for=[written]
    )
    futures["send_email"] = draft_quote_email.submit(
        preview, pdf_f, run_id, wait_for=[pdf_f or written]
    )
    wait(list(futures.values()))
    steps = collect_step_outcomes(step_states(futures), skipped)
    pdf_stored = pdf_f is not None and pdf_f.state.is_completed()
    return steps, pdf_f.result().key if pdf_stored else None


def _record(run_id: str, outcome: RunOutcome) -> None:
    """Contract section 7, for every outcome: run log, reflexion, ledger event, summary."""
    summary = outcome.summary
    log_run(run_id, outcome.status, summary=summary)
    write_reflexion(run_id, outcome.narrative, outcome.tags)
    emit_workflow_event(outcome.event_type, run_id, summary)
    publish_run_summary(
        outcome.subject.quote_id, outcome.status.value, outcome.steps, outcome.narrative
    )


def _end(run_id: str, outcome: RunOutcome) -> State[Any]:
    """Record the outcome and return the run's final state."""
    _record(run_id, outcome)
    final = outcome.final_state
    if outcome.status == RunStatus.expired:
        name_run_expired(run_id, final.message)
    return (Completed if final.completed else Failed)(name=final.name, message=final.message)


def _record_abnormal_end(flow: Flow, flow_run: FlowRun, state: State[Any]) -> None:
    """A crashed or cancelled run still gets its run log, reflexion and event; a
    cancelled one (never re-driven) closes its gate if it still waits."""
    reason = stranded_reason(state.name, state.timestamp, state.message)
    record_crash(flow_run, reason)
    if state.is_cancelled():
        close_abandoned_gate(str(flow_run.id), reason)


@flow(
    name="customer-quote",
    description="Customer quote (contract v2): context, preconditions, Mike's approval, "
    "quote rows, PDF, email draft, NetSuite estimate, AR touch, post actions.",
    persist_result=True,
    on_crashed=[_record_abnormal_end],
    on_cancellation=[_record_abnormal_end],
)
def customer_quote(
    request: QuoteRequest | None = None,
    proposed_action_id: Annotated[
        int | None,
        Field(
            ge=1,
            description="The approved quote_draft proposed action this run acts on (its "
            "trigger passes it); the run claims it first and takes the request from it.",
        ),
    ] = None,
) -> State[Any]:
    """Run one customer quote end to end; Mike's approval gates every side effect.

    Args:
        request: The quote request (only for runs not started from a quote draft).
        proposed_action_id: The approved quote_draft action this run acts on.
    """
    logger = get_run_logger()
    run_id = str(current_run.id)
    # START: one approved draft -> exactly one run. Claim it before doing anything; a
    # run for a pending/rejected draft, or one another run claimed, ends here.
    if proposed_action_id is not None:
        claim = claim_proposed_action(proposed_action_id, run_id, ActionType.quote_draft)
        if not claim.acquired:
            logger.warning("%s", claim.message)
            log_claim_refused(run_id, claim, WORKFLOW_TYPE)
            return Completed(name=claim.state_name, message=claim.message)
        logger.info("%s", claim.message)
        request = QuoteRequest.model_validate(claim.payload["request"])
    elif request is None:
        raise ValueError(
            "customer-quote needs proposed_action_id (an approved quote draft) or request; "
            "got neither"
        )
    log_run(run_id, RunStatus.running, started_at=_now())
    preview: QuotePreview | None = None
    try:
        gate = find_staged_gate(run_id)
        if gate is None:
            context, identity = _load_context(request, run_id)
            # Preconditions: block halts the run with nothing written but the post actions.
            if blocked := check_blocking(context, identity.problem):
                name = context.customer.name if context.customer else None
                outcome = RunOutcome.blocked(RunSubject.of(request, customer_name=name), blocked)
                logger.warning("Blocked: %s", outcome.reason)
                final = _end(run_id, outcome)
                if proposed_action_id is not None:  # the draft Mike approved: tell him
                    notify_draft_end(proposed_action_id, return_state=True)
                return final
            preview = _price(request, context, identity)
            gate = _stage_gate(run_id, preview)
        else:
            preview = _staged(gate)
        # Nothing below happens before approval.
        decision, gate = _gate(preview, gate)
        subject = RunSubject.of(request, preview)
        if decision is None or gate.status == ActionStatus.expired:
            return _end(run_id, RunOutcome.expired(subject, gate))
        if gate.status != ActionStatus.approved:
            return _end(run_id, RunOutcome.rejected(subject, decision, gate.id))
        preview = _approved(gate, decision, preview)
        # The blocks first: every step after write_quote then starts the moment it is written.
        netsuite = NetSuiteCredentials.load(get_settings().netsuite_block)
        if held := _live_hold(preview, netsuite):
            outcome = RunOutcome.held_after_approval(
                RunSubject.of(request, preview), held, decision, gate.id
            )
            logger.warning("Blocked after approval: %s", held)
            notify_held_after_approval(gate.id, held, return_state=True)
            return _end(run_id, outcome)
        steps, pdf_key = _fan_out(preview, run_id, netsuite)
        outcome = RunOutcome.fanned_out(RunSubject.of(request, preview), steps, decision, gate.id)
        # Lane 6: the verify checks the scheduled deployment runs.
        if outcome.quote_written:
            stage_verify_checks(run_id, preview.quote_id, pdf_key)
        return _end(run_id, outcome)
    except Exception as exc:
        _record(run_id, RunOutcome.failed(RunSubject.of(request, preview), exc))
        close_gate_of_ended_run(run_id, f"{type(exc).__name__}: {exc}", return_state=True)
        raise
