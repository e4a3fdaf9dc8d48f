"""The self-harm protocol's catalogue texts and TwiML (docs/calls.md, "Self-harm protocol"):
present in both languages, filled by the crisis line number, written to safe-messaging rules;
its texts go to the right people, and no sending limit holds them back."""

from __future__ import annotations

import re

import pytest

from core.enums import Channel, Language, RecipientKind
from notifier.crisis import crisis_line
from notifier.queueing import limit_applies
from notifier.recipients import Recipient
from notifier.script import CATALOGUE, self_harm_twiml
from notifier.templates import SURVIVES_ACKNOWLEDGEMENT, Purpose, template_for

RESIDENT = [
    "call.self_harm.connecting",
    "call.self_harm.not_connected",
    "call.self_harm.connecting_again",
    "call.self_harm.line",
    "call.self_harm.closing",
    "reply.resident_self_harm",
]
STAFF = [
    "call.self_harm.responder_alert",
    "call.self_harm.control_room_alert",
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
    text = CATALOGUE.text(key, language, line="109", code="H-0001", ack_code="4821", status="")
    assert "{" not in text
    assert not METHODS.search(text), text


@pytest.mark.parametrize("language", [Language.KO, Language.EN])
def test_the_resident_hears_the_line_and_that_they_are_being_connected_now(language: Language) -> None:
    line = CATALOGUE.text("call.self_harm.line", language, line="109")
    assert line.count("109") == 2  # said twice: an older listener may miss it once
    connecting = CATALOGUE.text("call.self_harm.connecting", language, line="109")
    assert "109" in connecting
    assert (
        ("연결해 드리겠습니다" in connecting)
        if language == Language.KO
        else ("connecting you now" in connecting)
    )
    for key in ("call.self_harm.closing", "reply.resident_self_harm"):
        assert "109" in CATALOGUE.text(key, language, line="109")
        assert "119" in CATALOGUE.text(key, language, line="109")


@pytest.mark.parametrize("language", [Language.KO, Language.EN])
def test_the_family_is_asked_to_call_without_being_told_what_was_said(language: Language) -> None:
    text = CATALOGUE.text("sms.family.self_harm", language, code="H-0001", ack_code="4821", status="")
    assert "자살" not in text and "suicid" not in text.lower()
    assert "H-0001" in text and "1 4821" in text  # the code proves the reply (notifier.ack_codes)


@pytest.mark.parametrize("language", [Language.KO, Language.EN])
def test_the_call_answers_calmly_and_puts_them_through_to_the_line(language: Language) -> None:
    twiml = self_harm_twiml(language, code="abc", base_url="https://care.example.org")
    assert crisis_line(language) == "109"
    assert CATALOGUE.text("call.self_harm.connecting", language, line="109") in twiml
    assert "<Pause" in twiml and "<Hangup" not in twiml  # it does not hang up on them
    dial = (
        '<Dial action="https://care.example.org/api/v1/twilio/voice/connect?code=abc&amp;n=1&amp;'
        f'lang={language.value}" method="POST" timeout="30">109</Dial></Response>'
    )
    assert twiml.rstrip().endswith(dial)
    for generic in ("call.closing.emergency", "call.closing.ok", "call.closing.unclear"):
        assert CATALOGUE.text(generic, language) not in twiml
    assert "좋은 하루" not in twiml and "good day" not in twiml.lower()
    assert not METHODS.search(twiml)


def test_a_self_harm_case_has_its_own_texts_that_survive_an_acknowledgement_and_any_limit() -> None:
    assert template_for("caseworker", Purpose.SELF_HARM) == "sms.caseworker.self_harm"
    assert template_for("family", Purpose.SELF_HARM) == "sms.family.self_harm"
    assert {"sms.caseworker.self_harm", "sms.family.self_harm"} <= SURVIVES_ACKNOWLEDGEMENT
    family = Recipient(RecipientKind.CONTACT, 1, "+821077700101", Language.KO, Channel.SMS)
    family_call = Recipient(RecipientKind.CONTACT, 1, "+821077700101", Language.KO, Channel.CALL)
    assert limit_applies(family, Purpose.LADDER)  # the ladder's texts are counted...
    assert not limit_applies(family, Purpose.SELF_HARM)  # ...these never held back
    assert not limit_applies(family_call, Purpose.SELF_HARM)


@pytest.mark.parametrize("language", [Language.KO, Language.EN])
def test_the_kind_a_family_member_may_hear_does_not_name_the_risk(language: Language) -> None:
    kind = CATALOGUE.text("notify.kind.self_harm_risk", language)
    assert "자살" not in kind and "suicid" not in kind.lower() and "harm" not in kind.lower()
