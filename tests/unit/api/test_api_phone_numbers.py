"""Phone numbers as Korean spreadsheets write them, read as E.164 (api/phone_numbers.py)."""

from __future__ import annotations

import pytest

from api.phone_numbers import search_fragments, to_e164


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


@pytest.mark.parametrize(
    ("typed", "fragments"),
    [
        ("010-2468-1357", {"01024681357", "821024681357"}),  # as she says it, and as it is stored
        ("1357", {"1357"}),
        ("+82 10 2468", {"82102468"}),
        ("0082-10-2468", {"0082102468", "82102468"}),
        ("001", {"001"}),  # "00" is the international prefix: not "+821…", and "1" is too short
        ("김순자", set()),
        ("12", set()),  # two digits would match nearly every number
    ],
)
def test_what_a_phone_search_looks_for(typed: str, fragments: set[str]) -> None:
    assert search_fragments(typed) == fragments
