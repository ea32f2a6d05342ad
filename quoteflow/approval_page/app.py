"""The approval page's Starlette app: list, show, approve and reject proposed actions,
and show what followed a decision.

No rules of its own: prices, guardrails and limits come from ``quoteflow.decision`` (the
one decision contract); it reads with ``quoteflow.approvals`` and decides with
``quoteflow.approvals.approve/reject``, passing the payload hash the page showed.
Approving changed prices goes through a review step (recomputed margins, subtotal,
warnings) that must be confirmed.
Local only: it answers loopback host names only and every decision needs the process's
random form token.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from prefect.settings import get_current_settings
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from quoteflow import approvals, directory
from quoteflow.approval_page import plain
from quoteflow.approval_page.auth import (
    SESSION_COOKIE,
    LoginLimiter,
    make_session,
    read_session,
    verify_password,
)
from quoteflow.approval_page.badges import badge
from quoteflow.approval_page.contract_view import contract_context
from quoteflow.approval_page.countdown import COUNTDOWN_HASH, COUNTDOWN_JS
from quoteflow.approval_page.drafts import draft_context
from quoteflow.approval_page.email_view import email_context
from quoteflow.approval_page.forms import (
    CONFIRM_FIELD,
    HASH_FIELD,
    PRICE_FIELD_PREFIX,
    TOKEN_FIELD,
    DecisionForm,
    FormError,
    _read_form,
    check_decision_form,
    compare_rows,
    review_digest,
    unknown_cost_concerns,
)
from quoteflow.approval_page.inbox_view import build_inbox, page_number
from quoteflow.approval_page.review import already_done, review_routes, review_url
from quoteflow.approval_page.wording import link_spent, too_late
from quoteflow.approvals import (
    GATE_ACTION_TYPE,
    QUOTE_DRAFT_ACTION_TYPE,
    ApprovalError,
    approved_gate_preview,
)
from quoteflow.attention import needs_attention
from quoteflow.decision import (
    ApprovalDecision,
    DecisionError,
    PriceOverride,
    approved_preview,
    parse_price,
    price_concerns,
)
from quoteflow.links import LinkClaims, LinkError, asigning_key, read_link, signing_key
from quoteflow.mail import SEND_ACTION_TYPE, EmailDraft
from quoteflow.models import ActionStatus, ActionView
from quoteflow.presentation import format_day, format_money, preview_rows
from quoteflow.quote import QuotePreview, QuoteRequest, payload_hash
from quoteflow.settings import get_settings

TEMPLATES_DIR = Path(__file__).parent / "templates"
LOOPBACK_HOSTS: frozenset[str] = frozenset({"127.0.0.1", "localhost", "::1"})
# The list reloads itself (no scripts under this CSP): only the list, which has no form
# whose typing a reload would lose.
INDEX_REFRESH_SECONDS = 30

TYPE_LABELS = {
    GATE_ACTION_TYPE: "Quote approval",
    QUOTE_DRAFT_ACTION_TYPE: "Quote draft",
    SEND_ACTION_TYPE: "Customer email",
}

APPROVED_NEXT = {
    GATE_ACTION_TYPE: "The quote is being made with your decision: the quote, its PDF, the "
    "NetSuite estimate and the customer email draft follow.",
    QUOTE_DRAFT_ACTION_TYPE: "The quote is being prepared; it will wait here for your approval.",
    SEND_ACTION_TYPE: "The email is being sent to the customer now.",
}

SECURITY_HEADERS = {
    "Content-Security-Policy": f"default-src 'none'; style-src 'unsafe-inline'; "
    f"script-src '{COUNTDOWN_HASH}'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


# ---------------------------------------------------------------- formatting


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _window_closed(action: ActionView, now: datetime) -> bool:
    return (
        action.status == ActionStatus.pending
        and action.expires_at is not None
        and _aware(action.expires_at) <= now
    )


def _summary(action: ActionView, names: Mapping[str, str]) -> str:
    """One line saying what the action is about, for the list (approved prices once
    approved); ``names``: customer names by id, for drafts."""
    try:
        if action.action_type == GATE_ACTION_TYPE:
            approved = approved_gate_preview(action)
            p = approved or QuotePreview.model_validate(action.payload["preview"])
            return (
                f"{p.customer_name}: quote {p.quote_id}, {len(p.quotable_lines)} line(s), "
                f"subtotal {format_money(p.subtotal, p.currency)}"
                + (" as approved" if approved else "")
            )
        if action.action_type == QUOTE_DRAFT_ACTION_TYPE:
            r = QuoteRequest.model_validate(action.payload["request"])
            who = names.get(r.customer_id, f"customer {r.customer_id}")
            return f"{who}: new quote, {len(r.item_codes)} item(s), school year {r.school_year}"
        if action.action_type == SEND_ACTION_TYPE:
            e = EmailDraft.model_validate(action.payload)
            return f"email to {e.to_name or e.to}: {e.subject}"
    except (KeyError, TypeError, ValidationError):
        pass
    return ""


def _gate_preview(action: ActionView) -> QuotePreview | None:
    if action.action_type != GATE_ACTION_TYPE:
        return None
    try:
        return QuotePreview.model_validate(action.payload["preview"])
    except (KeyError, TypeError, ValidationError):
        return None


# ---------------------------------------------------------------- host check


def _host_name(header: str) -> str:
    """The host of a Host header, without port: ``[::1]:4620`` -> ``::1``."""
    if header.startswith("["):
        return header[1:].split("]", 1)[0].lower()
    return (header.rsplit(":", 1)[0] if header.count(":") == 1 else header).lower()


class LoopbackHostOnly:
    """Answer only requests addressed to a loopback name. A page bound to 127.0.0.1 can
    still be reached by a browser through DNS rebinding, which keeps the foreign name."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(h.lower() for h in allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if _host_name(host) not in self.allowed:
                response = PlainTextResponse("this page answers on loopback addresses only", 421)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


