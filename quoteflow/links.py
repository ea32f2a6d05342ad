"""Signed approval links: one per waiting action, bound to the action, the payload hash
the message showed, and an expiry.

The token is signed with itsdangerous under a key kept in a Prefect Secret block; it is
not encrypted (it names an action id and a hash, nothing secret). Single use follows from
the action itself: once decided, every link to it answers "already decided" (410).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

_SALT = "quoteflow.action-link.v1"
LINK_PATH = "/a/"


class LinkError(Exception):
    """A link that cannot be used; ``status_code`` is the HTTP answer the page gives."""

    status_code = 400


class LinkInvalid(LinkError):
    """Tampered, truncated, or signed with another key."""

    status_code = 403


class LinkExpired(LinkError):
    """Past the expiry it was signed with."""

    status_code = 410


@dataclass(frozen=True)
class LinkClaims:
    """What a link stands for."""

    action_id: int
    payload_hash: str
    expires_at: datetime


def _serializer(key: str) -> URLSafeSerializer:
    if len(key) < 16:
        raise ValueError("the link signing key must be at least 16 characters")
    return URLSafeSerializer(key, salt=_SALT)


def sign_link(key: str, claims: LinkClaims) -> str:
    """The URL-safe token for ``claims``."""
    return str(
        _serializer(key).dumps(
            {
                "a": claims.action_id,
                "h": claims.payload_hash,
                "e": int(claims.expires_at.timestamp()),
            }
        )
    )


def read_link(key: str, token: str, *, now: datetime | None = None) -> LinkClaims:
    """The claims of a genuine, unexpired token; LinkInvalid or LinkExpired otherwise."""
    try:
        data = _serializer(key).loads(token)
        claims = LinkClaims(
            action_id=int(data["a"]),
            payload_hash=str(data["h"]),
            expires_at=datetime.fromtimestamp(int(data["e"]), tz=UTC),
        )
    except (BadSignature, KeyError, TypeError, ValueError) as exc:
        raise LinkInvalid("this link is not valid (altered, or not issued by quoteflow)") from exc
    if claims.expires_at <= (now or datetime.now(UTC)):
        from quoteflow.presentation import format_when

        raise LinkExpired(f"This link expired on {format_when(claims.expires_at)}.")
    return claims


def link_url(base_url: str, token: str) -> str:
    """The absolute address Mike opens."""
    return f"{base_url.rstrip('/')}{LINK_PATH}{token}"


def loopback_link_warning(public_base_url: str, mail_host: str | None) -> str | None:
    """Why links in notices would not open where Mike reads his mail: the page's public
    address is a loopback one while mail leaves the machine. None when they agree."""
    from urllib.parse import urlsplit

    def loopback(host: str | None) -> bool:
        import ipaddress

        if not host or host.lower() == "localhost":
            return True
        try:
            return ipaddress.ip_address(host.strip("[]")).is_loopback
        except ValueError:
            return False

    page_host = urlsplit(public_base_url).hostname
    if not loopback(page_host) or loopback(mail_host):
        return None
    return (
        f"Links in Mike's notices point at {public_base_url}, an address only this machine "
        f"can open, while mail goes out through {mail_host}: set QUOTEFLOW_PUBLIC_BASE_URL "
        "to the address Mike reaches the page at."
    )


# ---------------------------------------------------------------- the key and the link of an action


def signing_key() -> str:
    """The key links are signed with, from its Prefect Secret block (never from code)."""
    from quoteflow import prefect_api
    from quoteflow.settings import get_settings

    return prefect_api.gateway().read_secret(get_settings().link_key_block)


async def asigning_key() -> str:
    """``signing_key`` for async code (the page's handlers and middleware)."""
    import anyio

    return await anyio.to_thread.run_sync(signing_key)


def action_link(action_id: int, key: str | None = None) -> str:
    """A signed link to the action as it is now: its canonical payload hash and expiry
    (actions without one get the configured link lifetime)."""
    from quoteflow.approvals import get_action
    from quoteflow.models import utcnow
    from quoteflow.quote import payload_hash
    from quoteflow.settings import get_settings

    settings = get_settings()
    action = get_action(action_id)
    expires = action.expires_at or utcnow() + timedelta(hours=settings.link_ttl_hours)
    claims = LinkClaims(action.id, payload_hash(action.payload), expires)
    return link_url(settings.public_base_url, sign_link(key or signing_key(), claims))
