"""The Quotes section: search, one quote whole, and the customer's answer (accept or
decline). Reads with ``quoteflow.quote_book``, moves a quote with ``quoteflow.lifecycle``:
no rules here."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from quoteflow.approval_page.rendering import error_page, render, run_url
from quoteflow.approval_page.security import FormError, Guard


class Quotes:
    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    async def list(self, request: Request) -> Response:
        from quoteflow.quote_book import STATUSES, QuoteFilter, list_quotes

        q = request.query_params
        values = {k: q.get(k, "").strip() for k in ("customer", "status", "school_year")}
        error = None
        try:
            search = QuoteFilter(**{k: v or None for k, v in values.items()})
            quotes = await run_in_threadpool(list_quotes, search)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(map(str, err["loc"])) or "search"
            error, quotes = f"{field}: {err.get('input')!r}: {err['msg']}", []
        return render(
            request,
            "quotes.html",
            400 if error else 200,
            quotes=quotes,
            values=values,
            statuses=STATUSES,
            error=error,
        )

    async def show(self, request: Request) -> Response:
        return await self._page(request, done=request.query_params.get("done"))

    async def _page(
        self,
        request: Request,
        *,
        status: int = 200,
        done: str | None = None,
        error: str | None = None,
        confirm: str | None = None,
        notes: str = "",
    ) -> Response:
        from quoteflow.quote_book import get_quote

        quote_id: str = request.path_params["quote_id"]
        detail = await run_in_threadpool(get_quote, quote_id)
        if detail is None:
            return error_page(request, 404, f"quote {quote_id} does not exist")
        return render(
            request,
            "quote.html",
            status,
            d=detail,
            q=detail.quote,
            done=done if done == detail.quote.status else None,
            error=error,
            confirm=confirm,
            notes=notes,
            run_url=run_url(detail.flow_run_id),
        )

    async def accept(self, request: Request) -> Response:
        return await self._answer(request, "accept")

    async def decline(self, request: Request) -> Response:
        return await self._answer(request, "decline")

    async def _answer(self, request: Request, answer: str) -> Response:
        """The customer's answer, recorded after one more look (accepting writes the
        price list)."""
        from quoteflow.lifecycle import TransitionRefused, transition

        quote_id: str = request.path_params["quote_id"]
        try:
            values = await self.guard.token_form(request)
        except FormError as exc:
            return error_page(request, exc.status, exc.message)
        notes = values.get("notes", "").strip() or None
        if values.get("confirmed") != "yes":
            return await self._page(request, confirm=answer, notes=notes or "")
        try:
            result = await run_in_threadpool(lambda: transition(quote_id, answer, notes=notes))
        except TransitionRefused as exc:
            return await self._page(request, status=409, error=str(exc))
        return RedirectResponse(f"/quotes/{quote_id}?done={result.status}", status_code=303)

    def routes(self) -> list[Route]:
        return [
            Route("/quotes", self.list, methods=["GET"]),
            Route("/quotes/{quote_id:str}", self.show, methods=["GET"]),
            Route("/quotes/{quote_id:str}/accept", self.accept, methods=["POST"]),
            Route("/quotes/{quote_id:str}/decline", self.decline, methods=["POST"]),
        ]