# ---------------------------------------------------------------- the page


class ApprovalPage:
    """The routes; holds the template environment and the per-process form token."""

    def __init__(
        self,
        token: str,
        link_key: str | None = None,
        *,
        password_hash: str | None = None,
        secure_cookies: bool = False,
    ) -> None:
        self.token = token
        self._link_key = link_key
        self.password_hash = password_hash
        self.secure_cookies = secure_cookies
        self.limiter = LoginLimiter()
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES_DIR),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["local"] = lambda v: plain.local(v, get_settings().local_timezone)
        self.env.filters["day"] = format_day
        self.env.filters["expires"] = plain.expires
        self.env.filters["data_age"] = lambda v: plain.data_age(v, get_settings().local_timezone)
        self.env.globals["tz"] = lambda: get_settings().local_timezone
        self.env.globals["words"] = lambda term: plain.WORDS.get(term, term)
        self.env.filters["money"] = format_money
        self.env.globals["type_label"] = lambda t: TYPE_LABELS.get(t, t)
        self.env.globals["badge"] = badge
        self.env.globals["countdown_js"] = COUNTDOWN_JS
        # The form's limits are the decision model's own (what the Prefect server checks).
        price = PriceOverride.model_json_schema()["properties"]["case_price"]
        notes = ApprovalDecision.model_json_schema()["properties"]["notes"]
        self.env.globals["limits"] = {
            "price_pattern": price["pattern"],
            "price_max_length": price["maxLength"],
            "notes_max_length": notes["maxLength"],
        }

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)

    def error_page(self, status: int, message: str, action_id: int | None = None) -> HTMLResponse:
        return self.render(
            "error.html", status, status=status, message=message, action_id=action_id
        )

    async def token_form(self, request: Request) -> dict[str, str] | Response:
        """The posted form when it carries this page's form token; else the error page."""
        try:
            values = await _read_form(request)
        except FormError as exc:
            return self.error_page(exc.status, exc.message)
        if not secrets.compare_digest(values.get(TOKEN_FIELD, ""), self.token):
            return self.error_page(
                403, "The form token is missing or stale: reload the page and try again."
            )
        return values

    def link_key(self) -> str:
        """The link signing key, read from its block once per process."""
        if self._link_key is None:
            self._link_key = signing_key()
        return self._link_key

    async def load_link_key(self) -> str:
        """``link_key`` from async code: the block read awaited, never a bare coroutine."""
        if self._link_key is None:
            self._link_key = await asigning_key()
        return self._link_key

    async def index(self, request: Request) -> Response:
        actions = await run_in_threadpool(approvals.list_actions)
        names = {c.id: c.name for c in await run_in_threadpool(directory.customers)}
        attention = await run_in_threadpool(needs_attention)
        inbox = build_inbox(
            actions,
            summary=lambda a: _summary(a, names),
            now=datetime.now(UTC),
            names=names,
            page=page_number(request.query_params.get("page")),
        )
        return self.render(
            "index.html",
            attention=attention,
            attention_ids={e.action_id for e in attention},
            inbox=inbox,
            refresh_seconds=INDEX_REFRESH_SECONDS,
        )

    async def show(self, request: Request) -> Response:
        action_id: int = request.path_params["action_id"]
        try:
            action = await run_in_threadpool(approvals.get_action, action_id)
        except ApprovalError as exc:
            return self.error_page(404, str(exc))
        done = request.query_params.get("done")
        return self.action_page(action, done=done if done == action.status else None)

    def action_page(
        self,
        action: ActionView,
        *,
        status: int = 200,
        done: str | None = None,
        error: str | None = None,
        error_field: str | None = None,
        values: Mapping[str, str] | None = None,
        review: dict[str, Any] | None = None,
        link: str | None = None,
        seen_hash: str | None = None,
        locked: str | None = None,
    ) -> HTMLResponse:
        """The action with what it proposes, and the decision form while it is pending;
        once decided, what was decided and what followed. Opened from a signed ``link``,
        the form posts back to it; ``locked`` says why no decision can be taken here."""
        run_url = _run_url(action.flow_run_id)
        context: dict[str, Any] = {
            "a": action,
            "link": link,
            "seen_hash": seen_hash or action.payload_hash,
            "locked": locked,
            "token": self.token,
            "token_field": TOKEN_FIELD,
            "hash_field": HASH_FIELD,
            "confirm_field": CONFIRM_FIELD,
            "review": review,
            "compare": None,
            "approved": None,
            "outcome": None,
            "price_prefix": PRICE_FIELD_PREFIX,
            "values": dict(values or {}),
            "error": error,
            "error_field": error_field,
            "done": done,
            "next_step": APPROVED_NEXT.get(action.action_type, ""),
            # Right after an approval: is its run there yet? (one look, no waiting)
            "run_report": _run_report(action) if done == ActionStatus.approved else "",
            "closed": _window_closed(action, datetime.now(UTC)),
            "run_url": run_url,
            "kind": "raw",
            "raw": json.dumps(action.payload, indent=2, sort_keys=True, default=str),
        }
        try:
            if action.action_type == GATE_ACTION_TYPE:
                preview = QuotePreview.model_validate(action.payload["preview"])
                rows = [
                    {
                        **r,
                        "code": line.item_code,
                        "cost": ""
                        if line.cost_basis is None
                        else format_money(line.cost_basis, preview.currency),
                        "priceable": line.resolved,
                        "flagged": bool(line.flags),
                    }
                    for r, line in zip(preview_rows(preview), preview.lines, strict=True)
                ]
                context.update(
                    kind="gate",
                    preview=preview,
                    rows=rows,
                    plain_warnings=plain.plain_warnings(preview, get_settings().margin_floor_pct),
                )
                approved = approved_gate_preview(action)
                if approved is not None:
                    context.update(approved=approved, compare=compare_rows(preview, approved))
                if action.status != ActionStatus.pending:
                    from quoteflow.timeline import gate_outcome

                    context.update(outcome=gate_outcome(action, run_url=run_url))
            elif action.action_type == SEND_ACTION_TYPE:
                context.update(email_context(action))
            elif action.action_type == QUOTE_DRAFT_ACTION_TYPE:
                context.update(draft_context(action))
        except (KeyError, TypeError, ValidationError) as exc:
            context.update(kind="raw", payload_problem=str(exc).splitlines()[0])
        context.setdefault("payload_problem", None)
        return self.render("action.html", status, **context)

    async def approve(self, request: Request) -> Response:
        return await self._decide(request, "approve")

    async def reject(self, request: Request) -> Response:
        return await self._decide(request, "reject")

    async def _decide(self, request: Request, decision: approvals.Decision) -> Response:
        action_id: int = request.path_params["action_id"]
        values = await self.token_form(request)
        if isinstance(values, Response):
            return values
        try:
            action = await run_in_threadpool(approvals.get_action, action_id)
        except ApprovalError as exc:
            return self.error_page(404, str(exc))
        return await self._decide_action(action, values, decision)

    async def _decide_action(
        self,
        action: ActionView,
        values: Mapping[str, str],
        decision: approvals.Decision,
        *,
        link: str | None = None,
        link_hash: str | None = None,
        review_only: bool = False,
    ) -> Response:
        """Check the form and decide through the approvals contract. From a signed link the
        hash that counts is the one the link was signed with (what the message showed).
        ``review_only``: the GET of the review step, which never decides."""
        action_id = action.id
        if _window_closed(action, datetime.now(UTC)):  # too late: say so, offer Re-open
            action = await run_in_threadpool(approvals.expire, action_id)
            return self.action_page(action, status=409, error=too_late(action), link=link)
        preview = _gate_preview(action)
        try:
            form = check_decision_form(values, preview, with_prices=decision == "approve")
        except FormError as exc:
            return self.action_page(
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
                return RedirectResponse(
                    review_url(action_id, dict(values), PRICE_FIELD_PREFIX), 303
                )
            if not confirmed or review_only:
                return self._review(action, preview, form, digest, values, link, link_hash)
        if review_only:  # nothing to review: back to the action
            return RedirectResponse(f"/actions/{action_id}", status_code=303)
        approver = get_settings().approvers[0]  # the page is the (single) admin's own
        decide: Callable[[], ActionView]
        if decision == "approve":

            def decide() -> ActionView:
                return approvals.approve(
                    action_id,
                    approver=approver,
                    notes=form.notes,
                    price_overrides=form.price_overrides or None,
                    expected_hash=form.expect_hash,
                    confirm=confirmed,
                )
        else:

            def decide() -> ActionView:
                return approvals.reject(
                    action_id, approver=approver, notes=form.notes, expected_hash=form.expect_hash
                )

        try:
            decided = await run_in_threadpool(decide)
        except ApprovalError as exc:
            with contextlib.suppress(ApprovalError):  # show the fresh status when we can
                action = await run_in_threadpool(approvals.get_action, action_id)
            if (done := already_done(action, decision, form.notes)) is not None and link is None:
                return done
            return self.action_page(
                action, status=409, error=str(exc), values=values, link=link, seen_hash=link_hash
            )
        if link is not None:  # the link is spent: show the outcome here, not a 410
            return self.action_page(decided, done=decided.status)
        return RedirectResponse(f"/actions/{decided.id}?done={decided.status}", status_code=303)

    async def review_get(self, action: ActionView, values: dict[str, str]) -> Response:
        values.pop(CONFIRM_FIELD, None)
        return await self._decide_action(action, values, "approve", review_only=True)

    def _review(
        self,
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
            return self.action_page(
                action, status=400, error=str(exc), values=values, link=link, seen_hash=link_hash
            )
        review = {
            "digest": digest,
            "approved": recomputed,
            "rows": compare_rows(preview, recomputed),
            "concerns": price_concerns(preview, prices, margin_floor=floor)
            + unknown_cost_concerns(preview, prices),
            "warnings": plain.plain_warnings(recomputed, floor),
        }
        return self.action_page(
            action, values=values, review=review, link=link, seen_hash=link_hash
        )

    async def reopen(self, request: Request) -> Response:
        """Re-open an expired or rejected quote gate: a new run for the same request."""
        action_id: int = request.path_params["action_id"]
        denied = await self.token_form(request)
        if isinstance(denied, Response):
            return denied
        try:
            draft = await run_in_threadpool(
                lambda: approvals.reopen(action_id, approver=get_settings().approvers[0])
            )
        except ApprovalError as exc:
            try:
                action = await run_in_threadpool(approvals.get_action, action_id)
            except ApprovalError:
                return self.error_page(404, str(exc))
            return self.action_page(action, status=409, error=str(exc))
        return RedirectResponse(f"/actions/{draft.id}?done={draft.status}", status_code=303)

    # ------------------------------------------------------------ login

    def session_user(self, request: Request) -> str | None:
        """Who is logged in (None: nobody, or no login needed)."""
        hours = get_settings().page_session_hours
        return read_session(
            self.link_key(),
            request.cookies.get(SESSION_COOKIE),
            max_age_seconds=int(hours * 3600),
        )

    async def login_form(self, request: Request) -> Response:
        return self.render(
            "login.html",
            token=self.token,
            token_field=TOKEN_FIELD,
            next=_safe_next(request.query_params.get("next")),
            error=None,
        )

    async def login(self, request: Request) -> Response:
        """Check the password; a client gets a few tries per quarter hour."""
        client = request.client.host if request.client else "?"
        wait = self.limiter.retry_after(client)
        if wait:
            response = self.error_page(429, f"Too many failed logins: try again in {wait} s.")
            response.headers["Retry-After"] = str(wait)
            return response
        values = await self.token_form(request)
        if isinstance(values, Response):
            return values
        target = _safe_next(values.get("next"))
        ok = self.password_hash is not None and await run_in_threadpool(
            verify_password, values.get("password", ""), self.password_hash
        )
        if not ok:
            self.limiter.failed(client)
            return self.render(
                "login.html",
                401,
                token=self.token,
                token_field=TOKEN_FIELD,
                next=target,
                error="That password is not right.",
            )
        self.limiter.succeeded(client)
        await self.load_link_key()
        user = get_settings().approvers[0]
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            make_session(self.link_key(), user),
            max_age=int(get_settings().page_session_hours * 3600),
            httponly=True,
            samesite="lax",
            secure=self.secure_cookies,
            path="/",
        )
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # ------------------------------------------------------------ signed links

    def _open_link(self, token: str) -> tuple[LinkClaims, ActionView]:
        """The link's claims and its action; LinkError or ApprovalError when unusable."""
        claims = read_link(self.link_key(), token)
        return claims, approvals.get_action(claims.action_id)

    async def link_show(self, request: Request) -> Response:
        """GET of a signed link: the action with Approve and Reject. Never decides: mail
        scanners and link previewers open links."""
        return await self._link(request, None)

    async def link_decide(self, request: Request) -> Response:
        """POST to a signed link: ``decision=approve|reject``, notes, prices. The link is
        the only credential; it decides once."""
        try:
            values = await _read_form(request)
        except FormError as exc:
            return self.error_page(exc.status, exc.message)
        return await self._link(request, values)

    async def _link(self, request: Request, values: Mapping[str, str] | None) -> Response:
        token: str = request.path_params["token"]
        try:
            claims, action = await run_in_threadpool(self._open_link, token)
        except LinkError as exc:
            return self.error_page(exc.status_code, str(exc))
        except ApprovalError as exc:
            return self.error_page(404, str(exc))
        spent = link_spent(action)
        if spent:  # where it was decided, and Re-open there for an expired quote
            return self.error_page(410, spent, action_id=action.id)
        link = f"/a/{token}"
        if payload_hash(action.payload) != claims.payload_hash:
            locked = (
                "This action changed after the message you opened was sent: what is shown "
                "below is the new version. The link cannot decide it; open it from the "
                "approval page or wait for the new message."
            )
            status = 409 if values is not None else 200
            return self.action_page(action, status=status, link=link, locked=locked)
        if values is None:
            return self.action_page(action, link=link, seen_hash=claims.payload_hash)
        decision = values.get("decision", "")
        if decision not in ("approve", "reject"):
            return self.action_page(
                action,
                status=400,
                error=f"decision: {decision!r} is not approve or reject",
                values=values,
                link=link,
                seen_hash=claims.payload_hash,
            )
        return await self._decide_action(
            action, values, decision, link=link, link_hash=claims.payload_hash
        )

    async def pdf(self, request: Request) -> Response:
        """The quote PDF of a decided gate, read from the bucket."""
        action_id: int = request.path_params["action_id"]

        def read() -> tuple[str, bytes] | None:
            from prefect_aws import S3Bucket

            from quoteflow.storage import read_object
            from quoteflow.timeline import gate_outcome

            action = approvals.get_action(action_id)
            if action.action_type != GATE_ACTION_TYPE:
                return None
            outcome = gate_outcome(action)
            if not outcome.pdf_key:
                return None
            bucket = S3Bucket.load(get_settings().s3_bucket_block)
            return outcome.pdf_key, read_object(bucket, outcome.pdf_key)

        try:
            found = await run_in_threadpool(read)
        except ApprovalError as exc:
            return self.error_page(404, str(exc))
        except Exception as exc:  # the bucket or its block is unreachable
            return self.error_page(502, f"the PDF could not be read: {type(exc).__name__}: {exc}")
        if found is None:
            return self.error_page(404, f"proposed action {action_id} has no quote PDF")
        key, data = found
        name = key.rsplit("/", 1)[-1]
        return Response(
            data,
            media_type="application/pdf",
            headers={**SECURITY_HEADERS, "Content-Disposition": f'inline; filename="{name}"'},
        )


def _run_report(action: ActionView) -> str:
    """ "started <run link>" / "resumed <run link>" / "queued, starting..." after a decision."""
    from quoteflow.recovery import start_report

    return start_report(action, wait_seconds=0)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never another host (``//x``) or scheme."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


OPEN_PATHS = ("/a/", "/login", "/healthz", "/slack/")  # Slack signs its own requests


class RequireLogin:
    """With a password configured, every page but signed links, the login and the health
    check needs a session; without one, the page stays loopback-only and open."""

    def __init__(self, app: ASGIApp, page: ApprovalPage) -> None:
        self.app = app
        self.page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or self.page.password_hash is None
            or scope["path"].startswith(OPEN_PATHS)
        ):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        await self.page.load_link_key()
        if self.page.session_user(request) is not None:
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD"):
            from urllib.parse import quote

            response: Response = RedirectResponse(
                f"/login?next={quote(scope['path'])}", status_code=303
            )
        else:
            response = self.page.error_page(401, "Please log in first.")
        await response(scope, receive, send)


def _run_url(flow_run_id: str | None) -> str | None:
    """The flow run in the Prefect UI, when this process knows the UI."""
    ui = get_current_settings().ui_url
    return f"{ui.rstrip('/')}/runs/flow-run/{flow_run_id}" if ui and flow_run_id else None


def create_app(
    *,
    allowed_hosts: Iterable[str] = LOOPBACK_HOSTS,
    token: str | None = None,
    link_key: str | None = None,
    password_hash: str | None = None,
    secure_cookies: bool = False,
) -> Starlette:
    """The approval page as an ASGI app. The form token is random per app (per process)
    unless given; only requests addressed to ``allowed_hosts`` are answered. Signed links
    and sessions are signed with ``link_key`` (default: the key in its Prefect block).
    With ``password_hash`` every page but signed links needs a login."""
    page = ApprovalPage(
        token or secrets.token_urlsafe(32),
        link_key,
        password_hash=password_hash,
        secure_cookies=secure_cookies,
    )
    from quoteflow.approval_page.new_quote import new_quote_routes
    from quoteflow.approval_page.pricing_upload import pricing_routes
    from quoteflow.slack.app import slack_routes

    app = Starlette(
        routes=[
            Route("/", page.index, methods=["GET"]),
            Route("/healthz", lambda _r: PlainTextResponse("ok"), methods=["GET"]),
            Route("/login", page.login_form, methods=["GET"]),
            Route("/login", page.login, methods=["POST"]),
            Route("/logout", page.logout, methods=["POST"]),
            Route("/actions/{action_id:int}", page.show, methods=["GET"]),
            Route("/actions/{action_id:int}/approve", page.approve, methods=["POST"]),
            Route("/actions/{action_id:int}/reject", page.reject, methods=["POST"]),
            Route("/actions/{action_id:int}/pdf", page.pdf, methods=["GET"]),
            *quote_routes(page),
            *new_quote_routes(page),
            *slack_routes(),
            *pricing_routes(page),
            *review_routes(page),
            Route("/actions/{action_id:int}/reopen", page.reopen, methods=["POST"]),
            Route("/a/{token}", page.link_show, methods=["GET"]),
            Route("/a/{token}", page.link_decide, methods=["POST"]),
        ],
        middleware=[
            Middleware(LoopbackHostOnly, allowed_hosts=allowed_hosts),
            Middleware(RequireLogin, page=page),
        ],
    )
    return app


# ---------------------------------------------------------------- quotes and the contract
# The Quotes section (search, one quote whole, accept/decline) and the contract page.
# Reads with quoteflow.quote_book, decides with quoteflow.lifecycle, renders the contract
# gathered by tasks.contract: no rules here.


def _attr_row(model: Any) -> list[Any]:
    """A pydantic model as one table row: its field values in order, lists joined."""

    def cell(v: Any) -> Any:
        if isinstance(v, bool):
            return "yes" if v else "no"
        return ", ".join(map(str, v)) if isinstance(v, list) else v

    return [cell(v) for v in model.model_dump().values()]


class QuotesSection:
    """Routes of the Quotes section; shares the page's templates and form token."""

    def __init__(self, page: ApprovalPage) -> None:
        self.page = page
        page.env.filters["attr_row"] = _attr_row

    async def list(self, request: Request) -> Response:
        from quoteflow.quote_book import STATUSES, QuoteFilter, list_quotes

        q = request.query_params
        values = {k: q.get(k, "").strip() for k in ("customer", "status", "school_year")}
        error = None
        try:
            search = QuoteFilter(**{k: v or None for k, v in values.items()})
            quotes = await run_in_threadpool(list_quotes, search)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(map(str, err["loc"])) or "search"
            error, quotes = f"{field}: {err.get('input')!r}: {err['msg']}", []
        return self.page.render(
            "quotes.html",
            400 if error else 200,
            quotes=quotes,
            values=values,
            statuses=STATUSES,
            error=error,
        )

    async def show(self, request: Request) -> Response:
        return await self._show(
            request.path_params["quote_id"], done=request.query_params.get("done")
        )

    async def _show(
        self,
        quote_id: str,
        *,
        status: int = 200,
        done: str | None = None,
        error: str | None = None,
        confirm: str | None = None,
        notes: str = "",
    ) -> Response:
        from quoteflow.quote_book import get_quote

        detail = await run_in_threadpool(get_quote, quote_id)
        if detail is None:
            return self.page.error_page(404, f"quote {quote_id} does not exist")
        return self.page.render(
            "quote.html",
            status,
            d=detail,
            q=detail.quote,
            done=done if done == detail.quote.status else None,
            error=error,
            confirm=confirm,
            notes=notes,
            token=self.page.token,
            token_field=TOKEN_FIELD,
            run_url=_run_url(detail.flow_run_id),
        )

    async def accept(self, request: Request) -> Response:
        return await self._decide(request, "accept")

    async def decline(self, request: Request) -> Response:
        return await self._decide(request, "decline")

    async def _decide(self, request: Request, action: str) -> Response:
        from quoteflow.lifecycle import TransitionRefused, transition

        quote_id: str = request.path_params["quote_id"]
        values = await self.page.token_form(request)
        if isinstance(values, Response):
            return values
        notes = values.get("notes", "").strip() or None
        if values.get("confirmed") != "yes":  # one more look: accepting writes the price list
            return await self._show(quote_id, confirm=action, notes=notes or "")
        try:
            result = await run_in_threadpool(lambda: transition(quote_id, action, notes=notes))
        except TransitionRefused as exc:
            return await self._show(quote_id, status=409, error=str(exc))
        return RedirectResponse(f"/quotes/{quote_id}?done={result.status}", status_code=303)

    async def pdf(self, request: Request) -> Response:
        from quoteflow.quote_book import get_quote

        quote_id: str = request.path_params["quote_id"]
        detail = await run_in_threadpool(get_quote, quote_id)
        if detail is None or not detail.pdf_key:
            return self.page.error_page(404, f"quote {quote_id} has no stored PDF")
        key = detail.pdf_key

        def read() -> bytes:
            from prefect_aws import S3Bucket

            from quoteflow.settings import get_settings

            return S3Bucket.load(get_settings().s3_bucket_block).read_path(key)

        try:
            data = await run_in_threadpool(read)
        except Exception as exc:  # a missing object or an unreachable bucket: say which
            return self.page.error_page(502, f"PDF {key} could not be read: {exc}")
        return Response(
            data,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'inline; filename="{quote_id}.pdf"',
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-store",
            },
        )

    async def contract(self, request: Request) -> Response:
        from quoteflow.contract import what_changes
        from tasks.contract import collect_contract

        page = await run_in_threadpool(collect_contract)
        extra = await run_in_threadpool(contract_context)
        return self.page.render("contract.html", c=page, changes=what_changes(page), **extra)


def quote_routes(page: ApprovalPage) -> list[Route]:
    quotes = QuotesSection(page)
    return [
        Route("/quotes", quotes.list, methods=["GET"]),
        Route("/quotes/{quote_id:str}", quotes.show, methods=["GET"]),
        Route("/quotes/{quote_id:str}/accept", quotes.accept, methods=["POST"]),
        Route("/quotes/{quote_id:str}/decline", quotes.decline, methods=["POST"]),
        Route("/quotes/{quote_id:str}/pdf", quotes.pdf, methods=["GET"]),
        Route("/contract", quotes.contract, methods=["GET"]),
    ]
