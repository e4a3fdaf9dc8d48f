"""Family status links: ``/status/<token>``, signed with ``settings.secret_key``, expiring.

A token names one household and one contact and carries its expiry; it is an HMAC-SHA256
over those with a key derived for this purpose only (so it can never pass as an access token
or anything else the secret signs). The contact is re-checked when the link is opened, so
deleting the contact (or their opting out) revokes every link they hold.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

_KEY_PURPOSE = b"anbu/status-link/v1"
_VERSION = "s1"
MAX_TOKEN_LENGTH = 200


class InvalidStatusLink(Exception):
    """Malformed, forged or expired; the page says only "this link does not work"."""


@dataclass(frozen=True)
class StatusClaims:
    household_id: int
    contact_id: int
    expires_at: datetime


def _key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode("utf-8"), _KEY_PURPOSE, hashlib.sha256).digest()


def _signature(payload: str, secret_key: str) -> str:
    digest = hmac.new(_key(secret_key), payload.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def make_status_token(*, household_id: int, contact_id: int, expires_at: datetime, secret_key: str) -> str:
    payload = f"{_VERSION}.{household_id}.{contact_id}.{int(expires_at.timestamp())}"
    return f"{payload}.{_signature(payload, secret_key)}"


def read_status_token(token: str, *, secret_key: str, now: datetime) -> StatusClaims:
    """The claims of a genuine, unexpired token. Raises :class:`InvalidStatusLink`."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidStatusLink("token too long")
    parts = token.split(".")
    if len(parts) != 5 or parts[0] != _VERSION:
        raise InvalidStatusLink("not a status token")
    payload, signature = ".".join(parts[:4]), parts[4]
    if not hmac.compare_digest(signature, _signature(payload, secret_key)):
        raise InvalidStatusLink("bad signature")
    try:
        household_id, contact_id, exp = int(parts[1]), int(parts[2]), int(parts[3])
    except ValueError:
        raise InvalidStatusLink("bad claims") from None
    if now.timestamp() >= exp:
        raise InvalidStatusLink("expired")
    return StatusClaims(household_id, contact_id, datetime.fromtimestamp(exp, tz=UTC))
