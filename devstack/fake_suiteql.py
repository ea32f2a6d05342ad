"""The fake NetSuite's SuiteQL, minimal: the one query the live hold check sends
(``SELECT id, entitystatus, isinactive FROM customer WHERE id = '<id>'``), answered from
the customers the fake knows, each 'active' and not inactive unless the control API set
it (``POST /_fake/customer_status`` {"id", "entitystatus", "isinactive"}).

The pricing helper's stand-in until the mirror's own SuiteQL fake (wip-mirror) lands;
like NetSuite it needs ``Prefer: transient`` and caps ``limit`` at 1000.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

SUITEQL_PATH = "/services/rest/query/v1/suiteql"
_STATUS_QUERY = re.compile(
    r"^\s*SELECT\s+id\s*,\s*entitystatus\s*,\s*isinactive\s+FROM\s+customer\s+"
    r"WHERE\s+id\s*=\s*'(?P<id>[A-Za-z0-9_-]+)'\s*$",
    re.IGNORECASE,
)


class CustomerStatuses:
    """Customer statuses the fake answers with; ``known`` lists the customer ids."""

    def __init__(self, known: Callable[[], list[str]]) -> None:
        self.known = known
        self.overrides: dict[str, dict[str, str]] = {}

    def answer(self, request: Request, body: bytes, fault: Callable[..., Exception]) -> Response:
        if request.method != "POST":
            raise fault(405, "INVALID_REQUEST", f"{request.method} is not allowed here.")
        if request.headers.get("prefer", "").lower() != "transient":
            raise fault(400, "INVALID_PARAMETER", "SuiteQL needs the header Prefer: transient.")
        limit = int(request.query_params.get("limit", "1000") or 1000)
        if not 1 <= limit <= 1000:
            raise fault(400, "INVALID_PARAMETER", "limit must be 1..1000.")
        try:
            query = json.loads(body)["q"]
        except (ValueError, KeyError, TypeError) as exc:
            raise fault(400, "INVALID_CONTENT", 'body must be {"q": "<SuiteQL>"}.') from exc
        match = _STATUS_QUERY.match(str(query))
        if match is None:
            raise fault(400, "INVALID_PARAMETER", "this fake answers one SuiteQL query only.")
        customer_id = match.group("id")
        items: list[dict[str, Any]] = []
        if customer_id in self.known():
            row = {"id": customer_id, "entitystatus": "active", "isinactive": "F"}
            row.update(self.overrides.get(customer_id, {}))
            items.append({"links": [], **row})
        return JSONResponse(
            {
                "links": [],
                "count": len(items),
                "hasMore": False,
                "items": items,
                "offset": 0,
                "totalResults": len(items),
            }
        )

    async def set_status(self, request: Request) -> Response:
        """``POST /_fake/customer_status`` {id, entitystatus?, isinactive?}."""
        try:
            spec = await request.json()
            customer_id = str(spec["id"])
            changes = {k: str(spec[k]) for k in ("entitystatus", "isinactive") if k in spec}
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"bad request: {exc}"}, status_code=400)
        self.overrides.setdefault(customer_id, {}).update(changes)
        return JSONResponse({"id": customer_id, **self.overrides[customer_id]})
