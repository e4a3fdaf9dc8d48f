"""Phone numbers as Korean spreadsheets write them, read as E.164 (api/phone_numbers.py)."""

from __future__ import annotations

import pytest

from api.phone_numbers import to_e164


@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("010-1234-5678", "+821012345678"),
        ("01098765432", "+821098765432"),
        ("010 1234 5678", "+821012345678"),
        ("+82 10 1234 5678", "+821012345678"),
        ("+82-10-1234-5678", "+821012345678"),
        ("+82 (0)10-1234-5678", "+821012345678"),  # the trunk 0 written after the country code
        ("0082-10-1234-5678", "+821012345678"),
        ("02-123-4567", "+8221234567"),  # a Seoul landline (a centre's number)
        ("０１０－１２３４－５６７８", "+821012345678"),  # full-width, as some IMEs type it
        ("+821012345678", "+821012345678"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_numbers_people_write_become_e164(written: str, e164: str) -> None:
    assert to_e164(written) == e164


@pytest.mark.parametrize(
    "written", ["12345", "010", "010-1234", "+82 10 1234", "1012345678", "+82+1012345678", "전화 없음", ""]
)
def test_what_is_not_a_number_stays_a_problem(written: str) -> None:
    assert to_e164(written) is None
