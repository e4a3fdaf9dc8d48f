from __future__ import annotations

import pytest

from simulator.call_player import captured_input
from simulator.phone_scenarios import Reply
from simulator.twiml import Dial, Gather, Hangup, Pause, Redirect, Say, TwimlError, Unsupported, parse_twiml

# As produced by twilio 9.13.0 (wire-formats.md §5.3)
LIBRARY_TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="https://care.example.org/twilio/voice/gather" '
    'actionOnEmptyResult="true" hints="네, 아니요, 도와주세요" input="speech dtmf" language="ko-KR" method="POST" '
    'numDigits="1" speechTimeout="auto"><Say language="ko-KR" voice="Polly.Seoyeon">안녕하세요. 괜찮으시면 1번을 '
    "누르거나 괜찮다고 말씀해 주세요.</Say></Gather></Response>"
)


def test_reads_the_gather_twilio_python_produces():
    (gather,) = parse_twiml(LIBRARY_TWIML)
    assert isinstance(gather, Gather)
    assert gather.action == "https://care.example.org/twilio/voice/gather"
    assert gather.input == {"speech", "dtmf"} and gather.num_digits == 1
    assert gather.action_on_empty_result and gather.language == "ko-KR" and gather.method == "POST"
    assert gather.prompts == (
        Say("안녕하세요. 괜찮으시면 1번을 누르거나 괜찮다고 말씀해 주세요.", "ko-KR", "Polly.Seoyeon"),
    )


def test_verbs_in_order_with_defaults():
    verbs = parse_twiml(
        b"<Response><Say>Hi</Say><Pause length='2'/><Gather/><Redirect method='GET'>/next</Redirect>"
        b"<Dial>+1</Dial><Enqueue>q</Enqueue><Hangup/></Response>"
    )
    assert verbs == (
        Say("Hi"),
        Pause(2.0),
        Gather(action=None),
        Redirect("/next", "GET"),
        Dial("+1"),
        Unsupported("Enqueue"),
        Hangup(),
    )
    gather = verbs[2]
    assert isinstance(gather, Gather)
    assert gather.input == {"dtmf"} and not gather.action_on_empty_result


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("not xml", "well-formed"),
        ("<Html/>", "root element"),
        ("<Response><Gather input='video'/></Response>", "input"),
        ("<Response><Gather><Hangup/></Gather></Response>", "may contain only"),
        ("<Response><Gather numDigits='x'/></Response>", "numDigits"),
        ("<Response><Gather timeout='-1'/></Response>", "negative"),
        ("<Response><Redirect/></Response>", "without a URL"),
        ("<Response><Redirect method='PUT'>/x</Redirect></Response>", "GET or POST"),
        ("<Response><Dial/></Response>", "without a number"),
        ("<Response><Dial><Number>+1</Number></Dial></Response>", "nouns"),
    ],
)
def test_malformed_twiml_is_refused_with_a_reason(document: str, problem: str):
    with pytest.raises(TwimlError, match=problem):
        parse_twiml(document)


def speech_and_dtmf(num_digits: int | None = None) -> Gather:
    return Gather(action="/g", input=frozenset({"speech", "dtmf"}), num_digits=num_digits)


def test_captured_speech_with_and_without_confidence():
    assert captured_input(Reply.say("네", 0.91), speech_and_dtmf()) == [
        ("SpeechResult", "네"),
        ("Confidence", "0.91"),
    ]
    assert captured_input(Reply.say("네", None), speech_and_dtmf()) == [("SpeechResult", "네")]


def test_captured_digits_stop_at_hash_and_num_digits():
    assert captured_input(Reply.press("123"), speech_and_dtmf(num_digits=2)) == [("Digits", "12")]
    assert captured_input(Reply.press("4#9"), speech_and_dtmf()) == [("Digits", "4")]
    assert captured_input(Reply.press("#"), speech_and_dtmf()) is None


def test_input_kind_must_match_what_the_gather_listens_for():
    assert captured_input(Reply.say("네"), Gather(action="/g")) is None  # default input is dtmf only
    assert captured_input(Reply.press("1"), Gather(action="/g", input=frozenset({"speech"}))) is None
    assert captured_input(Reply.silence(), speech_and_dtmf()) is None
