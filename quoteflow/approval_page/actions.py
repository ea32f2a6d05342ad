"""Deciding a proposed action on the page: show it, approve, reject, re-open. Prices,
guardrails and limits are ``quoteflow.decision``'s; the decision is
``quoteflow.approvals.approve/reject`` with the payload hash the page showed. Approving
changed prices goes through a review step (recomputed margins, subtotal, warnings) that
must be confirmed."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Mapping

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from quoteflow import approvals
from quoteflow.approval_page.action_view import action_page, gate_preview
from quoteflow.approval_page.forms import (
    CONFIRM_FIELD,
    PRICE_FIELD_PREFIX,
    DecisionForm,
    check_decision_form,
    compare_rows,
    review_digest,
    unknown_cost_concerns,
)
from quoteflow.approval_page.rendering import error_page
from quoteflow.approval_page.review import already_done, review_url
from quoteflow.approval_page.security import FormError, Guard
from quoteflow.approval_page.wording import too_late, window_closed
from quoteflow.approvals import ApprovalError
from quoteflow.decision import DecisionError, approved_preview, parse_price, price_concerns
from quoteflow.models import ActionStatus, ActionView
from quoteflow.presentation import plain_warnings
from quoteflow.quote import QuotePreview
from quoteflow.settings import default_approver, get_settings


async def decide(
    request: Request,
    action: ActionView,
    values: Mapping[str, str],
    decision: approvals.ApprovalVerb,
    *,
    link: str | None = None,
    link_hash: str | None = None,
    review_only: bool = False,
) -> Response:
    """Check the form and decide through the approvals contract. From a signed link the
    hash that counts is the one the link was signed with (what the message showed).
    ``review_only``: the GET of the review step, which never decides."""
    action_id = action.id
    if window_closed(action):  # too late: say so, offer Re-open
        action = await run_in_threadpool(approvals.expire, action_id)
        return action_page(request, action, status=409, error=too_late(action), link=link)
    preview = gate_preview(action)
    try:
        form = check_decision_form(values, preview, with_prices=decision == "approve")
    except FormError as exc:
        return action_page(
            request,
            action,
            status=exc.status,
            error=exc.message,
            error_field=exc.field,
            values=values,
            link=link,
            seen_hash=link_hash,
        )
    if link_hash is not None:
        form.expect_hash = link_hash
    confirmed = False
    pending = action.status == ActionStatus.pending
    if decision == "approve" and form.price_overrides and preview is not None and pending:
        digest = review_digest(action, form.price_overrides)
        confirmed = secrets.compare_digest(values.get(CONFIRM_FIELD, ""), digest)
        if not confirmed and link is None and not review_only:
            return RedirectResponse(review_url(action_id, dict(values), PRICE_FIELD_PREFIX), 303)
        if not confirmed or review_only:
            return _review(request, action, preview, form, digest, values, link, link_hash)
    if review_only:  # nothing to review: back to the action
        return RedirectResponse(f"/actions/{action_id}", status_code=303)
    approver = default_approver()
    record: Callable[[], ActionView]
    if decision == "approve":

        def record() -> ActionView:
            return approvals.approve(
                action_id,
                approver=approver,
                notes=form.notes,
                price_overrides=form.price_overrides or None,
                expected_hash=form.expect_hash,
                confirm=confirmed,
            )
    else:

        def record() -> ActionView:
            return approvals.reject(
                action_id, approver=approver, notes=form.notes, expected_hash=form.expect_hash
            )

    try:
        decided = await run_in_threadpool(record)
    except ApprovalError as exc:
        with contextlib.suppress(ApprovalError):  # show the fresh status when we can
            action = await run_in_threadpool(approvals.get_action, action_id)
        if (done := already_done(action, decision, form.notes)) is not None and link is None:
            return done
        return action_page(
            request,
            action,
            status=409,
            error=str(exc),
            values=values,
            link=link,
            seen_hash=link_hash,
        )
    if link is not None:  # the link is spent: show the outcome here, not a 410
        return action_page(request, decided, done=decided.status)
    return RedirectResponse(f"/actions/{decided.id}?done={decided.status}", status_code=303)


def _review(
    request: Request,
    action: ActionView,
    preview: QuotePreview,
    form: DecisionForm,
    digest: str,
    values: Mapping[str, str],
    link: str | None = None,
    link_hash: str | None = None,
) -> HTMLResponse:
    """The review step: the quote recomputed with the typed prices, and what needs
    confirming. Nothing is decided until it is confirmed."""
    floor = get_settings().margin_floor_pct
    prices = {code: parse_price(code, raw) for code, raw in form.price_overrides.items()}
    try:
        recomputed = approved_preview(preview, prices, confirm=True, margin_floor=floor)
    except DecisionError as exc:
        return action_page(
            request,
            action,
            status=400,
            error=str(exc),
            values=values,
            link=link,
            seen_hash=link_hash,
        )
    review = {
        "digest": digest,
        "approved": recomputed,
        "rows": compare_rows(preview, recomputed),
        "concerns": price_concerns(preview, prices, margin_floor=floor)
        + unknown_cost_concerns(preview, prices),
        "warnings": plain_warnings(recomputed, floor),
    }
    return action_page(
        request, action, values=values, review=review, link=link, seen_hash=link_hash
    )


async def _load(request: Request) -> ActionView | Response:
    """The action named in the path; the 404 page when there is none."""
    try:
        return await run_in_threadpool(approvals.get_action, request.path_params["action_id"])
    except ApprovalError as exc:
        return error_page(request, 404, str(exc))


class ActionRoom:
    """Show, approve, reject, review and re-open an action by its id."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    async def show(self, request: Request) -> Response:
        action = await _load(request)
        if isinstance(action, Response):
            return action
        done = request.query_params.get("done")
        return action_page(request, action, done=done if done == action.status else None)

    async def review(self, request: Request) -> Response:
        """The GET of the review step (post-redirect-get); it never decides."""
        action = await _load(request)
        if isinstance(action, Response):
            return action
        if action.status != ActionStatus.pending:  # Back after deciding: what was decided
            return RedirectResponse(f"/actions/{action.id}", status_code=303)
        values = dict(request.query_params)
        values.pop(CONFIRM_FIELD, None)
        return await decide(request, action, values, "approve", review_only=True)

    async def approve(self, request: Request) -> Response:
        return await self._posted(request, "approve")

    async def reject(self, request: Request) -> Response:
        return await self._posted(request, "reject")

    async def _posted(self, request: Request, decision: approvals.ApprovalVerb) -> Response:
        try:
            values = await self.guard.token_form(request)
        except FormError as exc:
            return error_page(request, exc.status, exc.message)
        action = await _load(request)
        if isinstance(action, Response):
            return action
        return await decide(request, action, values, decision)

    async def reopen(self, request: Request) -> Response:
        """Re-open an expired or rejected quote gate: a new run for the same request."""
        action_id: int = request.path_params["action_id"]
        try:
            await self.guard.token_form(request)
        except FormError as exc:
            return error_page(request, exc.status, exc.message)
        try:
            draft = await run_in_threadpool(
                lambda: approvals.reopen(action_id, approver=default_approver())
            )
        except ApprovalError as exc:
            try:
                action = await run_in_threadpool(approvals.get_action, action_id)
            except ApprovalError:
                return error_page(request, 404, str(exc))
            return action_page(request, action, status=409, error=str(exc))
        return RedirectResponse(f"/actions/{draft.id}?done={draft.status}", status_code=303)

    def routes(self) -> list[Route]:
        base = "/actions/{action_id:int}"
        return [
            Route(base, self.show, methods=["GET"]),
            Route(f"{base}/approve", self.approve, methods=["POST"]),
            Route(f"{base}/reject", self.reject, methods=["POST"]),
            Route(f"{base}/review", self.review, methods=["GET"]),
            Route(f"{base}/reopen", self.reopen, methods=["POST"]),
        ]
