"""The cause in words from the resident's reply (api.case_story): pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.case_story import actor_kind, resident_words
from core.enums import CaseEventType
from core.models import CaseEvent

AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _outcome(minutes: int, call_id: int, intent: str, excerpt: str) -> CaseEvent:
    return CaseEvent(
        case_id=1,
        at=AT + timedelta(minutes=minutes),
        type=CaseEventType.CALL_OUTCOME,
        actor=f"call:{call_id}",
        data={"call_attempt_id": call_id, "intent": intent, "excerpt": excerpt},
    )


@pytest.mark.parametrize(
    ("said", "cause"),
    [
        ("넘어져서 못 일어나겠어요", "fall"),
        ("화장실에서 미끄러졌어", "fall"),
        ("I've fallen and I can't get up", "fall"),
        ("살려주세요", "help"),
        ("please send an ambulance", "help"),
    ],
)
def test_an_emergency_reply_names_a_fall_when_it_tells_of_one(said: str, cause: str) -> None:
    words = resident_words([_outcome(0, 7, "emergency", said)], {7})
    assert words is not None and (words.text, words.cause) == (said, cause)


def test_a_cry_for_help_outranks_a_later_unwell_and_other_calls_do_not_count() -> None:
    events = [
        _outcome(0, 7, "emergency", "도와주세요"),
        _outcome(5, 7, "unwell", "좀 어지러워요"),
        _outcome(9, 8, "emergency", "넘어지셨대요"),  # call 8 went to a family member
        _outcome(12, 7, "ok", "괜찮아요"),
    ]
    words = resident_words(events, {7})
    assert words is not None and (words.text, words.cause, words.at) == ("도와주세요", "help", AT)
    assert resident_words(events[3:], {7}) is None


def test_a_key_press_has_no_words_but_still_a_cause() -> None:
    words = resident_words([_outcome(0, 7, "emergency", "")], {7})
    assert words is not None and words.text is None and words.cause == "help"


@pytest.mark.parametrize(
    ("actor", "kind"),
    [
        ("user:ana", "user"),
        ("contact:3", "contact"),
        ("call:2", "call"),
        ("twilio", "provider"),
        ("system", "system"),
    ],
)
def test_actor_kinds(actor: str, kind: str) -> None:
    assert actor_kind(actor) == kind
