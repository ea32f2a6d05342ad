"""A small synchronous SuiteTalk REST client for ``record/v1/estimate`` and SuiteQL reads,
signed with OAuth 1.0a TBA."""

from __future__ import annotations

import json
import logging
import re
from types import TracebackType
from typing import Any, Self

import httpx
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, SIGNATURE_TYPE_AUTH_HEADER
from oauthlib.oauth1 import Client as OAuth1Client
from pydantic import BaseModel, Field

from quoteflow.netsuite.errors import (
    NetSuiteError,
    NetSuiteRetryableError,
    error_for_response,
)
from quoteflow.netsuite.estimate import validate_external_id

log = logging.getLogger(__name__)

RECORD_PATH = "/services/rest/record/v1"
SUITEQL_PATH = "/services/rest/query/v1/suiteql"
SUITEQL_MAX_LIMIT = 1000


class SuiteQLPage(BaseModel):
    """One page of a SuiteQL answer: column names lower-case, every value a string."""

    items: list[dict[str, str]] = Field(description="The rows of this page.")
    has_more: bool = Field(description="NetSuite's hasMore: another page follows this one.")
    total_results: int = Field(ge=0, description="Rows the whole query matched (totalResults).")
    offset: int = Field(ge=0, description="Offset of this page's first row.")
    count: int = Field(ge=0, description="Rows on this page.")


_LOCATION_ID = re.compile(r"/estimate/(\d+)/?$")


