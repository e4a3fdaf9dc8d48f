"""Status-link tokens: random, opaque, and only their hash is ever kept."""

from __future__ import annotations

import base64
import hashlib

from api.status_links import TOKEN_BYTES, new_token, token_hash


def test_a_token_is_32_random_bytes_and_its_hash_is_sha256() -> None:
    token, digest = new_token()
    assert TOKEN_BYTES >= 32
    assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) == TOKEN_BYTES
    assert digest == hashlib.sha256(token.encode()).hexdigest() == token_hash(token)
    assert token not in digest


def test_tokens_carry_nothing_and_never_repeat() -> None:
    tokens = {new_token()[0] for _ in range(1000)}
    assert len(tokens) == 1000
    assert all("." not in t and len(t) == 43 for t in tokens)  # no ids, no expiry, no signature
