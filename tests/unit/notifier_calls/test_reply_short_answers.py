"""Short answers: the everyday "응" is never an emergency, and no word hides inside another.

The commonest answers to "괜찮으세요?" are one word. A bare affirmative is ``ok`` only by the
same rules as any other ``ok`` (the model must be sure, and so must speech recognition), else the
call asks again; a bare negative is ``unwell`` (the caseworker hears of it). Neither is ever
``emergency``, whatever the model thinks. The model's features represent a short word by itself
alone, so "응" cannot borrow the weight of "응급" (emergency).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.enums import Intent
from notifier import classifier_features
from notifier.classifier import (
    INTENTS,
    apply_safety,
    classify,
    features,
    load_examples,
    short_answer,
)

AFFIRMATIVES = [
    "응",
    "응응",
    "어",
    "어어",
    "그래",
    "그래요",
    "그럼",
    "그럼요",
    "네",
    "예",
    "넵",
    "ㅇㅇ",
    "맞아",
    "그렇지",
    "응 그래",
    "네네네",
    "yeah",
    "yes",
    "yep",
    "yup",
    "uh huh",
    "sure",
    "yeah yeah",
    "mm hmm",
]
NEGATIVES = ["아니", "아니요", "아뇨", "아니야", "아녀", "아이다", "no", "nope", "nah", "no no"]

CONFIDENT = {
    intent: {i: (0.97 if i == intent else 0.01) for i in INTENTS}
    for intent in (Intent.OK, Intent.UNWELL, Intent.EMERGENCY, Intent.UNCLEAR)
}


@pytest.mark.parametrize("text", AFFIRMATIVES + NEGATIVES)
def test_bare_short_answers_are_never_emergency(text: str) -> None:
    assert classify(text).intent != Intent.EMERGENCY
    assert apply_safety(text, CONFIDENT[Intent.EMERGENCY]).intent != Intent.EMERGENCY


@pytest.mark.parametrize("text", AFFIRMATIVES)
def test_a_bare_yes_is_ok_only_like_any_other_ok(text: str) -> None:
    assert classify(text).intent in (Intent.OK, Intent.UNCLEAR)
    assert apply_safety(text, CONFIDENT[Intent.OK]).intent == Intent.OK
    unsure = {Intent.OK: 0.5, Intent.UNWELL: 0.2, Intent.EMERGENCY: 0.2, Intent.UNCLEAR: 0.1}
    assert apply_safety(text, unsure).intent == Intent.UNCLEAR
    assert apply_safety(text, CONFIDENT[Intent.OK], speech_confidence=0.1).intent == Intent.UNCLEAR
    for other in (Intent.UNWELL, Intent.EMERGENCY, Intent.UNCLEAR):
        assert apply_safety(text, CONFIDENT[other]).intent == Intent.UNCLEAR


@pytest.mark.parametrize("text", ["응", "응응", "네", "yes", "yeah"])
def test_the_commonest_yes_is_ok_on_the_shipped_model(text: str) -> None:
    assert classify(text).intent == Intent.OK


@pytest.mark.parametrize("text", NEGATIVES)
def test_a_bare_no_is_unwell_whatever_the_model_says(text: str) -> None:
    assert classify(text).intent == Intent.UNWELL
    for intent in INTENTS:
        result = apply_safety(text, CONFIDENT[intent])
        assert (result.intent, result.source) == (Intent.UNWELL, "short_answer")


@pytest.mark.parametrize("text", ["응 아니", "yes no", "어 아니야"])
def test_yes_and_no_at_once_is_asked_again(text: str) -> None:
    assert short_answer(text) == "mixed"
    assert classify(text).intent == Intent.UNCLEAR


@pytest.mark.parametrize(
    "text",
    ["응급이에요", "응 응급이야", "어 넘어졌어", "그래서 못 일어나", "아니 살려줘", "no I can't breathe"],
)
def test_a_short_word_inside_a_longer_reply_does_not_hide_an_emergency(text: str) -> None:
    assert short_answer(text) is None
    assert classify(text).intent == Intent.EMERGENCY


@pytest.mark.parametrize("word", ["응", "어", "그래", "그럼", "아니", "no", "yes", "네", "예"])
def test_a_short_word_shares_no_model_feature_with_words_it_is_inside(word: str) -> None:
    mine = features(word)
    assert mine, "a word the model never sees could not be learned at all"
    for example in load_examples():
        tokens = classifier_features.tokens(example.text)
        if word in tokens:
            continue
        shared = mine & features(example.text)
        assert not shared, (word, example.text, shared)


def test_emergency_and_its_neighbours_share_nothing_with_yes() -> None:
    assert features("응") & features("응급") == set()
    assert features("응") & features("응급실 가야 돼") == set()
    assert features("no") & features("nothing hurts") == set()


probabilities = st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4).filter(lambda ps: sum(ps) > 0)


@given(ps=probabilities, text=st.sampled_from(AFFIRMATIVES + NEGATIVES), stt=st.none() | st.floats(0, 1))
def test_no_model_output_makes_a_short_answer_an_emergency(
    ps: list[float], text: str, stt: float | None
) -> None:
    total = sum(ps)
    probs = {intent: p / total for intent, p in zip(INTENTS, ps, strict=True)}
    result = apply_safety(text, probs, speech_confidence=stt)
    assert result.intent != Intent.EMERGENCY
    assert result.risk is None
