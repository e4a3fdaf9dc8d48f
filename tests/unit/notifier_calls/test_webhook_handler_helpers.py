"""Pure helpers behind the call and SMS webhook handlers."""

from __future__ import annotations

import pytest

from core.enums import CallOutcome, CallStatus, Intent
from notifier.ack_codes import is_ack
from notifier.calls.common import (
    Reply,
    is_machine,
    parse_call_status,
    terminal_outcome,
    transcript_line,
)
from notifier.classifier import Classification
from notifier.transports.base import normalise_phone


@pytest.mark.parametrize(
    ("answered_by", "machine"),
    [
        ("machine_start", True),
        ("machine_end_beep", True),
        ("machine_end_silence", True),
        ("machine_end_other", True),
        ("fax", True),
        (" Machine_Start ", True),
        ("human", False),
        ("unknown", False),
        ("", False),
        (None, False),
    ],
)
def test_is_machine(answered_by: str | None, machine: bool) -> None:
    assert is_machine(answered_by) is machine


@pytest.mark.parametrize(
    ("status", "answered_by", "outcome"),
    [
        (CallStatus.NO_ANSWER, None, CallOutcome.NO_ANSWER),
        (CallStatus.BUSY, None, CallOutcome.BUSY),
        (CallStatus.FAILED, None, CallOutcome.FAILED),
        (CallStatus.CANCELLED, None, CallOutcome.FAILED),
        (CallStatus.COMPLETED, None, CallOutcome.UNCLEAR),
        (CallStatus.COMPLETED, "human", CallOutcome.UNCLEAR),
        (CallStatus.COMPLETED, "unknown", CallOutcome.UNCLEAR),
        (CallStatus.COMPLETED, "machine_end_beep", CallOutcome.VOICEMAIL),
        (CallStatus.COMPLETED, "fax", CallOutcome.VOICEMAIL),
    ],
)
def test_terminal_outcome(status: CallStatus, answered_by: str | None, outcome: CallOutcome) -> None:
    assert terminal_outcome(status, answered_by) == outcome


def test_parse_call_status_accepts_only_twilios_words() -> None:
    assert parse_call_status("in-progress") == CallStatus.IN_PROGRESS
    assert parse_call_status(" No-Answer ") == CallStatus.NO_ANSWER
    assert parse_call_status("pending") is None  # our own pre-provider state
    assert parse_call_status("sending") is None
    assert parse_call_status("answered") is None  # an event name, not a status
    assert parse_call_status(None) is None


def test_reply_prefers_keys_then_speech_then_silence() -> None:
    assert Reply.from_params({"Digits": "2", "SpeechResult": "괜찮아요"}) == Reply("dtmf", "2")
    assert Reply.from_params({"SpeechResult": "  네   괜찮아요 ", "Confidence": "0.91"}) == Reply(
        "speech", "네 괜찮아요", 0.91
    )
    assert Reply.from_params({"SpeechResult": "네", "Confidence": "high"}).speech_confidence is None
    assert Reply.from_params({"SpeechResult": "네", "Confidence": "7"}).speech_confidence is None
    assert Reply.from_params({}) == Reply("none", "")
    assert Reply.from_params({"Digits": " ", "SpeechResult": ""}) == Reply("none", "")
    assert len(Reply.from_params({"SpeechResult": "아" * 5000}).text) == 500


def test_silence_is_unclear_and_keys_use_the_key_rule() -> None:
    assert Reply("none", "").classify() == Classification(Intent.UNCLEAR, 1.0, "empty")
    assert Reply("dtmf", "1").classify().intent == Intent.OK
    assert Reply("dtmf", "2").classify().intent == Intent.EMERGENCY


def test_transcript_line_is_readable() -> None:
    line = transcript_line(2, Reply("speech", "네 괜찮아요", 0.9), Classification(Intent.OK, 0.97))
    assert line == '#2 speech (stt 0.90): "네 괜찮아요" -> ok 0.97 [model]'
    assert transcript_line(1, Reply("dtmf", "2"), Classification(Intent.EMERGENCY, 1.0, "digits")) == (
        "#1 dtmf 2 -> emergency 1.00 [digits]"
    )


@pytest.mark.parametrize("body", ["1", " 1 ", "OK", "ok", "Ok!", "oK.", "확인", "확인.", " 확인 "])
def test_ack_words(body: str) -> None:
    assert is_ack(body)


@pytest.mark.parametrize("body", ["2", "11", "확인했어요", "okay", "ok then", "", "STOP", "네"])
def test_not_ack_words(body: str) -> None:
    assert not is_ack(body)


def test_normalise_phone() -> None:
    assert normalise_phone(" +82 10-1234-5678 ") == "+821012345678"
    assert normalise_phone(None) == ""
