"""The self-harm protocol's catalogue texts (planned protocol, docs/calls.md): present in both
languages, filled by the crisis line number, and written to safe-messaging rules."""

from __future__ import annotations

import re

import pytest

from core.enums import Language
from notifier.script import CATALOGUE

RESIDENT = [
    "call.self_harm.acknowledge",
    "call.self_harm.line",
    "call.self_harm.closing",
    "reply.resident_self_harm",
]
STAFF = [
    "call.self_harm.responder_whisper",
    "call.self_harm.responder_alert",
    "sms.caseworker.self_harm",
    "call.case_explanation.self_harm",
]
FAMILY = ["sms.family.self_harm"]
# Never repeat a method back, not even to staff (safe-messaging guidance: 보건복지부·한국생명존중희망재단).
METHODS = re.compile(
    r"수면제|농약|번개탄|목을|밧줄|뛰어|투신|손목|pill|tablet|rope|hang|jump|overdose|wrist|poison", re.I
)


@pytest.mark.parametrize("language", [Language.KO, Language.EN])
@pytest.mark.parametrize("key", RESIDENT + STAFF + FAMILY)
def test_every_text_exists_fills_in_and_names_no_method(language: Language, key: str) -> None:
    text = CATALOGUE.text(key, language, line="109", code="H-0001", ack_code="4821")
    assert "{" not in text
    assert not METHODS.search(text), text


@pytest.mark.parametrize("language", [Language.KO, Language.EN])
def test_the_resident_hears_the_line_and_that_a_person_is_coming(language: Language) -> None:
    line = CATALOGUE.text("call.self_harm.line", language, line="109")
    assert line.count("109") == 2  # said twice: an older listener may miss it once
    acknowledge = CATALOGUE.text("call.self_harm.acknowledge", language)
    assert ("연결" in acknowledge) if language == Language.KO else ("connecting you" in acknowledge)
    for key in ("call.self_harm.closing", "reply.resident_self_harm"):
        assert "109" in CATALOGUE.text(key, language, line="109")


@pytest.mark.parametrize("language", [Language.KO, Language.EN])
def test_the_family_is_asked_to_call_without_being_told_what_was_said(language: Language) -> None:
    text = CATALOGUE.text("sms.family.self_harm", language, code="H-0001", ack_code="4821")
    assert "자살" not in text and "suicid" not in text.lower()
    assert "H-0001" in text and "1 4821" in text  # the code proves the reply (notifier.ack_codes)
