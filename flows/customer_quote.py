"""customer-quote: the customer_quote workflow contract (v2) as one Prefect flow.

trigger -> load context -> preconditions -> Mike's approval gate -> five side effects
-> post actions. The flow only sequences tasks; reads and writes live in tasks/, rules
in quoteflow.quote and quoteflow.runs.
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
from pydantic import Field

from blocks.netsuite import NetSuiteCredentials
from flows.gate_wait import await_decision_input
from quoteflow import WORKFLOW_TYPE, ledger
from quoteflow.approvals import QUOTE_DRAFT_ACTION_TYPE, preview_to_execute
from quoteflow.decision import ApprovalDecision
from quoteflow.models import ActionStatus, ActionView, RunStatus
from quoteflow.presentation import preview_markdown
from quoteflow.quote import (
    BlockReason,
    QuoteContext,
    QuotePreview,
    QuoteRequest,
    check_blocking,
)
from quoteflow.runs import (
    FANOUT_STEPS,
    StepOutcome,
    fanout_status,
    ledger_event_type,
    narrative,
    reflexion_tags,
)
from quoteflow.settings import get_settings
from tasks.approvals import (
    name_run_expired,
    record_gate_decision,
    record_gate_expired,
    stage_gate_action,
)
from tasks.claims import claim_proposed_action, log_claim_refused
from tasks.context import (
    allocate_quote_id,
    load_current_pricing,
    load_customer,
    load_customer_programs,
    load_open_proposals,
    load_open_quotes,
    resolve_items,
)
from tasks.email import draft_quote_email
from tasks.ledger import emit_workflow_event, log_run, stage_verify_checks, write_reflexion
from tasks.netsuite import push_estimate
from tasks.notify import notify_waiting_action
from tasks.pdf import render_pdf
from tasks.policy import is_retryable_failure
from tasks.profiles import touch_ar_forecast
from tasks.quotes import build_quote_preview, write_quote
from tasks.reports import (
    StepState,
    collect_step_outcomes,
    publish_preview,
    publish_run_summary,
)

MAX_DECISION_ROUNDS = 5


def _now() -> datetime:
    return datetime.now(UTC)


def _await_decision(
    preview: QuotePreview, gate: ActionView
) -> tuple[ApprovalDecision | None, ActionView]:
    """Suspend (in a deployment: no process held) or pause (elsewhere) until Mike
    decides, and record the decision on the gate (unless a channel already did: the run
    follows what is recorded). An input the schema accepts but the rules refuse asks
    again, keeping what was typed. Returns (None, gate) when the approval window passes."""
    logger = get_run_logger()
    in_deployment = current_deployment.id is not None
    problem: str | None = None
    typed: dict[str, Any] = {}
    for round_no in range(1, MAX_DECISION_ROUNDS + 1):
        assert gate.expires_at is not None
        description = (
            preview_markdown(preview)
            + f"\n\nPayload hash `{gate.payload_hash}`."
            + (f"\n\n**Please decide again:** {problem}" if problem else "")
        )
        # No initial decision: a form that starts on "approve" would approve on a bare Submit.
        form = ApprovalDecision.with_initial_data(description=description, **typed)
        key = f"approval-{round_no}"
        decision = await_decision_input(
            form, key=key, expires_at=gate.expires_at, in_deployment=in_deployment
        )
        if decision is None:  # the approval window passed
            return None, gate
        recorded = record_gate_decision(gate.id, decision)
        if recorded.problem:
            problem = recorded.problem
            # Keep what was typed (notes, prices); who decides and confirming are asked anew.
            typed = decision.model_dump(mode="json", include={"notes", "price_overrides"})
            logger.warning("Decision refused, asking again: %s", problem)
            continue
        return decision, recorded.action
    raise RuntimeError(f"no valid decision after {MAX_DECISION_ROUNDS} rounds: {problem}")


def _post_actions(
    *,
    run_id: str,
    status: RunStatus,
    request: QuoteRequest,
    preview: QuotePreview | None,
    customer_name: str | None = None,
    reason: str | None = None,
    steps: list[StepOutcome] | None = None,
    decision: ApprovalDecision | None = None,
    gate_action_id: int | None = None,
) -> None:
    """Contract section 7, for every outcome: run log, reflexion, ledger event, summary."""
    steps = steps or []
    summary: dict[str, Any] = {
        "status": status.value,
        "customer_id": request.customer_id,
        "school_year": request.school_year,
        "quote_id": preview.quote_id if preview else None,
        "lines": len(preview.quotable_lines) if preview else 0,
        "subtotal": str(preview.subtotal) if preview else None,
        "warnings": [w.model_dump() for w in preview.warnings] if preview else [],
        "reason": reason,
        "gate_action_id": gate_action_id,
        "decision": decision.model_dump(mode="json", exclude={"metadata"}) if decision else None,
        "steps": [s.model_dump() for s in steps],
    }
    story = narrative(
        status=status,
        customer_id=request.customer_id,
        customer_name=preview.customer_name if preview else customer_name,
        school_year=request.school_year,
        quote_id=preview.quote_id if preview else None,
        lines=len(preview.quotable_lines) if preview else 0,
        subtotal=str(preview.subtotal) if preview else None,
        warnings=[w.message for w in preview.warnings] if preview else [],
        reason=reason,
        steps=steps,
        decision_notes=decision.notes if decision else None,
    )
    log_run(run_id, status, summary=summary)
    write_reflexion(run_id, story, reflexion_tags(request.customer_id, request.school_year))
    emit_workflow_event(ledger_event_type(status), run_id, summary)
    publish_run_summary(preview.quote_id if preview else None, status.value, steps, story)


def _end_expired(
    run_id: str, request: QuoteRequest, preview: QuotePreview, gate_id: int, reason: str
) -> State[Any]:
    _post_actions(
        run_id=run_id,
        status=RunStatus.expired,
        request=request,
        preview=preview,
        reason=reason,
        gate_action_id=gate_id,
    )
    name_run_expired(run_id, reason)
    return Failed(name="Expired", message=reason)


def _record_abnormal_end(flow: Flow, flow_run: FlowRun, state: State[Any]) -> None:
    """A crashed or cancelled run still gets its run log, reflexion and event."""
    run_id = str(flow_run.id)
    reason = f"run {state.name.lower()}: {state.message or ''}".strip()
    params = (flow_run.parameters or {}).get("request") or {}
    ledger.record_run_outcome(
        run_id,
        RunStatus.failed,
        narrative=f"Customer quote run {run_id} ended abnormally ({reason}).",
        tags=reflexion_tags(str(params.get("customer_id")), str(params.get("school_year"))),
        summary={"status": "failed", "reason": reason},
    )


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
    settings = get_settings()
    logger = get_run_logger()
    run_id = str(current_run.id)
    # START: one approved draft -> exactly one run. Claim it before doing anything; a
    # run for a pending/rejected draft, or one another run claimed, ends here.
    if proposed_action_id is not None:
        claim = claim_proposed_action(proposed_action_id, run_id, QUOTE_DRAFT_ACTION_TYPE)
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
        # Lane 2: load context (the contract's four queries, plus item resolution).
        customer_f = load_customer.submit(request.customer_id)
        programs_f = load_customer_programs.submit(request.customer_id)
        pricing_f = load_current_pricing.submit(
            request.customer_id, request.item_codes, request.school_year
        )
        open_f = load_open_quotes.submit(request.customer_id)
        items_f = resolve_items.submit(request.item_codes, request.catalog)
        identity_f = allocate_quote_id.submit(request, run_id)
        proposals_f = load_open_proposals.submit(request.customer_id, request.item_codes)
        context = QuoteContext(
            customer=customer_f.result(),
            programs=programs_f.result(),
            pricing=pricing_f.result(),
            open_quotes=open_f.result(),
            items=items_f.result(),
            proposals=proposals_f.result(),
        )
        identity = identity_f.result()

        # Preconditions: block halts the run with nothing written but the post actions.
        blocked = check_blocking(context)
        if identity.problem and not blocked:
            blocked = [BlockReason(check="quote_id_usable", message=identity.problem)]
        if blocked:
            reason = "; ".join(f"{b.check}: {b.message}" for b in blocked)
            logger.warning("Blocked: %s", reason)
            _post_actions(
                run_id=run_id,
                status=RunStatus.blocked,
                request=request,
                preview=None,
                customer_name=context.customer.name if context.customer else None,
                reason=reason,
            )
            return Completed(name="Blocked", message=reason)

        preview = build_quote_preview(
            request, context, identity.quote_id, identity.supersedes_quote_id
        )
        for w in preview.warnings:
            logger.warning("%s: %s %s", w.check, w.message, w.item_codes)
        publish_preview(preview)

        # Lane 3: the HITL gate (risk 3 >= 3). Nothing below happens before approval.
        gate = stage_gate_action(run_id, preview, settings.approval_window_minutes)
        log_run(run_id, RunStatus.awaiting_approval)
        # A failed notice never holds the gate: the reminder sweep sends it again.
        notify_waiting_action(gate.id, return_state=True)
        decision, gate = _await_decision(preview, gate)
        if decision is None:
            record_gate_expired(gate.id)
            reason = f"no decision within {settings.approval_window_minutes:g} min"
            return _end_expired(run_id, request, preview, gate.id, reason)
        if gate.status == ActionStatus.expired:
            reason = "the approval window closed before the decision was recorded"
            return _end_expired(run_id, request, preview, gate.id, reason)
        if gate.status != ActionStatus.approved:
            _post_actions(
                run_id=run_id,
                status=RunStatus.rejected,
                request=request,
                preview=preview,
                decision=decision,
                gate_action_id=gate.id,
            )
            return Completed(name="Rejected", message=gate.decision_notes or "rejected by Mike")

        # Before any side effect: execute exactly what was approved.
        approved, used_stored = preview_to_execute(gate, decision, preview)
        if used_stored:
            logger.warning(
                "This run's preview differs from the one Mike approved (hash %s); executing "
                "the approved payload stored on proposed action %s instead.",
                gate.approved_payload_hash,
                gate.id,
            )
        if approved != preview:
            publish_preview(approved)  # the preview artifact shows the approved prices
        # Lane 4: fan-out. write_quote first; PDF, NetSuite and AR concurrently; the
        # email draft after the PDF.
        preview = approved
        written = write_quote.submit(preview, run_id)
        futures: dict[str, Any] = {"write_quote": written}
        skipped: dict[str, str] = {}
        pdf_f = None
        if preview.include_pdf:
            from prefect_aws import S3Bucket  # only an approved run needs it (import ~1 s)

            bucket = S3Bucket.load(settings.s3_bucket_block)
            pdf_f = render_pdf.submit(
                preview, bucket, settings.company_name, run_id, wait_for=[written]
            )
            futures["render_pdf"] = pdf_f
        else:
            skipped["render_pdf"] = "include_pdf is false"
            logger.info("render_pdf skipped: include_pdf is false")
        netsuite = NetSuiteCredentials.load(settings.netsuite_block)
        futures["ns_push"] = push_estimate.submit(preview, netsuite, run_id, wait_for=[written])
        futures["ar_forecast_touch"] = touch_ar_forecast.submit(
            preview.customer_id, preview.quote_id, wait_for=[written]
        )
        futures["send_email"] = draft_quote_email.submit(
            preview, pdf_f, run_id, wait_for=[pdf_f or written]
        )
        wait(list(futures.values()))
        seen = {name: futures[name].state for name in futures}
        steps = collect_step_outcomes(
            {
                name: StepState(
                    task_run_id=str(futures[name].task_run_id),
                    completed=seen[name].is_completed(),
                    name=seen[name].name,
                    message=seen[name].message,
                    retryable=seen[name].is_completed() or is_retryable_failure(seen[name]),
                )
                if name in futures
                else None
                for name in FANOUT_STEPS
            },
            skipped,
        )
        status = fanout_status(steps)

        # Lane 5/6: post actions, and the verify checks the scheduled deployment runs.
        if next(s for s in steps if s.name == "write_quote").status == "completed":
            pdf_ok = next((s for s in steps if s.name == "render_pdf"), None)
            pdf_key = (
                pdf_f.result().key
                if pdf_f is not None and pdf_ok and pdf_ok.status == "completed"
                else None
            )
            stage_verify_checks(run_id, preview.quote_id, pdf_key)
        _post_actions(
            run_id=run_id,
            status=status,
            request=request,
            preview=preview,
            steps=steps,
            decision=decision,
            gate_action_id=gate.id,
        )
        if status != RunStatus.completed:
            failed = [s.name for s in steps if s.status in ("failed", "not_run")]
            return Failed(
                name="Partial" if status == RunStatus.partial else "Failed",
                message=f"{status.value}: failed steps: {', '.join(failed)}",
            )
        return Completed(message=f"quote {preview.quote_id} done: {len(steps)} steps")
    except Exception as exc:
        _post_actions(
            run_id=run_id,
            status=RunStatus.failed,
            request=request,
            preview=preview,
            reason=f"{type(exc).__name__}: {exc}",
        )
        raise
