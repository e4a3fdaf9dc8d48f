"""Issue 19: a resident at risk is put through to the suicide-prevention line and never hung up
on (docs/calls.md, "Self-harm protocol"): what they hear after each <Dial>, the keypad fallback,
and the line taken from the settings. Before, the call said the line and hung up."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.enums import Language
from core.settings import Settings
from notifier import crisis
from notifier.calls import crisis_line
from notifier.script import CATALOGUE, MAX_CRISIS_DIALS, self_harm_twiml

BASE = "https://care.example.org"


def _after(params: dict[str, str], attempt: int = 1, language: Language = Language.KO) -> str:
    return crisis_line.answer(params, code="abc", base_url=BASE, attempt=attempt, language=language)


@pytest.fixture
def configured() -> Iterator[None]:
    yield
    crisis.configure(Settings(_env_file=None))  # back to the defaults for the other tests


@pytest.mark.parametrize("language", [Language.KO, Language.EN])
def test_after_talking_to_the_line_they_hear_the_closing_with_the_line_and_119(language: Language) -> None:
    twiml = _after({"DialCallStatus": "completed", "DialCallDuration": "600"}, language=language)
    assert CATALOGUE.text("call.self_harm.closing", language, line="109") in twiml
    assert "119" in twiml and "<Gather" not in twiml and "<Dial" not in twiml
    assert twiml.rstrip().endswith("<Hangup /></Response>")


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed", "canceled", "something-new"])
def test_when_the_line_does_not_answer_they_may_press_1_to_be_connected(status: str) -> None:
    twiml = _after({"DialCallStatus": status})
    fallback = CATALOGUE.text("call.self_harm.line", "ko", line="109")
    assert CATALOGUE.text("call.self_harm.not_connected", "ko") in twiml and fallback in twiml
    assert "1번을 눌러" in fallback and fallback.count("109") == 2 and "119" in fallback
    assert (
        '<Gather action="https://care.example.org/api/v1/twilio/voice/connect?code=abc&amp;n=2&amp;lang=ko"'
        in twiml
    )
    assert 'input="dtmf" method="POST" numDigits="1"' in twiml
    # No key: the closing (the line again), never silence.
    assert twiml.rstrip().endswith(
        '</Gather><Say language="ko-KR" voice="Polly.Seoyeon">'
        + CATALOGUE.text("call.self_harm.closing", "ko", line="109")
        + "</Say><Hangup /></Response>"
    )


def test_pressing_1_dials_the_line_again_and_other_keys_end_with_the_closing() -> None:
    again = _after({"Digits": "1"}, attempt=2)
    assert CATALOGUE.text("call.self_harm.connecting_again", "ko") in again
    assert again.rstrip().endswith(
        '<Dial action="https://care.example.org/api/v1/twilio/voice/connect?code=abc&amp;n=2&amp;lang=ko" '
        'method="POST" timeout="30">109</Dial></Response>'
    )
    other = _after({"Digits": "5"}, attempt=2)
    assert "<Dial" not in other and CATALOGUE.text("call.self_harm.closing", "ko", line="109") in other


def test_after_the_last_try_they_hear_the_line_and_the_closing_not_another_offer() -> None:
    twiml = _after({"DialCallStatus": "busy"}, attempt=MAX_CRISIS_DIALS)
    assert "<Gather" not in twiml and "<Dial" not in twiml
    assert CATALOGUE.text("call.self_harm.closing", "ko", line="109") in twiml
    assert "<Dial" not in _after({"Digits": "1"}, attempt=MAX_CRISIS_DIALS + 1)


@pytest.mark.usefixtures("configured")
def test_the_line_said_and_the_number_dialled_come_from_the_settings() -> None:
    crisis.configure(
        Settings(_env_file=None, crisis_line_en="988", crisis_line_ko="1393", crisis_dial_ko="+8215770199")
    )
    ko = self_harm_twiml(Language.KO, code="abc", base_url=BASE)
    assert "1393번" in ko and ">+8215770199</Dial>" in ko and "109" not in ko
    en = self_harm_twiml(Language.EN, code="abc", base_url=BASE)
    assert "the suicide prevention line, 988" in en and ">988</Dial>" in en
    assert "1393" in _after({"DialCallStatus": "busy"})


def test_a_crisis_number_must_be_digits() -> None:
    with pytest.raises(ValueError, match="crisis_line_ko"):
        Settings(_env_file=None, crisis_line_ko="call 109")
