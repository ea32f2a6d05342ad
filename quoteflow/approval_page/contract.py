"""The contract page: what each step of the workflow does for real, and what changes
next. Gathered by ``tasks.contract``; rendered here."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quoteflow.approval_page.contract_view import contract_context
from quoteflow.approval_page.rendering import render


async def contract(request: Request) -> Response:
    from quoteflow.contract import contract_document
    from tasks.contract import collect_contract

    page = await run_in_threadpool(collect_contract)
    extra = await run_in_threadpool(contract_context)
    return render(request, "contract.html", doc=contract_document(page), **extra)


def contract_routes() -> list[Route]:
    return [Route("/contract", contract, methods=["GET"])]
