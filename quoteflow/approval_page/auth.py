"""Login for the approval page when it is reachable beyond loopback.

One admin, one password. Its hash (scrypt, from the standard library) lives in the
environment (``QUOTEFLOW_PAGE_PASSWORD_HASH``) or in a Prefect Secret block; the session
is an itsdangerous-signed cookie; failed logins are limited per client address. Signed
action links need none of this: the link is the credential.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

SESSION_COOKIE = "qf_session"
_SESSION_SALT = "quoteflow.page-session.v1"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64): what QUOTEFLOW_PAGE_PASSWORD_HASH holds."""
    if len(password) < 10:
        raise ValueError("password: at least 10 characters")
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.urlsafe_b64encode
    return "$".join(
        [
            "scrypt",
            str(_SCRYPT["n"]),
            str(_SCRYPT["r"]),
            str(_SCRYPT["p"]),
            b64(salt).decode(),
            b64(digest).decode(),
        ]
    )


def verify_password(password: str, encoded: str) -> bool:
    """Does ``password`` match the stored hash? A malformed hash matches nothing."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.urlsafe_b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.urlsafe_b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def make_session(key: str, user: str) -> str:
    """The signed cookie value naming the logged-in user."""
    return TimestampSigner(key, salt=_SESSION_SALT).sign(user.encode()).decode()


def read_session(key: str, value: str | None, *, max_age_seconds: int) -> str | None:
    """The user of a genuine, unexpired session cookie; None otherwise."""
    if not value:
        return None
    try:
        signer = TimestampSigner(key, salt=_SESSION_SALT)
        return signer.unsign(value, max_age=max_age_seconds).decode()
    except (BadSignature, SignatureExpired, UnicodeDecodeError):
        return None


@dataclass
class LoginLimiter:
    """At most ``attempts`` failed logins per client within ``window_seconds``."""

    attempts: int = 5
    window_seconds: float = 15 * 60
    _failures: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures[client]
        while failures and failures[0] <= now - self.window_seconds:
            failures.popleft()
        return failures

    def retry_after(self, client: str, now: float | None = None) -> int:
        """Seconds until this client may try again (0: it may now)."""
        now = time.monotonic() if now is None else now
        failures = self._recent(client, now)
        if len(failures) < self.attempts:
            return 0
        return max(int(failures[0] + self.window_seconds - now) + 1, 1)

    def failed(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._recent(client, now).append(now)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)
