"""Signed links (``/a/{token}``) from Mike's messages: the link is the only credential
and decides once. A GET never decides: mail scanners and link previewers open links."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quoteflow import approvals
from quoteflow.approval_page.action_view import action_page
from quoteflow.approval_page.actions import decide
from quoteflow.approval_page.rendering import error_page
from quoteflow.approval_page.security import FormError, Guard, read_form
from quoteflow.approval_page.wording import link_spent
from quoteflow.approvals import ApprovalError
from quoteflow.links import LinkClaims, LinkError, read_link
from quoteflow.models import ActionView
from quoteflow.quote import payload_hash

CHANGED_SINCE_SENT = (
    "This action changed after the message you opened was sent: what is shown below is the "
    "new version. The link cannot decide it; open it from the approval page or wait for "
    "the new message."
)


class SignedLinks:
    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    def _open(self, token: str) -> tuple[LinkClaims, ActionView]:
        """The link's claims and its action; LinkError or ApprovalError when unusable."""
        claims = read_link(self.guard.key, token)
        return claims, approvals.get_action(claims.action_id)

    async def show(self, request: Request) -> Response:
        """The action with Approve and Reject."""
        return await self._answer(request, None)

    async def decide(self, request: Request) -> Response:
        """``decision=approve|reject``, notes, prices."""
        try:
            values = await read_form(request)
        except FormError as exc:
            return error_page(request, exc.status, exc.message)
        return await self._answer(request, values)

    async def _answer(self, request: Request, values: Mapping[str, str] | None) -> Response:
        token: str = request.path_params["token"]
        try:
            claims, action = await run_in_threadpool(self._open, token)
        except LinkError as exc:
            return error_page(request, exc.status_code, str(exc))
        except ApprovalError as exc:
            return error_page(request, 404, str(exc))
        spent = link_spent(action)
        if spent:  # where it was decided, and Re-open there for an expired quote
            return error_page(request, 410, spent, action_id=action.id)
        link = f"/a/{token}"
        if payload_hash(action.payload) != claims.payload_hash:
            status = 409 if values is not None else 200
            return action_page(request, action, status=status, link=link, locked=CHANGED_SINCE_SENT)
        if values is None:
            return action_page(request, action, link=link, seen_hash=claims.payload_hash)
        decision = values.get("decision", "")
        if decision not in ("approve", "reject"):
            return action_page(
                request,
                action,
                status=400,
                error=f"decision: {decision!r} is not approve or reject",
                values=values,
                link=link,
                seen_hash=claims.payload_hash,
            )
        return await decide(
            request, action, values, decision, link=link, link_hash=claims.payload_hash
        )

    def routes(self) -> list[Route]:
        return [
            Route("/a/{token}", self.show, methods=["GET"]),
            Route("/a/{token}", self.decide, methods=["POST"]),
        ]
