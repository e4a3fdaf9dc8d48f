"""Danger named only to be denied, and everyday phrases made of danger's words, are not emergencies.

"응급 아니야" (it's not an emergency) and "자다가 깼어" (I woke up) came back ``emergency``: the
first by the 응급 rule, the second by the model. A false alarm wakes a caseworker and a family,
so these are decided by rule (notifier/classifier_rules.py, NEGATED_EMERGENCY and EVERYDAY_*),
and what else the reply says still counts: a danger said beside the denial is an emergency.
"""

from __future__ import annotations

import pytest

from core.enums import Intent, Risk
from notifier.classifier import INTENTS, apply_safety, classify
from notifier.classifier_rules import (
    denies_an_emergency,
    has_emergency_phrase,
    is_everyday,
    without_denied_danger,
)

DENIALS = [
    "응급 아니야",
    "응급 상황은 아니고요",
    "응급은 아니고 그냥 좀 피곤해",
    "응급실 갈 정도는 아니에요",
    "119 부를 일은 아니야",
    "구급차 필요 없어요",
    "위급한 건 아니여",
    "응급 아이다",
    "응급 아니당께",
    "숨 차는 건 없어요",
    "안 넘어졌어",
    "넘어지진 않았어",
    "살려 달라는 건 아니고",
    "not an emergency",
    "it's no emergency",
    "no need for an ambulance",
    "nothing urgent",
    "no chest pain",
]

# The model's worst case: it is sure of an emergency.
SURE_OF_EMERGENCY = {i: (0.97 if i == Intent.EMERGENCY else 0.01) for i in INTENTS}


@pytest.mark.parametrize("text", DENIALS)
def test_a_denied_danger_raises_no_alarm_by_rule_or_by_model(text: str) -> None:
    assert denies_an_emergency(text)
    assert not has_emergency_phrase(text)
    assert apply_safety(text, SURE_OF_EMERGENCY).intent != Intent.EMERGENCY
    assert classify(text).intent != Intent.EMERGENCY


@pytest.mark.parametrize(
    "text",
    [
        "응급은 아닌데 숨이 차요",  # the denial does not cover what follows it
        "응급 아니야 근데 넘어져서 못 일어나",
        "구급차는 필요 없고 가슴이 너무 아파요",
        "not an emergency but I fell and can't get up",
        "no need for an ambulance just send someone please",
        # not denials at all: a question, a condition
        "이거 응급 아니야?",
        "응급 아니면 뭐야 빨리 와 줘",
        "응급이에요",
        "응급 상황이야",
        "is this an emergency? I can't breathe",
    ],
)
def test_a_danger_said_beside_a_denial_or_asked_about_is_still_an_emergency(text: str) -> None:
    assert has_emergency_phrase(text)
    assert classify(text).intent == Intent.EMERGENCY


def test_a_denial_does_not_hide_self_harm_talk() -> None:
    result = classify("응급은 아닌데 그냥 죽고 싶어")
    assert (result.intent, result.risk) == (Intent.EMERGENCY, Risk.SELF_HARM)


@pytest.mark.parametrize(
    "text",
    [
        "자다가 깼어",
        "자다 깼어",
        "낮잠 자다가 깼네",
        "잠이 깼어",
        "숨 좀 돌리고 있어",
        "I woke up from a nap",
        "just woke up",
    ],
)
def test_everyday_phrases_built_from_dangers_words_are_not_emergencies(text: str) -> None:
    assert is_everyday(text)
    assert not has_emergency_phrase(text)
    assert apply_safety(text, SURE_OF_EMERGENCY, self_harm=0.9).intent != Intent.EMERGENCY
    assert classify(text).intent != Intent.EMERGENCY


@pytest.mark.parametrize(
    ("text", "risk"),
    [
        ("자다 깼는데 숨이 막혀", None),
        ("I woke up and can't move my arm", None),
        ("I woke up on the floor", None),
        ("자다가 안 깼으면 좋겠어", Risk.SELF_HARM),
        ("I don't want to wake up tomorrow", Risk.SELF_HARM),
    ],
)
def test_waking_with_a_danger_or_wishing_not_to_wake_is_still_an_emergency(
    text: str, risk: Risk | None
) -> None:
    result = classify(text)
    assert (result.intent, result.risk) == (Intent.EMERGENCY, risk)


@pytest.mark.parametrize(
    "text",
    ["I want to dye", "i just wanna dye", "농약 사다 놨어유 먹을라구", "농약 사 놨다 묵을라꼬"],
)
def test_self_harm_through_speech_to_text_and_dialect(text: str) -> None:
    result = classify(text)
    assert (result.intent, result.risk) == (Intent.EMERGENCY, Risk.SELF_HARM)


@pytest.mark.parametrize(
    "text", ["I want to dye my hair", "I'm going to dye the wool blue", "농약 치고 왔어"]
)
def test_the_everyday_uses_of_those_words_are_not_self_harm(text: str) -> None:
    assert classify(text).risk is None


@pytest.mark.parametrize("text", ["please hel p", "i fel l"])
def test_a_letter_speech_to_text_split_off_its_word_is_joined_back(text: str) -> None:
    assert has_emergency_phrase(text)


@pytest.mark.parametrize("text", ["숨 이 막혀요", "숨이 막 혀요"])
def test_korean_danger_words_split_by_stray_spaces_are_still_heard(text: str) -> None:
    assert has_emergency_phrase(text)


@pytest.mark.parametrize(
    ("text", "rest"),
    [
        ("응급은 아닌데 숨이 차요", ["데", "숨이", "차요"]),
        ("not an emergency but I fell", ["but", "i", "fell"]),
        ("no need for an ambulance just send someone", ["just", "send", "someone"]),
    ],
)
def test_cutting_a_denial_out_leaves_only_the_replys_own_words(text: str, rest: list[str]) -> None:
    # The emergency rules then read what is left: they count words (a "no" within three words
    # of "help" negates it) and read it without spaces, so the cut must add no word of its own.
    assert without_denied_danger(text).split() == rest
