"""Prices from a spreadsheet on Mike's page: upload a pricing CSV for a school year, check
it (nothing written) or import it (every row or none). The rules and the write are
``quoteflow.mirror.pricing_import``'s, the same as `quoteflow mirror import-pricing`; the
page adds only the form, its token and a size limit.
"""

from __future__ import annotations

from functools import partial

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quoteflow import quotables
from quoteflow.approval_page.rendering import TOKEN_FIELD, error_page, render
from quoteflow.approval_page.security import FormError, Guard
from quoteflow.mirror.pricing_csv import ImportReport
from quoteflow.mirror.pricing_import import import_pricing
from quoteflow.presentation import import_summary, price_move_text
from quoteflow.settings import get_settings

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # ~600,000 price rows
ERRORS_SHOWN = 200


class PricingUpload:
    """GET shows the form; POST checks (``action=check``) or imports the uploaded file."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    def _form(
        self,
        request: Request,
        *,
        status: int = 200,
        year: str | None = None,
        report: ImportReport | None = None,
        error: str | None = None,
    ) -> Response:
        years = quotables.school_years()
        currency = get_settings().currency
        return render(
            request,
            "pricing.html",
            status,
            year=year or (years[0] if years else ""),
            years=years,
            report=report,
            moves=[price_move_text(m, currency) for m in report.largest_moves] if report else [],
            summary=import_summary(report) if report else "",
            errors_shown=report.errors[:ERRORS_SHOWN] if report else [],
            errors_more=max(len(report.errors) - ERRORS_SHOWN, 0) if report else 0,
            error=error,
            max_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
        )

    async def show(self, request: Request) -> Response:
        return await run_in_threadpool(self._form, request)

    async def submit(self, request: Request) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "multipart/form-data":
            return error_page(request, 415, "expected a file upload (multipart/form-data)")
        if int(request.headers.get("content-length") or 0) > MAX_UPLOAD_BYTES:
            return error_page(
                request, 413, f"file too large: at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB"
            )
        async with request.form(max_files=1, max_fields=10) as form:
            try:
                self.guard.check_token(request, form.get(TOKEN_FIELD))
            except FormError as exc:
                return error_page(request, exc.status, exc.message)
            year = str(form.get("school_year") or "").strip()
            upload = form.get("file")
            dry_run = form.get("action") != "import"
            if not isinstance(upload, UploadFile) or not upload.filename:
                return await run_in_threadpool(
                    partial(
                        self._form, request, status=400, year=year, error="file: choose a CSV file"
                    )
                )
            data = await upload.read(MAX_UPLOAD_BYTES + 1)
            name = upload.filename
        if len(data) > MAX_UPLOAD_BYTES:
            return error_page(
                request, 413, f"file too large: at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB"
            )
        report = await run_in_threadpool(
            partial(import_pricing, data, school_year=year, file_name=name, dry_run=dry_run)
        )
        return await run_in_threadpool(
            partial(self._form, request, status=200 if report.ok else 400, year=year, report=report)
        )


def pricing_routes(guard: Guard) -> list[Route]:
    upload = PricingUpload(guard)
    return [
        Route("/pricing", upload.show, methods=["GET"]),
        Route("/pricing", upload.submit, methods=["POST"]),
    ]
