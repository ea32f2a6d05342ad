"""The stored quote PDFs: of a decided quote gate (``/actions/{id}/pdf``) and of a quote
(``/quotes/{id}/pdf``), read from the bucket and shown with the page's headers."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quoteflow import approvals
from quoteflow.approval_page.rendering import error_page, pdf_response
from quoteflow.approvals import ApprovalError
from quoteflow.models import ActionType
from quoteflow.settings import get_settings


def _read(key: str) -> bytes:
    from prefect_aws import S3Bucket

    from quoteflow.storage import read_object

    return read_object(S3Bucket.load(get_settings().s3_bucket_block), key)


def _gate_pdf_key(action_id: int) -> str | None:
    from quoteflow.timeline import gate_outcome

    action = approvals.get_action(action_id)
    if action.action_type != ActionType.quote_gate:
        return None
    return gate_outcome(action).pdf_key or None


def _quote_pdf_key(quote_id: str) -> str | None:
    from quoteflow.quote_book import get_quote

    detail = get_quote(quote_id)
    return detail.pdf_key if detail is not None else None


async def _pdf(request: Request, key: str | None, missing: str, filename: str = "") -> Response:
    if not key:
        return error_page(request, 404, missing)
    try:
        data = await run_in_threadpool(_read, key)
    except Exception as exc:  # a missing object or an unreachable bucket: say which
        return error_page(request, 502, f"PDF {key} could not be read: {type(exc).__name__}: {exc}")
    return pdf_response(data, filename or key.rsplit("/", 1)[-1])


async def gate_pdf(request: Request) -> Response:
    action_id: int = request.path_params["action_id"]
    try:
        key = await run_in_threadpool(_gate_pdf_key, action_id)
    except ApprovalError as exc:
        return error_page(request, 404, str(exc))
    except Exception as exc:  # the outcome's sources are unreachable
        return error_page(request, 502, f"the PDF could not be read: {type(exc).__name__}: {exc}")
    return await _pdf(request, key, f"proposed action {action_id} has no quote PDF")


async def quote_pdf(request: Request) -> Response:
    quote_id: str = request.path_params["quote_id"]
    key = await run_in_threadpool(_quote_pdf_key, quote_id)
    return await _pdf(request, key, f"quote {quote_id} has no stored PDF", f"{quote_id}.pdf")


def pdf_routes() -> list[Route]:
    return [
        Route("/actions/{action_id:int}/pdf", gate_pdf, methods=["GET"]),
        Route("/quotes/{quote_id:str}/pdf", quote_pdf, methods=["GET"]),
    ]
