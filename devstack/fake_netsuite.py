"""A local fake of NetSuite SuiteTalk REST ``record/v1/estimate`` for tests and the demo stack.

It behaves like NetSuite where quoteflow depends on it:

- every API request must carry a valid OAuth 1.0a TBA ``Authorization`` header
  (HMAC-SHA256, realm = account id, timestamp within 5 minutes, nonce never reused).
  The signature is checked by the RFC 5849 §3.4 implementation in this module (stdlib
  ``hmac``), independent of oauthlib's ``Client`` that signs the requests;
- upsert by external id (``PUT .../estimate/eid:X``, honouring ``?replace=item``), create
  (``POST .../estimate``), read (``GET .../estimate/{id}`` or ``/eid:X``);
- bodies are validated against the known customers and items, errors come back in
  NetSuite's shape (``o:errorDetails`` with ``o:errorCode`` and ``o:errorPath``);
- estimates live in an SQLite file in the data dir, so a restart keeps them;
- SuiteQL (``POST .../query/v1/suiteql``, ``Prefer: transient``) over the fake account's
  own records in their own SQLite file (``devstack.fake_suiteql``).

A control API under ``/_fake`` (no auth) injects faults (status, slow, dropped
connection; optionally after letting ``skip`` requests through), resets state, sets the
known records, changes SuiteQL records (``/_fake/suiteql/{table}``) and reports what was
received.

The local stack runs it (``devstack.stack.run``) with the credentials it generated.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import http
import json
import logging
import math
import re
import sqlite3
import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from devstack.fake_suiteql import ROW_CAP, TABLES, SuiteQLError, SuiteQLStore

log = logging.getLogger("quoteflow.fake_netsuite")

API_PREFIX = "/services/rest/"
ESTIMATE_PATH = "/services/rest/record/v1/estimate"
SUITEQL_PATH = "/services/rest/query/v1/suiteql"
TIMESTAMP_TOLERANCE_SECONDS = 300
NONCE_RETENTION_SECONDS = 2 * TIMESTAMP_TOLERANCE_SECONDS
LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}
_EXTERNAL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ESTIMATE_REF = re.compile(r"^/services/rest/record/v1/estimate/(?P<ref>[^/]+)$")

_HEADER_FIELDS = frozenset(
    {
        "entity",
        "item",
        "memo",
        "externalId",
        "tranDate",
        "dueDate",
        "expectedCloseDate",
        "title",
        "otherRefNum",
        "message",
        "probability",
        "currency",
        "subsidiary",
        "location",
        "department",
        "class",
        "customForm",
        "terms",
        "entityStatus",
    }
)
_LINE_FIELDS = frozenset({"item", "quantity", "rate", "description", "line", "amount", "units"})
_INJECT_CODES = {
    429: "CONCURRENCY_LIMIT_EXCEEDED",
    500: "UNEXPECTED_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}
INVALID_LOGIN_DETAIL = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI "
    "at Setup > Users/Roles > User Management > View Login Audit Trail."
)


# -- credentials -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeCredentials:
    """The TBA credentials the fake accepts (one integration, one token)."""

    account_id: str
    consumer_key: str
    consumer_secret: str
    token_id: str
    token_secret: str

    def __repr__(self) -> str:
        return f"FakeCredentials(account_id={self.account_id!r}, secrets=***)"


# -- OAuth 1.0a signature (RFC 5849 §3.4), written independently of oauthlib.Client ------------


def percent_encode(value: str) -> str:
    """RFC 5849 §3.6: UTF-8, then percent-encode everything but ALPHA / DIGIT / - . _ ~."""
    return quote(value.encode("utf-8"), safe="-._~")


def parse_authorization_header(header: str) -> list[tuple[str, str]]:
    """The ``name="value"`` pairs of an ``OAuth ...`` header, values percent-decoded (§3.5.1)."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "oauth":
        raise ValueError("Authorization scheme is not OAuth")
    pairs: list[tuple[str, str]] = []
    for part in rest.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, raw = part.partition("=")
        if not sep or len(raw) < 2 or raw[0] != '"' or raw[-1] != '"':
            raise ValueError(f"malformed Authorization parameter {name.strip()!r}")
        pairs.append((unquote(name.strip()), unquote(raw[1:-1])))
    return pairs


def base_string_uri(scheme: str, host_header: str, raw_path: str) -> str:
    """§3.4.1.2: lowercase scheme and host, default port dropped, path as sent, no query."""
    scheme = scheme.lower()
    host = host_header.strip().lower()
    default_port = {"http": "80", "https": "443"}.get(scheme)
    if default_port and host.endswith(f":{default_port}") and not host.endswith("]"):
        host = host[: -len(default_port) - 1]
    return f"{scheme}://{host}{raw_path or '/'}"


