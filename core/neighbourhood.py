"""The neighbourhood (동, or 읍/면 outside cities) of a Korean address, for the district overview.

Stored on the household (``Household.dong``) whenever its address is written, so the overview
groups thousands of households with one GROUP BY instead of parsing addresses per request.
Both address styles name it: the road-name style in brackets after the building number
("서울특별시 강남구 테헤란로 152 (역삼동, 강남파이낸스센터)") and the lot-number style as a word of
its own ("서울특별시 강남구 역삼동 737"). Addresses run from the largest area to the smallest, so
the first match is the neighbourhood, not a building's wing ("래미안 101동") further on.
"""

from __future__ import annotations

import re

# A Hangul word ending in 동/읍/면/가, digits allowed only just before the ending (역삼1동,
# 종로2가). A word of digits and 동 alone ("101동") is a building, not a neighbourhood.
_NEIGHBOURHOOD = re.compile(r"^[가-힣]+[0-9]*[가-힣]*(동|읍|면|가)$")
_SEPARATORS = re.compile(r"[\s,()\[\]]+")
MAX_LENGTH = 40


def neighbourhood(address: str) -> str:
    """The 동 (읍, 면, or …가) the address lies in; "" when none is named."""
    bracketed = re.findall(r"\(([^)]*)\)", address)
    for part in [*bracketed, address]:  # the road-name style's bracket is the surest place
        for word in _SEPARATORS.split(part):
            if not _NEIGHBOURHOOD.match(word):
                continue
            if word.endswith("가") and not re.search(r"[0-9]가$", word):
                continue  # "…가" is an area only with its number (종로2가), not any word ending so
            return word[:MAX_LENGTH]
    return ""
