"""Password hashing and access tokens (pure: no database, no wall clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from api.security import (
    InvalidToken,
    create_access_token,
    decode_access_token,
    hash_password,
    signing_key,
    verify_password,
)
from core.enums import Role

SECRET = "unit-test-secret-0123456789abcdef"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_hash_is_argon2id_salted_and_verifies() -> None:
    first = hash_password("correct horse")
    second = hash_password("correct horse")
    assert first.startswith("$argon2id$")
    assert first != second  # salted
    assert verify_password("correct horse", first)
    assert not verify_password("correct horsE", first)


@pytest.mark.parametrize("bad_hash", ["", "!unusable", "$argon2id$garbage", "plain-text-password"])
def test_malformed_hash_never_verifies(bad_hash: str) -> None:
    assert verify_password("plain-text-password", bad_hash) is False


def test_well_formed_token_signed_with_the_derived_key_is_accepted() -> None:
    # Guards the parametrised refusals below: they fail for their stated reason, not the key.
    claims = decode_access_token(
        _encode({"sub": "1", "role": "admin", "ver": 0, "exp": EXP}), secret_key=SECRET, now=NOW
    )
    assert (claims.user_id, claims.token_version) == (1, 0)


def test_raw_secret_is_not_the_signing_key() -> None:
    raw = jwt.encode({"sub": "1", "role": "admin", "exp": EXP}, SECRET, algorithm="HS256")
    with pytest.raises(InvalidToken):
        decode_access_token(raw, secret_key=SECRET, now=NOW)


def test_token_round_trip() -> None:
    token = create_access_token(
        user_id=7, role=Role.CASEWORKER, secret_key=SECRET, lifetime_minutes=60, now=NOW, token_version=3
    )
    assert token.expires_in == 3600
    claims = decode_access_token(token.token, secret_key=SECRET, now=NOW + timedelta(minutes=59))
    assert (claims.user_id, claims.role, claims.token_version) == (7, Role.CASEWORKER, 3)
    assert claims.expires_at == NOW + timedelta(hours=1)


def test_token_expires_exactly_at_exp_by_the_given_clock() -> None:
    token = create_access_token(
        user_id=1, role=Role.ADMIN, secret_key=SECRET, lifetime_minutes=5, now=NOW
    ).token
    decode_access_token(token, secret_key=SECRET, now=NOW + timedelta(minutes=5) - timedelta(seconds=1))
    with pytest.raises(InvalidToken, match="expired"):
        decode_access_token(token, secret_key=SECRET, now=NOW + timedelta(minutes=5))


def test_token_from_the_past_is_still_valid_when_the_clock_says_so() -> None:
    # pyjwt alone would compare with the wall clock; a 2020 token must work at a 2020 "now".
    then = datetime(2020, 1, 1, tzinfo=UTC)
    token = create_access_token(
        user_id=1, role=Role.ADMIN, secret_key=SECRET, lifetime_minutes=5, now=then
    ).token
    assert decode_access_token(token, secret_key=SECRET, now=then).user_id == 1


def _encode(claims: dict[str, object], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, signing_key(secret), algorithm=algorithm)


EXP = int((NOW + timedelta(hours=1)).timestamp())


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            _encode({"sub": "1", "role": "admin", "exp": EXP}, secret="wrong-secret-0123456789abcdef"),
            id="wrong key",
        ),
        pytest.param(_encode({"sub": "1", "role": "admin", "exp": EXP}, algorithm="HS512"), id="other alg"),
        pytest.param(
            jwt.encode({"sub": "1", "role": "admin", "exp": EXP}, None, algorithm="none"), id="alg none"
        ),
        pytest.param(_encode({"role": "admin", "ver": 0, "exp": EXP}), id="no sub"),
        pytest.param(_encode({"sub": "1", "ver": 0, "exp": EXP}), id="no role"),
        pytest.param(_encode({"sub": "1", "role": "admin", "ver": 0}), id="no exp"),
        pytest.param(_encode({"sub": "1", "role": "admin", "exp": EXP}), id="no token version"),
        pytest.param(
            _encode({"sub": "1", "role": "admin", "ver": "0", "exp": EXP}), id="version not a number"
        ),
        pytest.param(_encode({"sub": "abc", "role": "admin", "ver": 0, "exp": EXP}), id="sub not an id"),
        pytest.param(_encode({"sub": "1", "role": "root", "ver": 0, "exp": EXP}), id="unknown role"),
        pytest.param("a.b.c", id="garbage"),
    ],
)
def test_invalid_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        decode_access_token(token, secret_key=SECRET, now=NOW)
