"""The "New quote" form: pick a customer, a school year and catalog items; the page
stages a quote_draft through ``quoteflow.drafting.start_quote`` and approves it as the
page's approver, so a customer-quote run starts and its quote comes back for approval.

Checks are QuoteRequest's own (plus: the customer must exist and not be on hold, by
``quoteflow.quote.check_blocking``): bad input names the field, the value and the rule,
and nothing is staged. A form submitted twice (a double tap) stages one draft: the form's
id and the request name the draft, and the store stages a name once.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from functools import partial
from itertools import groupby
from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from quoteflow import quotables
from quoteflow.approval_page.rendering import TOKEN_FIELD, error_page, render
from quoteflow.approval_page.security import FormError, Guard, read_form_lists
from quoteflow.drafting import DraftRefused, customer_problem, start_quote
from quoteflow.quote import QuoteRequest, is_on_hold, payload_hash
from quoteflow.settings import default_approver

NONCE_FIELD = "form_id"
# Form field names, and the QuoteRequest field each one feeds.
FORM_FIELD_OF = {"customer_id": "customer", "item_codes": "item", "school_year": "school_year"}


def request_from_form(values: Mapping[str, list[str]]) -> QuoteRequest:
    """The QuoteRequest a submitted form asks for; FormError naming the field otherwise."""
    text = (values.get("customer") or [""])[0].strip()
    if not text:
        raise FormError(400, "customer: empty: type a customer's name or id", "customer")
    customer = quotables.find_customer(text)
    if customer is None:
        raise FormError(400, _no_such_customer(text), "customer")
    blocked = customer_problem(customer)
    if blocked:
        raise FormError(
            400,
            f"Customer: {customer.label} is on hold in NetSuite, so it cannot be quoted."
            if is_on_hold(customer.entitystatus)
            else f"Customer: {customer.label} cannot be quoted: {blocked}.",
            "customer",
        )
    year = (values.get("school_year") or [""])[0].strip()
    try:
        request = QuoteRequest(
            customer_id=customer.id,
            item_codes=[c.strip() for c in values.get("item", []) if c.strip()],
            school_year=year,
            include_pdf=bool(values.get("include_pdf")),
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "form"
        field = FORM_FIELD_OF.get(name, name)
        rule = err["msg"].removeprefix("Value error, ")
        if name == "item_codes" and err["type"] == "too_short":
            rule = "pick at least one item"
        elif err["type"] == "string_pattern_mismatch":
            rule = PATTERN_WORDS.get(name, "is not in the expected form")
        value = err.get("input")
        shown = "none picked" if value == [] else f"“{value}”"
        sep = " " if rule.startswith("is not") else "; " if value == [] else ": "
        raise FormError(400, f"{LABELS.get(field, field)}: {shown}{sep}{rule}", field) from exc
    priced = quotables.school_years()
    if request.school_year not in priced:
        raise FormError(400, no_prices_for(request.school_year, priced), "school_year")
    return request


def no_prices_for(year: str, priced: list[str]) -> str:
    """Why a school year without a single price cannot be quoted, and what to do."""
    have = f"Prices exist for {', '.join(priced)}." if priced else "No prices are loaded yet."
    return (
        f"School year: there are no prices for {year}, so every line would be left off. "
        f"{have} Load {year}'s prices on the Prices page first, or pick a year that has them."
    )


LABELS = {"customer": "Customer", "school_year": "School year", "item": "Items"}
PATTERN_WORDS = {
    "school_year": "is not a school year: write it like 2026-27",
    "item_codes": "is not an item code: write it like FS-1001 (letters, a dash, digits)",
}


def _no_such_customer(text: str) -> str:
    """The customer search found none or several: say which ones it could mean."""
    low = text.lower()
    matches = [c.label for c in quotables.customers() if low in c.name.lower()]
    if matches:
        shown = "; ".join(matches[:5]) + ("; ..." if len(matches) > 5 else "")
        return f"Customer: “{text}” matches {len(matches)} customers ({shown}): pick one."
    return f"Customer: no customer is called “{text}”: type a name or number from the list."


class NewQuote:
    """GET shows the form; POST either shows it again with prices (``step=prices``) or
    stages and approves the draft (``step=create``)."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    def _form(
        self,
        request: Request,
        values: Mapping[str, list[str]],
        *,
        status: int = 200,
        error: str | None = None,
        error_field: str | None = None,
    ) -> Response:
        first = {k: (v[0] if v else "") for k, v in values.items()}
        years = quotables.school_years()
        year = first.get("school_year") or (years[0] if years else "")
        customer = quotables.find_customer(first.get("customer", ""))
        priced = customer is not None and year in years
        items = quotables.catalog_items(
            customer.id if priced and customer else None, year if priced else None
        )
        catalogs = [(name, list(group)) for name, group in groupby(items, lambda i: i.catalog)]
        context: dict[str, Any] = {
            "customers": quotables.customers(),
            "years": years,
            "customer_text": first.get("customer", ""),
            "customer": customer,
            "year": year,
            "priced": priced,
            "catalogs": catalogs,
            "checked": set(values.get("item", [])),
            "include_pdf": bool(values.get("include_pdf")) if "step" in values else True,
            "error": error,
            "error_field": error_field,
            "nonce_field": NONCE_FIELD,
            "nonce": first.get(NONCE_FIELD) or secrets.token_urlsafe(16),
        }
        return render(request, "new_quote.html", status, **context)

    async def show(self, request: Request) -> Response:
        values = {k: request.query_params.getlist(k) for k in ("customer", "school_year")}
        return await run_in_threadpool(self._form, request, values)

    async def submit(self, request: Request) -> Response:
        try:
            values = await read_form_lists(request)
            self.guard.check_token(request, (values.get(TOKEN_FIELD) or [""])[0])
        except FormError as exc:
            return error_page(request, exc.status, exc.message)
        if (values.get("step") or [""])[0] != "create":
            return await run_in_threadpool(self._form, request, values)
        try:
            draft_id = await run_in_threadpool(self._create, values)
        except FormError as exc:
            return await run_in_threadpool(
                partial(
                    self._form,
                    request,
                    values,
                    status=exc.status,
                    error=exc.message,
                    error_field=exc.field,
                )
            )
        return RedirectResponse(f"/actions/{draft_id}?done=approved", status_code=303)

    def _create(self, values: Mapping[str, list[str]]) -> int:
        """Stage the draft and approve it; the same form sent again with the same request
        (a double tap) names the same draft, a changed request a new one."""
        request = request_from_form(values)
        nonce = (values.get(NONCE_FIELD) or [""])[0].strip()[:64]
        ref = (
            f"page:{nonce}:{payload_hash(request.model_dump(mode='json'))[:32]}" if nonce else None
        )
        try:
            draft = start_quote(
                request,
                approver=default_approver(),
                notes="new quote from the approval page",
                entity_ref=ref,
            )
        except DraftRefused as exc:
            raise FormError(400, f"customer: {exc}", "customer") from exc
        return draft.id


def new_quote_routes(guard: Guard) -> list[Route]:
    form = NewQuote(guard)
    return [
        Route("/new-quote", form.show, methods=["GET"]),
        Route("/new-quote", form.submit, methods=["POST"]),
    ]
