"""Plain-text payloads, one number or one word (gateway/adapters/plain.py; Shelly Gen1, ESPHome).

Reasons are compared whole and the word comes back in lower case (docs/testing.md, mutation testing).
"""

from __future__ import annotations

import pytest

from gateway.adapters.plain import plain_number, relay_word
from gateway.observation import DecodeError


def _reason(parse: object, *args: object) -> str:
    with pytest.raises(DecodeError) as excinfo:
        parse(*args)  # type: ignore[operator]
    return excinfo.value.reason


@pytest.mark.parametrize(
    ("payload", "value"), [(b" 42.57\n", 42.57), (b"-3", -3.0), (b"1.5e3", 1500.0), (b"0", 0.0)]
)
def test_a_plain_number_is_decimal_text(payload: bytes, value: float) -> None:
    assert plain_number(payload, "power") == value


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"nan", "power must be a plain number, got 'nan'"),
        (b" 0x10 ", "power must be a plain number, got '0x10'"),
        (b"", "power must be a plain number, got ''"),
        (b"\xff", "payload is not valid UTF-8"),
    ],
)
def test_anything_else_is_refused_with_the_text_it_got(payload: bytes, reason: str) -> None:
    assert _reason(plain_number, payload, "power") == reason


def test_a_relay_word_comes_back_in_lower_case_whatever_case_it_was_sent_in() -> None:
    assert relay_word(b" ON\n", ("on", "off")) == "on"
    assert relay_word(b"Overpower", ("on", "off", "overpower")) == "overpower"


def test_an_unknown_relay_word_is_refused_naming_every_allowed_word() -> None:
    assert _reason(relay_word, b" Maybe ", ("on", "off", "overpower")) == (
        "relay state must be one of on, off, overpower, got 'Maybe'"
    )
