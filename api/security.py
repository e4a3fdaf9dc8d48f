"""Passwords (argon2id) and access tokens (JWT HS256, key derived from ``settings.secret_key``).

Token expiry is checked against the injected clock, not the wall clock, so tests and the
demo's fast-forward see the same time as everything else.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.enums import Role

ALGORITHM = "HS256"
TOKEN_TYPE = "bearer"
_TOKEN_KEY_PURPOSE = b"anbu/access-token/v1"

# argon2-cffi defaults are argon2id with RFC 9106 "low memory" parameters.
_HASHER = PasswordHasher()
# Verified against when the username is unknown, so a miss costs as much as a wrong password.
_DUMMY_HASH = _HASHER.hash("anbu-timing-equaliser")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """True when *password* matches; False on mismatch or a malformed/unusable hash."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def burn_verification(password: str) -> None:
    """Spend the time of one verification (unknown username: do not reveal it by speed)."""
    verify_password(password, _DUMMY_HASH)


class InvalidToken(Exception):
    """The bearer token is malformed, forged, of the wrong kind, or expired."""


def signing_key(secret_key: str) -> bytes:
    """The HS256 key for access tokens, derived from ``settings.secret_key``.

    Deriving gives a full-length 32-byte key whatever the secret's length, and keeps tokens
    apart from anything else the same secret signs (status links).
    """
    return hmac.new(secret_key.encode("utf-8"), _TOKEN_KEY_PURPOSE, hashlib.sha256).digest()


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int  # seconds


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    role: Role
    expires_at: datetime
    token_version: int  # must equal the user's current one (api.deps.get_current_user)


def create_access_token(
    *,
    user_id: int,
    role: Role,
    secret_key: str,
    lifetime_minutes: int,
    now: datetime,
    token_version: int = 0,
) -> AccessToken:
    lifetime = timedelta(minutes=lifetime_minutes)
    claims = {
        "sub": str(user_id),
        "role": role.value,
        "ver": token_version,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
    }
    token = jwt.encode(claims, signing_key(secret_key), algorithm=ALGORITHM)
    return AccessToken(token=token, expires_in=int(lifetime.total_seconds()))


def decode_access_token(token: str, *, secret_key: str, now: datetime) -> TokenClaims:
    """Verify signature and claims; expiry against *now*. Raises :class:`InvalidToken`."""
    try:
        # pyjwt would compare exp with the wall clock; we do it ourselves with *now*.
        claims = jwt.decode(
            token,
            signing_key(secret_key),
            algorithms=[ALGORITHM],
            options={"verify_exp": False, "verify_iat": False, "require": ["exp", "sub", "role", "ver"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"invalid token: {exc}") from exc
    try:
        exp = int(claims["exp"])
        user_id = int(claims["sub"])
        role = Role(claims["role"])
        version = claims["ver"]
        if not isinstance(version, int) or isinstance(version, bool):
            raise TypeError("ver must be an integer")
    except (TypeError, ValueError) as exc:
        raise InvalidToken("invalid token claims") from exc
    if now.timestamp() >= exp:
        raise InvalidToken("token expired")
    return TokenClaims(
        user_id=user_id, role=role, expires_at=datetime.fromtimestamp(exp, tz=UTC), token_version=version
    )
