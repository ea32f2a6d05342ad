"""The review step as post-redirect-get: approving with changed prices redirects to a
GET of the review (prices, notes and the shown hash in the query), so Back and reload
never re-post; a repeated decision that already happened reads as the success it was."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response

from quoteflow.models import ActionView

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
