"""Phone numbers as people write them in Korea, read as E.164 (what Anbu stores and dials).

A CSV from a welfare centre's spreadsheet has "010-1234-5678", "01098765432", "+82 10 …",
"0082-10-…" or "+82 (0)10 …"; all of them are the same mobile, "+821012345678". A number that
still is not E.164 after this is a typo for a person to fix, never guessed further.
"""

from __future__ import annotations

import unicodedata

from api.users import PHONE_RE
from notifier.transports.base import normalise_phone

KOREA = "82"
# A Korean number without its trunk 0 has 8 (Seoul landline: 2-123-4567) to 10 digits (mobile:
# 10-1234-5678); a shorter one is a typo ("010-1234"), however valid E.164 it looks.
KOREAN_DIGITS = range(8, 11)


def to_e164(raw: str, *, country: str = KOREA) -> str | None:
    """The E.164 form of *raw*, or None when it cannot be one.

    Domestic numbers (a leading trunk "0") are taken as *country*'s; an international prefix
    "00" becomes "+"; the trunk "0" written after the country code ("+82 010 …") is dropped.
    """
    digits = normalise_phone(unicodedata.normalize("NFKC", raw))  # full-width digits, spaces, dashes
    if digits.count("+") > 1 or "+" in digits[1:]:
        return None
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif digits.startswith("0"):
        digits = "+" + country + digits[1:]
    if digits.startswith("+" + country + "0"):
        digits = "+" + country + digits[len(country) + 2 :]
    if not PHONE_RE.fullmatch(digits):
        return None
    if digits.startswith("+" + KOREA) and len(digits) - 1 - len(KOREA) not in KOREAN_DIGITS:
        return None
    return digits


# "1234" or "010-1234" finds a phone; one or two digits would find nearly every number.
MIN_SEARCH_DIGITS = 3


def search_fragments(text: str, *, country: str = KOREA) -> set[str]:
    """The digit strings a search for *text* looks for inside stored E.164 numbers: the digits as
    typed, and for a domestic start ("010-24…") the same after the country code ("821024…");
    "0082 10 …" also as "8210…". Nothing for fewer than MIN_SEARCH_DIGITS digits."""
    digits = "".join(ch for ch in unicodedata.normalize("NFKC", text) if ch.isdigit())
    if len(digits) < MIN_SEARCH_DIGITS:
        return set()
    forms = {digits}
    if digits.startswith("00"):
        forms.add(digits[2:])
    elif digits.startswith("0"):
        forms.add(country + digits[1:])
    return {form for form in forms if len(form) >= MIN_SEARCH_DIGITS}
