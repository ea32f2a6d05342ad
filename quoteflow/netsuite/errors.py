"""Typed errors of the NetSuite REST client.

NetSuite answers errors with a body like::

    {"type": "...", "title": "Bad Request", "status": 400,
     "o:errorDetails": [{"detail": "...", "o:errorCode": "INVALID_CONTENT",
                         "o:errorPath": "item.items[1].item.id"}]}

The class tells the caller what to do: ``NetSuiteRetryableError`` may succeed if sent
again (with fresh OAuth nonce/timestamp), ``NetSuiteRejectedError`` never will.
"""

from __future__ import annotations

import json
from typing import Any

_MAX_DETAIL_CHARS = 300


def _one_line(text: str | None) -> str | None:
    if text is None:
        return None
    flat = " ".join(text.split())
    if len(flat) > _MAX_DETAIL_CHARS:
        flat = flat[: _MAX_DETAIL_CHARS - 1] + "…"
    return flat


class NetSuiteError(Exception):
    """A NetSuite request that did not do what was asked.

    ``status`` is the HTTP status (None when no response arrived), ``code`` the first
    ``o:errorCode``, ``detail`` its text, ``error_path`` the ``o:errorPath`` of the bad field.
    """

    default_retryable = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        error_path: str | None = None,
        method: str | None = None,
        path: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.detail = _one_line(detail)
        self.error_path = error_path
        self.method = method
        self.path = path
        self.retryable = self.default_retryable if retryable is None else retryable
        super().__init__(self._message())

    def _message(self) -> str:
        parts = ["NetSuite"]
        if self.method and self.path:
            parts.append(f"{self.method} {self.path}")
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(self.code)
        message = " ".join(parts)
        if self.detail:
            message += f": {self.detail}"
        if self.error_path:
            message += f" (at {self.error_path})"
        return message

    def __str__(self) -> str:
        return self._message()

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only attributes survive pickling (Prefect persists failed task states).
        return (_rebuild, (type(self), dict(self.__dict__)))


def _rebuild(cls: type[NetSuiteError], state: dict[str, Any]) -> NetSuiteError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, err._message())
    return err


class NetSuiteRetryableError(NetSuiteError):
    """429, 5xx, timeouts and dropped connections: sending the request again may succeed.

    ``retry_after`` is the server's ``Retry-After`` in seconds when it sent one.
    """

    default_retryable = True

    def __init__(self, detail: str | None = None, *, retry_after: float | None = None, **kw: Any):
        self.retry_after = retry_after
        super().__init__(detail, **kw)


class NetSuiteRejectedError(NetSuiteError):
    """A 4xx that will fail the same way every time (e.g. 400 INVALID_CONTENT)."""


class NetSuiteAuthError(NetSuiteRejectedError):
    """401 INVALID_LOGIN: credentials, signature, realm, timestamp or nonce were refused."""


def parse_error_body(text: str) -> tuple[str | None, str | None, str | None]:
    """``(code, detail, error_path)`` of a NetSuite error body; the raw text as detail if not JSON."""
    try:
        payload = json.loads(text) if text else None
    except ValueError:
        return None, text or None, None
    if not isinstance(payload, dict):
        return None, text or None, None
    details = payload.get("o:errorDetails")
    if isinstance(details, list) and details and isinstance(details[0], dict):
        first = details[0]
        return (
            _str_or_none(first.get("o:errorCode")),
            _str_or_none(first.get("detail")) or _str_or_none(payload.get("title")),
            _str_or_none(first.get("o:errorPath")),
        )
    return None, _str_or_none(payload.get("title")) or text, None


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def error_for_response(
    status: int,
    text: str,
    *,
    method: str | None = None,
    path: str | None = None,
    retry_after: str | None = None,
) -> NetSuiteError:
    """The typed error for a non-success HTTP answer."""
    code, detail, error_path = parse_error_body(text)
    kw: dict[str, Any] = {
        "status": status,
        "code": code,
        "error_path": error_path,
        "method": method,
        "path": path,
    }
    if status in (408, 429) or status >= 500:
        return NetSuiteRetryableError(detail, retry_after=_seconds(retry_after), **kw)
    if status == 401 or code == "INVALID_LOGIN":
        return NetSuiteAuthError(detail, **kw)
    if 400 <= status < 500:
        return NetSuiteRejectedError(detail, **kw)
    return NetSuiteError(detail or "unexpected response", **kw)


def _seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date; callers fall back to their own backoff
