"""The wellness call's TwiML, parsed as XML, in both languages."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from core.enums import CallOutcome, Language
from notifier.script import (
    closing_twiml,
    greeting_twiml,
    hangup_twiml,
    reask_twiml,
    voicemail_twiml,
)

GATHER_URL = "https://care.example.org/api/v1/twilio/voice/gather?code=abc123&x=1"
MESSAGES = Path(__file__).resolve().parents[3] / "notifier" / "messages"
EXPECTED = {Language.KO: ("ko-KR", "Polly.Seoyeon"), Language.EN: ("en-US", "Polly.Joanna")}


def catalogue(language: Language) -> dict[str, str]:
    data: dict[str, str] = json.loads((MESSAGES / f"{language.value}.json").read_text(encoding="utf-8"))
    return data


def parse(twiml: str) -> ET.Element:
    root = ET.fromstring(twiml.encode("utf-8"))
    assert root.tag == "Response"
    return root


def says(element: ET.Element) -> list[ET.Element]:
    return list(element.iter("Say"))


@pytest.mark.parametrize("language", [Language.KO, Language.EN])
def test_greeting_gathers_keys_and_speech_in_the_residents_language(language: Language) -> None:
    root = parse(greeting_twiml(language=language, gather_url=GATHER_URL))
    (gather,) = root.findall("Gather")
    tag, voice = EXPECTED[language]
    assert gather.attrib == {
        "action": GATHER_URL,  # ElementTree unescapes &amp; back to &
        "method": "POST",
        "input": "speech dtmf",
        "language": tag,
        "numDigits": "1",
        "timeout": "6",
        "speechTimeout": "auto",
        "actionOnEmptyResult": "true",
        "hints": catalogue(language)["call.hints"],
    }
    lines = says(gather)
    assert [s.text for s in lines] == [
        catalogue(language)["call.greeting"],
        catalogue(language)["call.question"],
    ]
    assert all(s.attrib == {"voice": voice, "language": tag} for s in lines)
    # Nothing after the Gather: an empty result still posts to the action (actionOnEmptyResult).
    assert list(root) == [gather]


def test_korean_greeting_names_the_agency_first_and_offers_keys_1_and_2() -> None:
    root = parse(greeting_twiml(language=Language.KO, gather_url=GATHER_URL))
    first, question = (s.text or "" for s in says(root))
    assert first.startswith("안녕하세요, 안부 돌봄센터입니다.")
    assert "1번" in question and "괜찮아요" in question
    assert "2번" in question and "도와주세요" in question


def test_english_greeting_offers_keys_1_and_2() -> None:
    root = parse(greeting_twiml(language=Language.EN, gather_url=GATHER_URL))
    first, question = (s.text or "" for s in says(root))
    assert "care center" in first
    assert "press 1" in question and "press 2" in question


@pytest.mark.parametrize("language", [Language.KO, Language.EN])
def test_reask_apologises_then_asks_the_same_question(language: Language) -> None:
    root = parse(reask_twiml(language=language, gather_url=GATHER_URL))
    (gather,) = root.findall("Gather")
    assert gather.attrib["action"] == GATHER_URL
    assert gather.attrib["language"] == EXPECTED[language][0]
    texts = [s.text for s in says(gather)]
    assert texts == [catalogue(language)["call.reask"], catalogue(language)["call.question"]]


@pytest.mark.parametrize("language", [Language.KO, Language.EN])
@pytest.mark.parametrize(
    ("outcome", "key"),
    [
        (CallOutcome.OK, "call.closing.ok"),
        (CallOutcome.UNWELL, "call.closing.unwell"),
        (CallOutcome.EMERGENCY, "call.closing.emergency"),
        (CallOutcome.UNCLEAR, "call.closing.unclear"),
        (CallOutcome.NO_ANSWER, "call.closing.unclear"),
    ],
)
def test_closing_says_what_happens_next_and_hangs_up(
    language: Language, outcome: CallOutcome, key: str
) -> None:
    root = parse(closing_twiml(outcome, language))
    assert [child.tag for child in root] == ["Say", "Hangup"]
    (say,) = says(root)
    assert say.text == catalogue(language)[key]
    assert say.attrib == {"voice": EXPECTED[language][1], "language": EXPECTED[language][0]}


def test_korean_closing_lines_match_the_script() -> None:
    assert "좋은 하루 보내세요" in closing_twiml(CallOutcome.OK, Language.KO)
    assert "담당 복지사에게 바로 알리겠습니다" in closing_twiml(CallOutcome.UNWELL, Language.KO)
    assert "곧 도움이 갑니다" in closing_twiml(CallOutcome.EMERGENCY, Language.KO)
    assert "담당자가 다시 연락드리겠습니다" in closing_twiml(CallOutcome.UNCLEAR, Language.KO)


@pytest.mark.parametrize("language", [Language.KO, Language.EN])
def test_voicemail_is_short_and_does_not_alarm(language: Language) -> None:
    root = parse(voicemail_twiml(language))
    assert [child.tag for child in root] == ["Say", "Hangup"]
    text = says(root)[0].text or ""
    assert text == catalogue(language)["call.voicemail"]
    assert len(text) < 200
    for alarming in ("119", "긴급", "응급", "emergency", "help"):
        assert alarming not in text.lower()


def test_hangup_defaults_to_korean() -> None:
    root = parse(hangup_twiml())
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert says(root)[0].attrib["language"] == "ko-KR"


def test_both_catalogues_have_the_same_call_and_reply_keys() -> None:
    ours = {k for k in catalogue(Language.KO) if k.startswith(("call.", "reply."))}
    assert ours == {k for k in catalogue(Language.EN) if k.startswith(("call.", "reply."))}
    assert {"call.greeting", "call.question", "call.reask", "call.voicemail", "call.hints"} <= ours
