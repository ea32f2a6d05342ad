"""Serving the page behind a reverse proxy (TLS termination).

Off by default: the client address is the socket's peer, and every ``X-Forwarded-*``
header is ignored (anyone could send one). On (``QUOTEFLOW_PAGE_TRUSTED_PROXIES`` lists
the proxies' addresses or networks): a request that comes *from* one of them takes its
client address and scheme from the proxy's ``X-Forwarded-For`` / ``X-Forwarded-Proto``
(uvicorn's ProxyHeadersMiddleware: the right-most address not itself a trusted proxy),
so the login limiter counts each person, not the proxy. Requests from anywhere else keep
their peer address whatever headers they carry.
"""

from __future__ import annotations

from collections.abc import Sequence

import uvicorn
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware


def behind_proxy(app: ASGIApp, trusted_proxies: Sequence[str]) -> ASGIApp:
    """The page as served: unchanged without trusted proxies; else client address and
    scheme from the trusted proxies' forwarding headers."""
    if not trusted_proxies:
        return app
    return ProxyHeadersMiddleware(app, trusted_hosts=list(trusted_proxies))


def page_server_config(
    app: ASGIApp, *, host: str, port: int, trusted_proxies: Sequence[str]
) -> uvicorn.Config:
    """How `quoteflow page serve` runs the page: uvicorn's own proxy-header handling off
    (it trusts 127.0.0.1 by default), only ``behind_proxy``'s explicit list counts."""
    return uvicorn.Config(
        behind_proxy(app, trusted_proxies),
        host=host,
        port=port,
        proxy_headers=False,
        server_header=False,
        log_level="info",
    )
