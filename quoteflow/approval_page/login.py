"""Logging in and out of the page (when it is reachable beyond loopback): a password
checked against its stored hash, a few tries per client per quarter hour, and a signed
session cookie."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from quoteflow.approval_page.auth import SESSION_COOKIE, make_session, verify_password
from quoteflow.approval_page.rendering import error_page, render
from quoteflow.approval_page.security import FormError, Guard
from quoteflow.settings import default_approver, get_settings


def safe_next(target: str | None) -> str:
    """Only a path on this site: never another host (``//x``) or scheme."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


class Login:
    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    async def form(self, request: Request) -> Response:
        next_path = safe_next(request.query_params.get("next"))
        return render(request, "login.html", next=next_path, error=None)

    async def login(self, request: Request) -> Response:
        client = request.client.host if request.client else "?"
        limiter = self.guard.limiter
        wait = limiter.retry_after(client)
        if wait:
            response = error_page(request, 429, f"Too many failed logins: try again in {wait} s.")
            response.headers["Retry-After"] = str(wait)
            return response
        try:
            values = await self.guard.token_form(request)
        except FormError as exc:
            return error_page(request, exc.status, exc.message)
        target = safe_next(values.get("next"))
        password_hash = self.guard.password_hash
        ok = password_hash is not None and await run_in_threadpool(
            verify_password, values.get("password", ""), password_hash
        )
        if not ok:
            limiter.failed(client)
            return render(
                request, "login.html", 401, next=target, error="That password is not right."
            )
        limiter.succeeded(client)
        hours = get_settings().page_session_hours
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            make_session(self.guard.key, default_approver()),
            max_age=int(hours * 3600),
            httponly=True,
            samesite="lax",
            secure=self.guard.secure_cookies,
            path="/",
        )
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def routes(self) -> list[Route]:
        return [
            Route("/login", self.form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
        ]
