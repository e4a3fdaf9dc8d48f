"""Family status tokens: round trip, expiry, forgery and key separation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.security import InvalidToken, decode_access_token
from api.status_links import InvalidStatusLink, make_status_token, read_status_token

SECRET = "status-secret-0123456789abcdef"
NOW = datetime(2026, 3, 2, tzinfo=UTC)


def _token(**overrides: object) -> str:
    values: dict[str, object] = {
        "household_id": 7,
        "contact_id": 3,
        "expires_at": NOW + timedelta(days=7),
        "secret_key": SECRET,
    }
    values.update(overrides)
    return make_status_token(**values)  # type: ignore[arg-type]


def test_round_trip_until_expiry() -> None:
    token = _token()
    claims = read_status_token(token, secret_key=SECRET, now=NOW + timedelta(days=6, hours=23))
    assert (claims.household_id, claims.contact_id) == (7, 3)
    assert claims.expires_at == NOW + timedelta(days=7)
    with pytest.raises(InvalidStatusLink):
        read_status_token(token, secret_key=SECRET, now=NOW + timedelta(days=7))


def test_other_secret_or_edited_claims_are_refused() -> None:
    token = _token()
    with pytest.raises(InvalidStatusLink):
        read_status_token(token, secret_key="another-secret-0123456789abcdef", now=NOW)
    forged = token.replace("s1.7.", "s1.8.", 1)  # another household, same signature
    with pytest.raises(InvalidStatusLink):
        read_status_token(forged, secret_key=SECRET, now=NOW)


def test_a_status_token_is_not_an_access_token() -> None:
    with pytest.raises(InvalidToken):
        decode_access_token(_token(), secret_key=SECRET, now=NOW)


@given(st.text(max_size=300))
def test_garbage_is_refused_cleanly(text: str) -> None:
    with pytest.raises(InvalidStatusLink):
        read_status_token(text, secret_key=SECRET, now=NOW)