def signature_base_string(method: str, uri: str, params: list[tuple[str, str]]) -> str:
    """§3.4.1: METHOD&enc(base URI)&enc(normalized parameters); params exclude signature/realm."""
    encoded = sorted((percent_encode(k), percent_encode(v)) for k, v in params)
    normalized = "&".join(f"{k}={v}" for k, v in encoded)
    return "&".join([method.upper(), percent_encode(uri), percent_encode(normalized)])


def hmac_sha256_signature(base_string: str, consumer_secret: str, token_secret: str) -> str:
    """§3.4.2 with SHA-256: key = enc(consumer secret)&enc(token secret), base64 digest."""
    key = f"{percent_encode(consumer_secret)}&{percent_encode(token_secret)}"
    digest = hmac.new(key.encode(), base_string.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True)
class SignedRequest:
    """What the verifier needs of one HTTP request."""

    method: str
    scheme: str
    host: str
    raw_path: str
    query_string: str
    authorization: str | None


def check_oauth(req: SignedRequest, creds: FakeCredentials, now: float) -> tuple[str | None, str]:
    """``(reason, nonce)``: reason is None when the request is validly signed.

    The nonce is returned so the caller can check and record it.
    """
    if not req.authorization:
        return "no Authorization header", ""
    try:
        pairs = parse_authorization_header(req.authorization)
    except ValueError as exc:
        return str(exc), ""
    auth = dict(pairs)
    if len(auth) != len(pairs):
        return "duplicate Authorization parameters", ""
    if auth.get("realm") != creds.account_id:
        return "realm is not the account id", ""
    if auth.get("oauth_signature_method") != "HMAC-SHA256":
        return f"signature method {auth.get('oauth_signature_method')!r} is not HMAC-SHA256", ""
    if auth.get("oauth_version", "1.0") != "1.0":
        return "oauth_version is not 1.0", ""
    for name in ("oauth_consumer_key", "oauth_token", "oauth_nonce", "oauth_timestamp"):
        if not auth.get(name):
            return f"{name} missing", ""
    if not hmac.compare_digest(auth["oauth_consumer_key"], creds.consumer_key):
        return "unknown consumer key", ""
    if not hmac.compare_digest(auth["oauth_token"], creds.token_id):
        return "unknown token", ""
    timestamp = auth["oauth_timestamp"]
    if not timestamp.isdigit() or abs(now - int(timestamp)) > TIMESTAMP_TOLERANCE_SECONDS:
        return "timestamp outside the 5 minute window", ""
    params = [(k, v) for k, v in pairs if k not in ("realm", "oauth_signature")]
    params += parse_qsl(req.query_string, keep_blank_values=True)
    uri = base_string_uri(req.scheme, req.host, req.raw_path)
    expected = hmac_sha256_signature(
        signature_base_string(req.method, uri, params), creds.consumer_secret, creds.token_secret
    )
    if not hmac.compare_digest(expected, auth.get("oauth_signature", "")):
        return "signature mismatch", ""
    return None, auth["oauth_nonce"]


