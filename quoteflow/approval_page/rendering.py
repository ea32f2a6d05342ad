"""Every response the page renders: one Jinja environment, one ``render`` that adds the
form token and the security headers, the error page, and the one PDF response."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from prefect.settings import get_current_settings
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from quoteflow import prefect_api
from quoteflow.approval_page import time_filters
from quoteflow.approval_page.badges import badge
from quoteflow.approval_page.countdown import COUNTDOWN_HASH, COUNTDOWN_JS
from quoteflow.decision import ApprovalDecision, PriceOverride
from quoteflow.models import ActionType
from quoteflow.presentation import (
    FLAG_WORDS,
    check_detail_text,
    check_text,
    format_day,
    format_money,
    history_text,
)
from quoteflow.settings import get_settings

TEMPLATES_DIR = Path(__file__).parent / "templates"
# The hidden field of every form; its value is ``request.state.form_token``, which
# ``security.FormTokens`` sets for the browser's session.
TOKEN_FIELD = "csrf_token"

SECURITY_HEADERS = {
    "Content-Security-Policy": f"default-src 'none'; style-src 'unsafe-inline'; "
    f"script-src '{COUNTDOWN_HASH}'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

TYPE_LABELS = {
    ActionType.quote_gate: "Quote approval",
    ActionType.quote_draft: "Quote draft",
    ActionType.send_quote: "Customer email",
}


def _attr_row(model: Any) -> list[Any]:
    """A pydantic model as one table row: its field values in order, lists joined."""

    def cell(v: Any) -> Any:
        if isinstance(v, bool):
            return "yes" if v else "no"
        return ", ".join(map(str, v)) if isinstance(v, list) else v

    return [cell(v) for v in model.model_dump().values()]


def _tz() -> str:
    return get_settings().local_timezone  # read per render: the setting may change


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        local=lambda v: time_filters.local(v, _tz()),
        day=format_day,
        expires=time_filters.expires,
        data_age=lambda v: time_filters.data_age(v, _tz()),
        money=format_money,
        attr_row=_attr_row,
    )
    # The form's limits are the decision model's own (what the Prefect server checks).
    price = PriceOverride.model_json_schema()["properties"]["case_price"]
    notes = ApprovalDecision.model_json_schema()["properties"]["notes"]
    env.globals.update(
        tz=_tz,
        words=lambda term: FLAG_WORDS.get(term, term),
        check_text=check_text,
        check_detail=check_detail_text,
        history_text=lambda h: history_text(h.kind, h.status, h.ref, h.by),
        type_label=lambda t: TYPE_LABELS.get(t, t),
        badge=badge,
        countdown_js=COUNTDOWN_JS,
        limits={
            "price_pattern": price["pattern"],
            "price_max_length": price["maxLength"],
            "notes_max_length": notes["maxLength"],
        },
    )
    return env


ENV = _environment()


def render(
    request: Request, template: str, status_code: int = 200, /, **context: Any
) -> HTMLResponse:
    """``template`` rendered with ``context`` and the form token of this browser."""
    context.setdefault("token", getattr(request.state, "form_token", ""))
    context.setdefault("token_field", TOKEN_FIELD)
    html = ENV.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def error_page(
    request: Request, status: int, message: str, action_id: int | None = None
) -> HTMLResponse:
    return render(
        request, "error.html", status, status=status, message=message, action_id=action_id
    )


def pdf_response(data: bytes, filename: str) -> Response:
    """A stored PDF shown in the browser, with the page's security headers."""
    return Response(
        data,
        media_type="application/pdf",
        headers={**SECURITY_HEADERS, "Content-Disposition": f'inline; filename="{filename}"'},
    )


def run_url(flow_run_id: str | None) -> str | None:
    """The flow run in the Prefect UI, when this process knows the UI."""
    if not (flow_run_id and get_current_settings().ui_url):
        return None
    return prefect_api.flow_run_url(flow_run_id)
