"""Every error code the API can give has a Korean and an English text in the dashboard's
catalogues, so no caseworker ever sees an untranslated English error."""

from __future__ import annotations

import re
from pathlib import Path

from api.errors import ErrorCode
from api.routes.dashboard import MESSAGES
from core.enums import Language

API = Path(__file__).resolve().parents[3] / "api"


def test_every_error_code_has_a_text_in_both_languages() -> None:
    ko, en = MESSAGES.keys(Language.KO), MESSAGES.keys(Language.EN)
    missing = [c.value for c in ErrorCode if f"error.{c.value}" not in ko or f"error.{c.value}" not in en]
    assert missing == []
    same = [
        c.value
        for c in ErrorCode
        if MESSAGES.text(f"error.{c.value}", Language.KO) == MESSAGES.text(f"error.{c.value}", Language.EN)
    ]
    assert same == []


def test_custom_validation_types_in_the_schemas_are_error_codes() -> None:
    # PydanticCustomError("<type>", …) in request models: the type is what the dashboard translates.
    source = "\n".join(p.read_text(encoding="utf-8") for p in API.rglob("*.py"))
    types = set(re.findall(r'PydanticCustomError\(\s*"([a-z_]+)"', source))
    assert types, "expected custom validation types in api/schemas.py"
    assert types <= {c.value for c in ErrorCode}, types - {c.value for c in ErrorCode}


def test_generic_status_texts_exist() -> None:
    keys = MESSAGES.keys(Language.KO)
    for status in (400, 401, 403, 404, 405, 409, 413, 422, 429, 500):
        assert f"error.http_{status}" in keys
