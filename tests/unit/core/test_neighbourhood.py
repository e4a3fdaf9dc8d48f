"""The 동 named in a Korean address (core/neighbourhood.py), which the district overview groups by."""

from __future__ import annotations

import pytest

from core.neighbourhood import neighbourhood


@pytest.mark.parametrize(
    ("address", "dong"),
    [
        ("서울특별시 강남구 테헤란로 152 (역삼동, 강남파이낸스센터)", "역삼동"),  # road-name style
        ("서울특별시 강남구 역삼동 737", "역삼동"),  # lot-number style
        ("서울특별시 강남구 역삼1동 12-3 래미안 101동 1203호", "역삼1동"),  # not the building's wing
        ("서울특별시 강남구 테헤란로 152, 101동 1203호 (역삼동)", "역삼동"),  # the bracket wins
        ("서울특별시 종로구 종로2가 9", "종로2가"),
        ("경기도 양평군 양평읍 양근리 1", "양평읍"),
        ("전라남도 신안군 증도면 2", "증도면"),
        ("부산광역시 해운대구 우동 1", "우동"),
        ("서울특별시 강남구 가상로 10길 23 (가상 주소)", ""),  # none named
        ("서울특별시 강남구 강남대로 10 101동", ""),  # a building's wing alone is no neighbourhood
        ("Flat 2, 10 Downing Street", ""),
        ("", ""),
    ],
)
def test_the_neighbourhood_of_an_address(address: str, dong: str) -> None:
    assert neighbourhood(address) == dong