# -- storage ---------------------------------------------------------------------------------


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """Estimates, known records and seen nonces in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.executescript(
            """
            CREATE TABLE IF NOT EXISTS estimates (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                external_id TEXT UNIQUE,
                record TEXT NOT NULL,
                last_body TEXT NOT NULL,
                writes INTEGER NOT NULL DEFAULT 1,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS known_records (
                kind TEXT NOT NULL,
                internal_id TEXT NOT NULL,
                PRIMARY KEY (kind, internal_id)
            );
            CREATE TABLE IF NOT EXISTS nonces (
                nonce TEXT PRIMARY KEY,
                seen_at REAL NOT NULL
            );
            """
        )

    def close(self) -> None:
        self.conn.close()

    # records
    def set_records(self, customers: list[str], items: list[str]) -> None:
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.execute("DELETE FROM known_records")
            self.conn.executemany(
                "INSERT OR IGNORE INTO known_records VALUES (?, ?)",
                [("customer", c) for c in customers] + [("item", i) for i in items],
            )

    def records(self) -> dict[str, list[str]]:
        rows = self.conn.execute(
            "SELECT kind, internal_id FROM known_records ORDER BY kind, internal_id"
        ).fetchall()
        return {
            "customers": [r["internal_id"] for r in rows if r["kind"] == "customer"],
            "items": [r["internal_id"] for r in rows if r["kind"] == "item"],
        }

    def record_exists(self, kind: str, internal_id: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM known_records WHERE kind = ? AND internal_id = ?", (kind, internal_id)
        ).fetchone()
        return row is not None

    # nonces
    def use_nonce(self, nonce: str, now: float) -> bool:
        """Record the nonce; False if it was seen before."""
        self.conn.execute("DELETE FROM nonces WHERE seen_at < ?", (now - NONCE_RETENTION_SECONDS,))
        try:
            self.conn.execute("INSERT INTO nonces VALUES (?, ?)", (nonce, now))
        except sqlite3.IntegrityError:
            return False
        return True

    # estimates
    def get(self, *, internal_id: int | None = None, external_id: str | None = None) -> dict | None:
        if internal_id is not None:
            sql, arg = "SELECT * FROM estimates WHERE id = ?", internal_id
        else:
            sql, arg = "SELECT * FROM estimates WHERE external_id = ?", external_id
        row = self.conn.execute(sql, (arg,)).fetchone()
        return None if row is None else _row_dict(row)

    def insert(self, record: dict[str, Any], body: dict[str, Any]) -> int:
        now = _now_iso()
        cur = self.conn.execute(
            "INSERT INTO estimates (external_id, record, last_body, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (record.get("externalId"), json.dumps(record), json.dumps(body), now, now),
        )
        return int(cur.lastrowid or 0)

    def update(self, internal_id: int, record: dict[str, Any], body: dict[str, Any]) -> None:
        self.conn.execute(
            "UPDATE estimates SET external_id = ?, record = ?, last_body = ?, "
            "writes = writes + 1, updated_at = ? WHERE id = ?",
            (
                record.get("externalId"),
                json.dumps(record),
                json.dumps(body),
                _now_iso(),
                internal_id,
            ),
        )

    def all(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM estimates ORDER BY id").fetchall()
        return [_row_dict(r) for r in rows]

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM estimates").fetchone()[0])

    def clear_estimates(self) -> None:
        self.conn.execute("DELETE FROM estimates")


def _row_dict(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "external_id": row["external_id"],
        "record": json.loads(row["record"]),
        "last_body": json.loads(row["last_body"]),
        "writes": row["writes"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


# -- NetSuite-shaped answers -----------------------------------------------------------------


class NetSuiteFault(Exception):
    """An error answer in NetSuite's shape."""

    def __init__(self, status: int, code: str, detail: str, path: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.path = status, code, detail, path

    def response(self) -> JSONResponse:
        item: dict[str, Any] = {"detail": self.detail, "o:errorCode": self.code}
        if self.path:
            item["o:errorPath"] = self.path
        return JSONResponse(
            {
                "type": "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html",
                "title": http.HTTPStatus(self.status).phrase,
                "status": self.status,
                "o:errorDetails": [item],
            },
            status_code=self.status,
            media_type="application/vnd.oracle.resource+json; type=error",
        )


def _invalid(path: str, value: object, why: str) -> NetSuiteFault:
    return NetSuiteFault(
        400,
        "INVALID_CONTENT",
        f"Invalid Field Value {json.dumps(value)} for the following field: {path} ({why}).",
        path,
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate_estimate_body(
    body: object, store: Store, *, creating: bool
) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """The header fields and item lines of a valid body; raises NetSuiteFault otherwise."""
    if not isinstance(body, dict):
        raise NetSuiteFault(400, "INVALID_CONTENT", "The request body must be a JSON object.")
    for name in body:
        if name not in _HEADER_FIELDS:
            raise NetSuiteFault(
                400, "INVALID_CONTENT", f"Invalid field {name!r} on record estimate.", name
            )
    header = {k: v for k, v in body.items() if k != "item"}
    entity = body.get("entity")
    if entity is None:
        if creating:
            raise NetSuiteFault(400, "USER_ERROR", "Please enter value(s) for: Customer.", "entity")
    elif not isinstance(entity, dict) or not isinstance(entity.get("id"), str):
        raise _invalid("entity.id", entity, 'expected {"id": "<customer internal id>"}')
    elif not store.record_exists("customer", entity["id"]):
        raise _invalid("entity.id", entity["id"], "no customer with this internal id")
    if "externalId" in body and not (
        isinstance(body["externalId"], str) and _EXTERNAL_ID.fullmatch(body["externalId"])
    ):
        raise _invalid("externalId", body["externalId"], "letters, digits, _ and - only, 1..64")
    if "memo" in body and not isinstance(body["memo"], str | None):
        raise _invalid("memo", body["memo"], "expected a string")

    sublist = body.get("item")
    if sublist is None:
        if creating:
            raise NetSuiteFault(
                400,
                "USER_ERROR",
                "You must enter at least one line item for this transaction.",
                "item",
            )
        return header, None
    if not isinstance(sublist, dict) or not isinstance(sublist.get("items"), list):
        raise _invalid("item", sublist, 'expected {"items": [...]}')
    if creating and not sublist["items"]:
        raise NetSuiteFault(
            400,
            "USER_ERROR",
            "You must enter at least one line item for this transaction.",
            "item.items",
        )
    lines: list[dict[str, Any]] = []
    for n, line in enumerate(sublist["items"]):
        at = f"item.items[{n}]"
        if not isinstance(line, dict):
            raise _invalid(at, line, "expected an object")
        for name in line:
            if name not in _LINE_FIELDS:
                raise NetSuiteFault(
                    400,
                    "INVALID_CONTENT",
                    f"Invalid field {name!r} on sublist item.",
                    f"{at}.{name}",
                )
        ref = line.get("item")
        if not isinstance(ref, dict) or not isinstance(ref.get("id"), str):
            raise _invalid(f"{at}.item.id", ref, 'expected {"id": "<item internal id>"}')
        if not store.record_exists("item", ref["id"]):
            raise _invalid(f"{at}.item.id", ref["id"], "no item with this internal id")
        quantity = line.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise _invalid(f"{at}.quantity", quantity, "expected a positive integer")
        rate = line.get("rate")
        if not _is_number(rate) or not math.isfinite(rate) or rate < 0:
            raise _invalid(f"{at}.rate", rate, "expected a number >= 0")
        description = line.get("description")
        if description is not None and not isinstance(description, str):
            raise _invalid(f"{at}.description", description, "expected a string")
        if "line" in line and (not isinstance(line["line"], int) or line["line"] < 1):
            raise _invalid(f"{at}.line", line["line"], "expected a positive line number")
        kept: dict[str, Any] = {"item": {"id": ref["id"]}, "quantity": quantity, "rate": rate}
        if description is not None:
            kept["description"] = description
        if "line" in line:
            kept["line"] = line["line"]
        lines.append(kept)
    return header, lines


def merge_lines(
    current: list[dict[str, Any]], incoming: list[dict[str, Any]], replace: bool
) -> list[dict[str, Any]]:
    """NetSuite sublist update: ``replace=item`` swaps all lines; otherwise lines that name a
    ``line`` number update it and the others are appended."""
    if replace:
        base: list[dict[str, Any]] = []
    else:
        base = [dict(line) for line in current]
    by_no = {line["line"]: line for line in base}
    next_no = max(by_no, default=0) + 1
    for line in incoming:
        if not replace and line.get("line") in by_no:
            by_no[line["line"]].update(line)
            continue
        new = {k: v for k, v in line.items() if k != "line"}
        new["line"] = next_no
        next_no += 1
        base.append(new)
        by_no[new["line"]] = new
    return base


def render_estimate(internal_id: int, record: dict[str, Any], base: str, expand: bool) -> dict:
    """The estimate as ``GET record/v1/estimate/{id}`` answers it."""
    href = f"{base}{ESTIMATE_PATH}/{internal_id}"
    lines = record.get("lines", [])
    total = sum((Decimal(str(x["quantity"])) * Decimal(str(x["rate"])) for x in lines), Decimal())
    out: dict[str, Any] = {"links": [{"rel": "self", "href": href}], "id": str(internal_id)}
    for key, value in record.items():
        if key != "lines":
            out[key] = value
    out["tranId"] = f"EST{internal_id:05d}"
    out["total"] = float(total.quantize(Decimal("0.01")))
    item: dict[str, Any] = {"links": [{"rel": "self", "href": f"{href}/item"}]}
    if expand:
        item["items"] = [
            {
                **line,
                "amount": float(
                    (Decimal(str(line["quantity"])) * Decimal(str(line["rate"]))).quantize(
                        Decimal("0.01")
                    )
                ),
            }
            for line in lines
        ]
        item.update(count=len(lines), hasMore=False, offset=0, totalResults=len(lines))
    out["item"] = item
    return out


# -- fault injection and request accounting --------------------------------------------------


@dataclass
class Injection:
    """A fault applied to the next ``count`` API requests."""

    mode: str
    count: int
    status: int | None = None
    delay: float = 0.0
    skip: int = 0  # requests let through untouched before the fault applies
    # Which requests it applies to: the record API (estimates), SuiteQL, or any. A record
    # fault leaves the SuiteQL reads of the same run (the live hold check) alone.
    api: str = "record"

    def applies_to(self, path: str) -> bool:
        return self.api == "any" or (self.api == "suiteql") == (path == SUITEQL_PATH)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "count": self.count,
            "status": self.status,
            "delay": self.delay,
            "skip": self.skip,
            "api": self.api,
        }


class Stats:
    """Counts of API requests received since start or the last reset."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total = 0
        self.by_method: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.rejected = 0
        self.auth_failures = 0
        self.dropped = 0
        self.recent: deque[dict[str, Any]] = deque(maxlen=200)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_method": dict(self.by_method),
            "by_status": {str(k): v for k, v in self.by_status.items()},
            "rejected": self.rejected,
            "auth_failures": self.auth_failures,
            "dropped": self.dropped,
            "recent": list(self.recent),
        }


# Transports of open connections by client address, so a "drop" can close the socket
# before any byte of a response is written (plain ASGI cannot do that).
_TRANSPORTS: dict[tuple[str, int], asyncio.Transport] = {}


class DroppableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, remembering each connection's transport by client address."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.client:
            _TRANSPORTS[self.client] = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client:
            _TRANSPORTS.pop(self.client, None)
        super().connection_lost(exc)


# -- the application -------------------------------------------------------------------------


class FakeNetSuite:
    """The ASGI application: NetSuite API under /services/rest, control API under /_fake."""

    def __init__(
        self,
        *,
        data_dir: Path,
        credentials: FakeCredentials,
        records: dict[str, list[str]] | None = None,
        row_cap: int = ROW_CAP,
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.credentials = credentials
        self.store = Store(data_dir / "fake_netsuite.sqlite3")
        self.suiteql = SuiteQLStore(data_dir / "fake_suiteql.sqlite3", row_cap=row_cap)
        if records is not None:
            self.store.set_records(*_parse_records(records))
        self.injections: deque[Injection] = deque()
        self.stats = Stats()
        self.control = Starlette(
            routes=[
                Route("/_fake/health", self.health, methods=["GET"]),
                Route("/_fake/inject", self.inject, methods=["POST"]),
                Route("/_fake/reset", self.reset, methods=["POST"]),
                Route("/_fake/estimates", self.estimates, methods=["GET"]),
                Route("/_fake/requests", self.requests, methods=["GET"]),
                Route("/_fake/records", self.get_records, methods=["GET"]),
                Route("/_fake/records", self.put_records, methods=["PUT"]),
                Route("/_fake/suiteql/settings", self.suiteql_settings, methods=["POST"]),
                Route("/_fake/suiteql/{table}", self.suiteql_rows, methods=["GET"]),
                Route("/_fake/suiteql/{table}", self.suiteql_upsert, methods=["POST"]),
                Route("/_fake/suiteql/{table}/delete", self.suiteql_delete, methods=["POST"]),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(API_PREFIX):
            await self._api(scope, receive, send)
        else:
            await self.control(scope, receive, send)

    # -- NetSuite API --

    async def _api(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        body = await request.body()
        method = request.method
        self.stats.total += 1
        self.stats.by_method[method] += 1
        injection = self._next_injection(request.url.path)
        if injection and injection.mode == "drop":
            self.stats.dropped += 1
            self._log(request, None, "injected drop")
            await self._drop(scope, send)
            return
        if injection and injection.mode == "slow":
            await asyncio.sleep(injection.delay)
        if injection and injection.mode == "status":
            assert injection.status is not None
            fault = NetSuiteFault(
                injection.status,
                _INJECT_CODES.get(injection.status, "UNEXPECTED_ERROR"),
                f"Injected HTTP {injection.status} by the fake NetSuite server.",
            )
            response: Response = fault.response()
            reason = "injected"
        else:
            response, reason = self._handle(request, body)
        self._log(request, response.status_code, reason)
        await response(scope, receive, send)

    def _handle(self, request: Request, body: bytes) -> tuple[Response, str]:
        scope = request.scope
        now = time.time()
        signed = SignedRequest(
            method=request.method,
            scheme=scope.get("scheme", "http"),
            host=request.headers.get("host", ""),
            raw_path=(scope.get("raw_path") or scope["path"].encode()).decode("latin-1"),
            query_string=scope.get("query_string", b"").decode("latin-1"),
            authorization=request.headers.get("authorization"),
        )
        reason, nonce = check_oauth(signed, self.credentials, now)
        if reason is None and not self.store.use_nonce(nonce, now):
            reason = "nonce already used"
        if reason is not None:
            self.stats.auth_failures += 1
            return NetSuiteFault(401, "INVALID_LOGIN", INVALID_LOGIN_DETAIL).response(), reason
        try:
            return self._route(request, body), "ok"
        except NetSuiteFault as fault:
            return fault.response(), f"{fault.code} {fault.path or ''}".strip()

    def _route(self, request: Request, body: bytes) -> Response:
        path, method = request.url.path, request.method
        base = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if path == SUITEQL_PATH:
            return self._suiteql(request, body)
        if path == ESTIMATE_PATH:
            if method != "POST":
                raise NetSuiteFault(405, "INVALID_REQUEST", f"{method} is not allowed here.")
            return self._create(self._json(request, body), base)
        match = _ESTIMATE_REF.match(path)
        if not match:
            raise NetSuiteFault(404, "NONEXISTENT_ID", f"No resource at {path}.")
        ref = match.group("ref")
        if method == "GET":
            expand = request.query_params.get("expandSubResources", "").lower() == "true"
            return self._get(ref, base, expand)
        if method == "PUT":
            if not ref.startswith("eid:"):
                raise NetSuiteFault(
                    405, "INVALID_REQUEST", "PUT (upsert) needs an external id: estimate/eid:X."
                )
            replace = {s.strip() for s in request.query_params.get("replace", "").split(",")}
            return self._upsert(ref[4:], self._json(request, body), base, "item" in replace)
        raise NetSuiteFault(405, "INVALID_REQUEST", f"{method} is not supported by this fake.")

    def _suiteql(self, request: Request, body: bytes) -> Response:
        if request.method != "POST":
            raise NetSuiteFault(405, "INVALID_REQUEST", f"{request.method} is not allowed here.")
        if request.headers.get("prefer", "").strip().lower() != "transient":
            raise NetSuiteFault(
                400, "INVALID_PARAMETER", "The request header Prefer: transient is required."
            )
        payload = self._json(request, body)
        if not isinstance(payload, dict) or not isinstance(payload.get("q"), str):
            raise NetSuiteFault(400, "INVALID_CONTENT", 'The body must be {"q": "<SuiteQL>"}.')
        try:
            limit = int(request.query_params.get("limit", "1000"))
            offset = int(request.query_params.get("offset", "0"))
        except ValueError as exc:
            raise NetSuiteFault(400, "INVALID_PARAMETER", f"Bad paging parameter: {exc}.") from exc
        try:
            answer = self.suiteql.query(payload["q"], limit=limit, offset=offset)
        except SuiteQLError as exc:
            raise NetSuiteFault(400, "INVALID_PARAMETER", f"Invalid search query. {exc}") from exc
        return JSONResponse(answer)

    @staticmethod
    def _json(request: Request, body: bytes) -> object:
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise NetSuiteFault(
                415, "INVALID_CONTENT", f"Unsupported content type {content_type!r}."
            )
        try:
            return json.loads(body)
        except ValueError as exc:
            raise NetSuiteFault(
                400, "INVALID_CONTENT", f"The request body is not valid JSON: {exc}."
            ) from exc

    def _lookup(self, ref: str) -> dict[str, Any] | None:
        if ref.startswith("eid:"):
            return self.store.get(external_id=ref[4:])
        if ref.isdigit():
            return self.store.get(internal_id=int(ref))
        return None

    def _get(self, ref: str, base: str, expand: bool) -> Response:
        row = self._lookup(ref)
        if row is None:
            raise NetSuiteFault(
                404,
                "NONEXISTENT_ID",
                f"The record instance does not exist. Provide a valid record instance ID ({ref}).",
                "id",
            )
        return JSONResponse(render_estimate(row["id"], row["record"], base, expand))

    def _create(self, body: object, base: str) -> Response:
        header, lines = validate_estimate_body(body, self.store, creating=True)
        external_id = header.get("externalId")
        if external_id and self.store.get(external_id=external_id):
            raise NetSuiteFault(
                400,
                "USER_ERROR",
                f"A record with external ID {external_id} already exists.",
                "externalId",
            )
        record = {**header, "lines": merge_lines([], lines or [], replace=True)}
        internal_id = self.store.insert(record, body)  # type: ignore[arg-type]
        return _created(base, internal_id)

    def _upsert(self, external_id: str, body: object, base: str, replace: bool) -> Response:
        if not _EXTERNAL_ID.fullmatch(external_id):
            raise _invalid("externalId", external_id, "letters, digits, _ and - only, 1..64")
        row = self.store.get(external_id=external_id)
        header, lines = validate_estimate_body(body, self.store, creating=row is None)
        if header.get("externalId", external_id) != external_id:
            raise _invalid("externalId", header["externalId"], "differs from the id in the URL")
        header["externalId"] = external_id
        if row is None:
            record = {**header, "lines": merge_lines([], lines or [], replace=True)}
            internal_id = self.store.insert(record, body)  # type: ignore[arg-type]
        else:
            internal_id = row["id"]
            record = {**row["record"], **header}
            if lines is not None:
                record["lines"] = merge_lines(row["record"].get("lines", []), lines, replace)
            self.store.update(internal_id, record, body)  # type: ignore[arg-type]
        return _created(base, internal_id)

    def _next_injection(self, path: str) -> Injection | None:
        if not self.injections:
            return None
        head = self.injections[0]
        if not head.applies_to(path):
            return None
        if head.skip > 0:
            head.skip -= 1
            return None
        head.count -= 1
        if head.count <= 0:
            self.injections.popleft()
        return head

    async def _drop(self, scope: Scope, send: Send) -> None:
        client = scope.get("client")
        transport = _TRANSPORTS.get(tuple(client)) if client else None  # type: ignore[arg-type]
        if transport is not None:
            transport.abort()
            # Let uvicorn see connection_lost, so it does not answer 500 for us.
            for _ in range(3):
                await asyncio.sleep(0)
            return
        # Not under DroppableH11Protocol: promise a body and close without sending it.
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"1000")],
            }
        )
        raise ConnectionAbortedError("injected drop")

    def _log(self, request: Request, status: int | None, reason: str) -> None:
        if status is not None:
            self.stats.by_status[status] += 1
            if status >= 400:
                self.stats.rejected += 1
        method, path = request.method, request.url.path
        # Only non-secret parts of the Authorization header are kept: realm and method.
        try:
            auth = dict(parse_authorization_header(request.headers.get("authorization", "")))
        except ValueError:
            auth = {}
        self.stats.recent.append(
            {
                "method": method,
                "path": path,
                "query": request.url.query,
                "status": status,
                "reason": reason,
                "realm": auth.get("realm"),
                "signature_method": auth.get("oauth_signature_method"),
                "at": _now_iso(),
            }
        )
        log.info("%s %s -> %s (%s)", method, path, status or "dropped", reason)

    # -- control API (no auth) --

    async def health(self, request: Request) -> Response:
        """``GET /_fake/health``: up, account id, estimate count, pending injections."""
        return JSONResponse(
            {
                "status": "ok",
                "account_id": self.credentials.account_id,
                "estimates": self.store.count(),
                "pending_injections": [i.as_dict() for i in self.injections],
            }
        )

    async def inject(self, request: Request) -> Response:
        """``POST /_fake/inject`` {mode: status|slow|drop, status, count, delay, skip,
        api: record (default)|suiteql|any}."""
        try:
            spec = await request.json()
            injection = _parse_injection(spec)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        self.injections.append(injection)
        return JSONResponse({"pending_injections": [i.as_dict() for i in self.injections]})

    async def reset(self, request: Request) -> Response:
        """``POST /_fake/reset`` [{estimates: true}]: clear injections and counters."""
        raw = await request.body()
        try:
            spec = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        self.injections.clear()
        self.stats.reset()
        cleared = bool(isinstance(spec, dict) and spec.get("estimates"))
        if cleared:
            self.store.clear_estimates()
        return JSONResponse({"reset": True, "estimates_cleared": cleared})

    async def estimates(self, request: Request) -> Response:
        """``GET /_fake/estimates``: every stored estimate with the last body received."""
        return JSONResponse({"estimates": self.store.all()})

    async def requests(self, request: Request) -> Response:
        """``GET /_fake/requests``: counts by method and status, rejections, recent log."""
        return JSONResponse(self.stats.as_dict())

    async def suiteql_rows(self, request: Request) -> Response:
        """``GET /_fake/suiteql/{table}``: every record of a SuiteQL table."""
        table = request.path_params["table"]
        if table not in TABLES:
            return JSONResponse({"error": f"unknown table {table!r}"}, status_code=404)
        return JSONResponse({"rows": self.suiteql.rows(table)})

    async def suiteql_upsert(self, request: Request) -> Response:
        """``POST /_fake/suiteql/{table}`` {rows: [{id, field: value}], modified?}: create or
        change records (fields merged by id), stamping their last-modified time."""
        try:
            spec = await request.json()
            if not isinstance(spec, dict) or not isinstance(spec.get("rows"), list):
                raise ValueError('body must be {"rows": [...]}')
            n = self.suiteql.upsert(
                request.path_params["table"], spec["rows"], modified=spec.get("modified")
            )
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"upserted": n})

    async def suiteql_delete(self, request: Request) -> Response:
        """``POST /_fake/suiteql/{table}/delete`` {ids: [...]}: delete records."""
        try:
            spec = await request.json()
            ids = [int(i) for i in spec["ids"]]
            n = self.suiteql.delete(request.path_params["table"], ids)
        except (ValueError, TypeError, KeyError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"deleted": n})

    async def suiteql_settings(self, request: Request) -> Response:
        """``POST /_fake/suiteql/settings`` {row_cap}: rows reachable per query (tests lower it)."""
        try:
            spec = await request.json()
            cap = int(spec.get("row_cap", ROW_CAP))
            if cap < 1:
                raise ValueError("row_cap must be >= 1")
        except (ValueError, TypeError, AttributeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        self.suiteql.row_cap = cap
        return JSONResponse({"row_cap": cap})

    async def get_records(self, request: Request) -> Response:
        """``GET /_fake/records``: the known customer and item internal ids."""
        return JSONResponse(self.store.records())

    async def put_records(self, request: Request) -> Response:
        """``PUT /_fake/records`` {customers, items}: replace the known internal ids."""
        try:
            customers, items = _parse_records(await request.json())
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        self.store.set_records(customers, items)
        return JSONResponse(self.store.records())


def _created(base: str, internal_id: int) -> Response:
    return Response(status_code=204, headers={"Location": f"{base}{ESTIMATE_PATH}/{internal_id}"})


def _parse_records(data: object) -> tuple[list[str], list[str]]:
    if not isinstance(data, dict):
        raise ValueError('records must be {"customers": [...], "items": [...]}')
    out: list[list[str]] = []
    for key in ("customers", "items"):
        values = data.get(key, [])
        if not isinstance(values, list) or not all(isinstance(v, str | int) for v in values):
            raise ValueError(f"{key} must be a list of internal ids")
        out.append([str(v) for v in values])
    return out[0], out[1]


def _parse_injection(spec: object) -> Injection:
    if not isinstance(spec, dict):
        raise ValueError("injection must be a JSON object")
    mode = spec.get("mode")
    count = spec.get("count", 1)
    if mode not in ("status", "slow", "drop"):
        raise ValueError("mode must be 'status', 'slow' or 'drop'")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError("count must be a positive integer")
    status = spec.get("status")
    if mode == "status" and (not isinstance(status, int) or not 400 <= status <= 599):
        raise ValueError("status mode needs an HTTP status 400..599")
    skip = spec.get("skip", 0)
    if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
        raise ValueError("skip must be a non-negative integer")
    api = spec.get("api", "record")
    if api not in ("record", "suiteql", "any"):
        raise ValueError("api must be 'record', 'suiteql' or 'any'")
    delay = spec.get("delay", 0)
    if not _is_number(delay) or delay < 0 or delay > 600:
        raise ValueError("delay must be a number of seconds in 0..600")
    if mode == "slow" and delay <= 0:
        raise ValueError("slow mode needs delay > 0")
    return Injection(mode=mode, count=count, status=status, delay=float(delay), skip=skip, api=api)


# -- running it ------------------------------------------------------------------------------


def serve(
    *,
    host: str,
    port: int,
    data_dir: Path,
    credentials: FakeCredentials,
    records: dict[str, list[str]] | None = None,
    suiteql_records: dict[str, list[dict[str, Any]]] | None = None,
    suiteql_modified: str | None = None,
) -> None:
    """Run the fake server in this process until SIGINT/SIGTERM. ``suiteql_records`` seed
    the SuiteQL store when it is empty (a restart keeps the changes made since)."""
    if host not in LOOPBACK_HOSTS:
        raise SystemExit(f"refusing to bind {host!r}: the fake NetSuite binds loopback only")
    app = FakeNetSuite(data_dir=data_dir, credentials=credentials, records=records)
    if suiteql_records and app.suiteql.is_empty():
        for table, rows in suiteql_records.items():
            app.suiteql.upsert(table, rows, modified=suiteql_modified)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=DroppableH11Protocol,
        lifespan="off",
        proxy_headers=False,
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=3,
    )
    try:
        uvicorn.Server(config).run()
    finally:
        app.store.close()
        app.suiteql.close()
