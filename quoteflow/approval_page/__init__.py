"""Mike's approval page: a small server-rendered web page over quoteflow.approvals
(the old system's proposed-actions.html), one module per room (``app`` assembles them).
Loopback only unless a password is set; every decision goes through
``quoteflow.approvals.approve`` / ``reject``."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from quoteflow.approval_page.app import create_app as _create_app
from quoteflow.approval_page.unreachable import answer_prefect_down


def create_app(**options: Any) -> Starlette:
    """The approval page (``quoteflow.approval_page.app.create_app``); with Prefect
    down it answers a clear 503 page, never a 500."""
    return answer_prefect_down(_create_app(**options))


__all__ = ["create_app"]