class NetSuiteClient:
    """SuiteTalk REST over httpx with token-based authentication (HMAC-SHA256, realm = account).

    Every request is signed just before it is sent, so each one (and each retry by the
    caller) carries a fresh nonce and timestamp. The client never retries by itself:
    it raises ``NetSuiteRetryableError`` and leaves backoff to the caller (Prefect).
    """

    def __init__(
        self,
        base_url: str,
        account_id: str,
        consumer_key: str,
        consumer_secret: str,
        token_id: str,
        token_secret: str,
        timeout: float = 20.0,
    ) -> None:
        if not account_id:
            raise ValueError("account_id (the OAuth realm) must not be empty")
        self.base_url = base_url.rstrip("/")
        self.account_id = account_id
        self.timeout = timeout
        # realm goes into the Authorization header only; oauthlib leaves it out of the
        # signature base string (RFC 5849 §3.4.1.3.1), as NetSuite requires.
        self._oauth = OAuth1Client(
            consumer_key,
            client_secret=consumer_secret,
            resource_owner_key=token_id,
            resource_owner_secret=token_secret,
            signature_method=SIGNATURE_HMAC_SHA256,
            signature_type=SIGNATURE_TYPE_AUTH_HEADER,
            realm=account_id,
        )
        self._http = httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False)

    def __repr__(self) -> str:
        return f"NetSuiteClient(base_url={self.base_url!r}, account_id={self.account_id!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying HTTP connections."""
        self._http.close()

    # -- estimate operations -------------------------------------------------

    def upsert_estimate(self, external_id: str, body: dict[str, Any]) -> str:
        """Create or update the estimate with this external id; return its internal id.

        ``PUT .../estimate/eid:{external_id}?replace=item``: sending it again updates the
        same record (its item lines are replaced, not appended), never a duplicate.
        """
        validate_external_id(external_id)
        response = self._request(
            "PUT",
            f"{RECORD_PATH}/estimate/eid:{external_id}",
            params={"replace": "item"},
            body=body,
        )
        return self._internal_id(response)

    def create_estimate(self, body: dict[str, Any]) -> str:
        """``POST .../estimate``; return the new internal id. Not idempotent: prefer upsert."""
        response = self._request("POST", f"{RECORD_PATH}/estimate", body=body)
        return self._internal_id(response)

    def get_estimate(self, internal_id: str) -> dict[str, Any]:
        """The estimate with this internal id, item lines expanded."""
        if not str(internal_id).isdigit():
            raise ValueError(f"internal id must be digits, got {internal_id!r}")
        return self._get_json(f"{RECORD_PATH}/estimate/{internal_id}")

    def get_estimate_by_external_id(self, external_id: str) -> dict[str, Any]:
        """The estimate with this external id, item lines expanded."""
        validate_external_id(external_id)
        return self._get_json(f"{RECORD_PATH}/estimate/eid:{external_id}")

    # -- SuiteQL -------------------------------------------------------------

    def suiteql(self, query: str, *, limit: int = 1000, offset: int = 0) -> SuiteQLPage:
        """One page of a SuiteQL query (``POST .../query/v1/suiteql``, ``Prefer: transient``).

        ``limit`` is 1..1000; one query reaches at most 100,000 rows, so callers page by key
        (``WHERE id > :last ORDER BY id``) rather than by offset past that.
        """
        if not query or not query.strip():
            raise ValueError("query must not be empty")
        if not 1 <= limit <= SUITEQL_MAX_LIMIT:
            raise ValueError(f"limit must be 1..{SUITEQL_MAX_LIMIT}, got {limit}")
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        response = self._request(
            "POST",
            SUITEQL_PATH,
            params={"limit": str(limit), "offset": str(offset)},
            body={"q": query},
            headers={"Prefer": "transient"},
        )
        return _suiteql_page(response)

    # -- plumbing ------------------------------------------------------------

    def _get_json(self, path: str) -> dict[str, Any]:
        response = self._request("GET", path, params={"expandSubResources": "true"})
        try:
            payload = response.json()
        except ValueError as exc:
            raise NetSuiteError(
                "response is not JSON", status=response.status_code, method="GET", path=path
            ) from exc
        if not isinstance(payload, dict):
            raise NetSuiteError(
                "response is not a JSON object",
                status=response.status_code,
                method="GET",
                path=path,
            )
        return payload

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        headers = {"Accept": "application/json", **(headers or {})}
        content: bytes | None = None
        if body is not None:
            content = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        request = self._http.build_request(
            method, self.base_url + path, params=params, content=content, headers=headers
        )
        # Sign the exact URL httpx will send. The JSON body is not part of the OAuth 1.0a
        # base string (only form-encoded bodies are), so body=None: no oauth_body_hash.
        _, signed, _ = self._oauth.sign(str(request.url), http_method=method)
        request.headers["Authorization"] = signed["Authorization"]
        try:
            response = self._http.send(request)
        except httpx.TimeoutException as exc:
            raise NetSuiteRetryableError(
                f"no answer within {self.timeout:g}s ({type(exc).__name__})",
                method=method,
                path=path,
            ) from exc
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
            # A bad base_url or a request httpx cannot send: retrying cannot help.
            raise NetSuiteError(
                f"request not sent ({type(exc).__name__}: {exc})", method=method, path=path
            ) from exc
        except httpx.TransportError as exc:
            raise NetSuiteRetryableError(
                f"connection failed ({type(exc).__name__}: {exc})", method=method, path=path
            ) from exc
        log.debug("NetSuite %s %s -> %s", method, path, response.status_code)
        if response.status_code >= 300:
            raise error_for_response(
                response.status_code,
                response.text,
                method=method,
                path=path,
                retry_after=response.headers.get("Retry-After"),
            )
        return response

    @staticmethod
    def _internal_id(response: httpx.Response) -> str:
        location = response.headers.get("Location", "")
        match = _LOCATION_ID.search(location)
        if not match:
            raise NetSuiteError(
                f"answer has no estimate id in its Location header ({location or 'missing'!r})",
                status=response.status_code,
                method=response.request.method,
                path=response.request.url.path,
            )
        return match.group(1)


def _suiteql_page(response: httpx.Response) -> SuiteQLPage:
    def bad(why: str) -> NetSuiteError:
        return NetSuiteError(
            f"SuiteQL answer {why}", status=response.status_code, method="POST", path=SUITEQL_PATH
        )

    try:
        payload = response.json()
    except ValueError as exc:
        raise bad("is not JSON") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        raise bad("has no items list")
    items: list[dict[str, str]] = []
    for row in payload["items"]:
        if not isinstance(row, dict):
            raise bad("has a row that is not an object")
        # NetSuite adds "links" to each row; values arrive as strings (null when empty).
        items.append(
            {str(k).lower(): str(v) for k, v in row.items() if k != "links" and v is not None}
        )
    try:
        return SuiteQLPage(
            items=items,
            has_more=bool(payload.get("hasMore", False)),
            total_results=int(payload.get("totalResults", len(items))),
            offset=int(payload.get("offset", 0)),
            count=int(payload.get("count", len(items))),
        )
    except (TypeError, ValueError) as exc:
        raise bad(f"has bad paging fields ({exc})") from exc
