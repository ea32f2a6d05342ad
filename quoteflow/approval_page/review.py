"""The review step as post-redirect-get: approving with changed prices redirects to a
GET of the review (prices, notes and the shown hash in the query), so Back and reload
never re-post; a repeated decision that already happened reads as the success it was."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from quoteflow import approvals
from quoteflow.approvals import ApprovalError
from quoteflow.models import ActionView

if TYPE_CHECKING:
    from quoteflow.approval_page.app import ApprovalPage

# What the review URL carries: never the form token (the page puts its own in the form).
_CARRIED = ("notes", "expect_hash")
DONE_STATUS = {"approve": "approved", "reject": "rejected"}


def review_url(action_id: int, values: dict[str, str], price_prefix: str) -> str:
    """The GET address of the review of these typed prices."""
    kept = {k: v for k, v in values.items() if k in _CARRIED or k.startswith(price_prefix)}
    return f"/actions/{action_id}/review?{urlencode(kept)}"


def already_done(action: ActionView, decision: str, notes: str | None) -> Response | None:
    """A repeated POST of a decision that is already recorded (same decision, same notes):
    its success page. Anything else it is not: the page says what was decided instead."""
    if action.status == DONE_STATUS.get(decision) and (notes or None) == action.decision_notes:
        return RedirectResponse(f"/actions/{action.id}?done={action.status}", status_code=303)
    return None


def review_routes(page: ApprovalPage) -> list[Route]:
    async def show_review(request: Request) -> Response:
        action_id: int = request.path_params["action_id"]
        try:
            action = await run_in_threadpool(approvals.get_action, action_id)
        except ApprovalError as exc:
            return page.error_page(404, str(exc))
        if action.status != "pending":  # Back after deciding: what was decided
            return RedirectResponse(f"/actions/{action_id}", status_code=303)
        values = dict(request.query_params)
        return await page.review_get(action, values)

    return [Route("/actions/{action_id:int}/review", show_review, methods=["GET"])]
