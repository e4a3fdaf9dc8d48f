"""Pure rules of notifier.ack_codes: which texts and key presses carry a code, and what a
STIR/SHAKEN verdict vouches for."""

from __future__ import annotations

import pytest

from notifier.ack_codes import caller_attested, caller_id_failed, parse_ack, parse_keyed_code


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("1 4821", "4821"),
        ("1-4821", "4821"),
        ("14821", "4821"),
        ("확인 4821", "4821"),
        (" OK 4821! ", "4821"),
        ("4821", "4821"),
        ("0000", "0000"),
        ("1111", "1111"),
        ("1 ４８２１", "4821"),  # full-width digits, as some keyboards type them
    ],
)
def test_an_acknowledgement_with_its_code(body: str, code: str) -> None:
    parsed = parse_ack(body)
    assert parsed is not None and parsed.code == code


@pytest.mark.parametrize("body", ["1", "확인", "ok", " OK. "])
def test_an_acknowledgement_without_a_code(body: str) -> None:
    parsed = parse_ack(body)
    assert parsed is not None and parsed.code is None


@pytest.mark.parametrize("body", ["ok?", "1 482", "1 48211", "2 4821", "확인했어요", "status", "", "1 ٤٨٢١"])
def test_not_an_acknowledgement(body: str) -> None:
    assert parse_ack(body) is None


@pytest.mark.parametrize(
    ("digits", "code"),
    [
        ("4821", "4821"),
        ("4821#", "4821"),
        ("1", None),
        ("", None),
        ("48", None),
        ("*821", None),
        ("٤٨٢١", None),
    ],
)
def test_a_code_on_the_keypad(digits: str, code: str | None) -> None:
    assert parse_keyed_code(digits) == code


@pytest.mark.parametrize(
    ("verstat", "attested", "failed"),
    [
        ("TN-Validation-Passed-A", True, False),
        ("tn-validation-passed-a", True, False),
        ("TN-Validation-Passed-B", False, False),
        ("TN-Validation-Passed-C", False, False),
        ("No-TN-Validation", False, False),
        ("TN-Validation-Failed-A", False, True),
        ("TN-Validation-Failed", False, True),
        (None, False, False),
        ("", False, False),
    ],
)
def test_only_full_attestation_vouches_for_a_caller_id(
    verstat: str | None, attested: bool, failed: bool
) -> None:
    assert (caller_attested(verstat), caller_id_failed(verstat)) == (attested, failed)
