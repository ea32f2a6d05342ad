"""The approval page's Starlette app, assembled from its rooms: the list, one action and
its decision, signed links, login, quotes, the contract, a new quote, pricing upload and
the stored PDFs. Only requests addressed to the allowed host names are answered, every
form carries the browser session's token, and with a password every page but the open
ones needs a login (``security``)."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from quoteflow.approval_page.actions import ActionRoom
from quoteflow.approval_page.contract import contract_routes
from quoteflow.approval_page.inbox import index
from quoteflow.approval_page.login import Login
from quoteflow.approval_page.new_quote import new_quote_routes
from quoteflow.approval_page.pdfs import pdf_routes
from quoteflow.approval_page.pricing_upload import pricing_routes
from quoteflow.approval_page.quotes import Quotes
from quoteflow.approval_page.security import (
    LOOPBACK_HOSTS,
    FormTokens,
    Guard,
    RequireLogin,
    TrustedHosts,
)
from quoteflow.approval_page.signed_links import SignedLinks

__all__ = ["create_app"]


def create_app(
    *,
    allowed_hosts: Iterable[str] = LOOPBACK_HOSTS,
    link_key: str | None = None,
    password_hash: str | None = None,
    secure_cookies: bool = False,
) -> Starlette:
    """The approval page as an ASGI app, answering only requests addressed to
    ``allowed_hosts``. Signed links, sessions and form tokens are signed with ``link_key``
    (default: the key in its Prefect block). With ``password_hash`` every page but signed
    links needs a login."""
    from quoteflow.slack.app import slack_routes

    guard = Guard(link_key, password_hash=password_hash, secure_cookies=secure_cookies)
    return Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/healthz", lambda _r: PlainTextResponse("ok"), methods=["GET"]),
            *Login(guard).routes(),
            *ActionRoom(guard).routes(),
            *pdf_routes(),
            *Quotes(guard).routes(),
            *contract_routes(),
            *new_quote_routes(guard),
            *slack_routes(),
            *pricing_routes(guard),
            *SignedLinks(guard).routes(),
        ],
        middleware=[
            Middleware(TrustedHosts, allowed_hosts=allowed_hosts),
            Middleware(FormTokens, guard=guard),
            Middleware(RequireLogin, guard=guard),
        ],
    )
