"""Who and what the page answers: host names (Starlette's ``TrustedHostMiddleware``), the
login, one form token per browser session, and the size-limited form reader.

The form token is the HMAC (itsdangerous, keyed with the link key) of a random id in the
browser's ``qf_form`` cookie: another browser, or another site posting into this one,
cannot produce it. It is checked in one place, ``Guard.check_token``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, quote

from itsdangerous import Signer
from starlette.datastructures import MutableHeaders
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quoteflow.approval_page.auth import SESSION_COOKIE, LoginLimiter, read_session
from quoteflow.approval_page.rendering import TOKEN_FIELD, error_page
from quoteflow.links import asigning_key
from quoteflow.settings import get_settings

LOOPBACK_HOSTS: frozenset[str] = frozenset({"127.0.0.1", "localhost", "::1"})
FORM_COOKIE = "qf_form"
_FORM_SALT = "quoteflow.page-form.v1"
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
MAX_FORM_BYTES = 64 * 1024
# Signed links, the login and the health check need no session; Slack signs its requests.
OPEN_PATHS = ("/a/", "/login", "/healthz", "/slack/")
# Paths that never render a form nor read the link key.
KEYLESS_PATHS = ("/healthz", "/slack/")
STALE_TOKEN = "The form token is missing or stale: reload the page and try again."


class FormError(Exception):
    """A form that cannot be acted on; ``field`` names the input at fault."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


# ---------------------------------------------------------------- the form reader


async def read_form_lists(request: Request) -> dict[str, list[str]]:
    """An url-encoded form body as {name: every value} (checkbox groups repeat a name)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise FormError(415, "expected a form post (application/x-www-form-urlencoded)")
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        raise FormError(413, "form too large")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise FormError(413, "form too large")
    try:
        return parse_qs(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=500
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormError(400, f"unreadable form: {exc}") from exc


async def read_form(request: Request) -> dict[str, str]:
    """An url-encoded form body as {name: first value}."""
    return {name: values[0] for name, values in (await read_form_lists(request)).items()}


# ---------------------------------------------------------------- keys, sessions, tokens


class Guard:
    """The page's secrets and who may use it: the link key (read from its Prefect block
    once, on first use), the login password hash and the login limiter."""

    def __init__(
        self, link_key: str | None, *, password_hash: str | None, secure_cookies: bool
    ) -> None:
        self._key = link_key
        self.password_hash = password_hash
        self.secure_cookies = secure_cookies
        self.limiter = LoginLimiter()

    async def load_key(self) -> str:
        if self._key is None:
            self._key = await asigning_key()
        return self._key

    @property
    def key(self) -> str:
        """The link key; ``FormTokens`` has loaded it before any route runs."""
        if self._key is None:
            raise RuntimeError("the link key is read by FormTokens before a route runs")
        return self._key

    def session_user(self, request: Request) -> str | None:
        """Who is logged in (None: nobody)."""
        hours = get_settings().page_session_hours
        return read_session(
            self.key, request.cookies.get(SESSION_COOKIE), max_age_seconds=int(hours * 3600)
        )

    def form_token(self, session_id: str) -> str:
        return Signer(self.key, salt=_FORM_SALT).get_signature(session_id).decode()

    def check_token(self, request: Request, token: object) -> None:
        """FormError 403 unless ``token`` is this browser session's form token."""
        expected = getattr(request.state, "form_token", "")
        if not (expected and isinstance(token, str) and secrets.compare_digest(token, expected)):
            raise FormError(403, STALE_TOKEN)

    async def token_form(self, request: Request) -> dict[str, str]:
        """The posted form, once its token is checked (FormError otherwise)."""
        values = await read_form(request)
        self.check_token(request, values.get(TOKEN_FIELD))
        return values


class FormTokens:
    """Gives every browser a session id (the ``qf_form`` cookie) and puts its form token
    in ``request.state.form_token``; reads the link key first (from its Prefect block)."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(KEYLESS_PATHS):
            await self.app(scope, receive, send)
            return
        await self.guard.load_key()
        session_id = Request(scope).cookies.get(FORM_COOKIE, "")
        fresh = not _SESSION_ID.fullmatch(session_id)
        if fresh:
            session_id = secrets.token_urlsafe(24)
        scope.setdefault("state", {})["form_token"] = self.guard.form_token(session_id)
        if not fresh:
            await self.app(scope, receive, send)
            return
        cookie = self._cookie(session_id)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _cookie(self, session_id: str) -> str:
        jar: SimpleCookie = SimpleCookie()
        jar[FORM_COOKIE] = session_id
        morsel = jar[FORM_COOKIE]
        morsel.update({"path": "/", "httponly": True, "samesite": "lax"})
        if self.guard.secure_cookies:
            morsel["secure"] = True
        return morsel.OutputString()


# ---------------------------------------------------------------- hosts and login


def host_patterns(hosts: Iterable[str]) -> list[str]:
    """Host names as ``TrustedHostMiddleware`` compares them (IPv6 in brackets)."""
    return [f"[{h}]" if ":" in h and not h.startswith("[") else h for h in hosts]


class TrustedHosts:
    """Starlette's ``TrustedHostMiddleware`` decides; a refused name is answered 421
    (Misdirected Request). A page bound to 127.0.0.1 can still be reached by a browser
    through DNS rebinding, which keeps the foreign name."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str]) -> None:
        async def admitted(scope: Scope, receive: Receive, send: Send) -> None:
            scope["quoteflow.host_admitted"] = True
            await app(scope, receive, send)

        self.check = TrustedHostMiddleware(
            admitted, allowed_hosts=host_patterns(allowed_hosts), www_redirect=False
        )
        self.refused = PlainTextResponse("this page does not answer to that host name", 421)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def refuse_or_send(message: Message) -> None:
            if scope.get("quoteflow.host_admitted"):
                await send(message)
            elif message["type"] == "http.response.start":
                await self.refused(scope, receive, send)

        await self.check(scope, receive, refuse_or_send)


class RequireLogin:
    """With a password configured, every page but the open paths needs a session;
    without one, the page stays loopback-only and open."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or self.guard.password_hash is None
            or scope["path"].startswith(OPEN_PATHS)
        ):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        await self.guard.load_key()
        if self.guard.session_user(request) is not None:
            await self.app(scope, receive, send)
            return
        response: Response
        if scope["method"] in ("GET", "HEAD"):
            response = RedirectResponse(f"/login?next={quote(scope['path'])}", status_code=303)
        else:
            response = error_page(request, 401, "Please log in first.")
        await response(scope, receive, send)
