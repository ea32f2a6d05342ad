"""What the page answers when the Prefect API is down and a request needs it (a gate
decision, the link signing key or the login session key read from their Prefect
block the first time): a clear 503 page, never a 500 or a traceback. Gate decisions
themselves come back from ``quoteflow.approvals`` as ``PrefectDownError`` and show on the
action's page like any refused decision."""

from __future__ import annotations

from html import escape

from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from quoteflow.prefect_api import PrefectUnreachable, is_unreachable


def unreachable_page(cause: BaseException) -> HTMLResponse:
    message = str(PrefectUnreachable(cause))
    body = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>Try again</title></head><body style='font-family:system-ui,sans-serif;"
        "max-width:40rem;margin:3rem auto;padding:0 1rem'>"
        f"<h1>Try again in a moment</h1><p role='alert'>{escape(message)}.</p>"
        "<p><a href=''>Reload</a> &middot; <a href='/'>All actions</a></p></body></html>"
    )
    return HTMLResponse(body, status_code=503, headers={"Retry-After": "30"})


class AnswerPrefectDown:
    """ASGI middleware: a request that fails because Prefect does not answer gets
    ``unreachable_page`` (if nothing was sent yet); anything else propagates."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: dict) -> None:  # type: ignore[type-arg]
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started or not is_unreachable(exc):
                raise
            await unreachable_page(exc)(scope, receive, send)


def answer_prefect_down(app: Starlette) -> Starlette:
    """Install ``AnswerPrefectDown`` outside the page's own middleware."""
    app.add_middleware(AnswerPrefectDown)
    return app
