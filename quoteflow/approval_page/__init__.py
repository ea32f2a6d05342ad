"""Mike's approval page: a small server-rendered web page over quoteflow.approvals
(the old system's proposed-actions.html). Local only; every decision goes through
``quoteflow.approvals.approve`` / ``reject``."""

from quoteflow.approval_page.app import create_app

__all__ = ["create_app"]
