"""The safety layer's thresholds and exact verdicts, without the model (issue 20).

``apply_safety`` is pure: these give it the model's probabilities directly and compare the
whole verdict (intent, confidence, source, risk), at each threshold's edge: an ``ok`` at exactly
OK_MIN_CONFIDENCE is believed, speech recognition at exactly SPEECH_MIN_CONFIDENCE is believed,
a self-harm probability of exactly SELF_HARM_MIN_PROBABILITY is flagged, and when the model's
self-harm and other-emergency votes tie, the self-harm protocol (the stronger one) is chosen.
Key presses and the verdicts reached before the model is asked are compared whole too, and so is
what a (tiny, trained here) model hands the safety layer: its self-harm label counted inside
``emergency`` and reported alone, and a label it never learned counted as probability 0.
"""

from __future__ import annotations

import pytest

from core.enums import Intent, Risk
from notifier.classifier import (
    OK_MIN_CONFIDENCE,
    SELF_HARM_LABEL,
    SELF_HARM_MIN_PROBABILITY,
    SPEECH_MIN_CONFIDENCE,
    Classification,
    ReplyModel,
    _without_model,
    apply_safety,
    classify_digits,
)


def _probs(ok: float, unwell: float, emergency: float, unclear: float) -> dict[Intent, float]:
    return {Intent.OK: ok, Intent.UNWELL: unwell, Intent.EMERGENCY: emergency, Intent.UNCLEAR: unclear}


def test_an_ok_exactly_as_sure_as_the_threshold_is_believed_and_just_below_it_is_asked_again() -> None:
    at = _probs(OK_MIN_CONFIDENCE, 0.2, 0.1, 0.1)
    below = _probs(OK_MIN_CONFIDENCE - 0.01, 0.2, 0.1, 0.11)
    assert apply_safety("괜찮아요", at) == Classification(Intent.OK, OK_MIN_CONFIDENCE)
    assert apply_safety("괜찮아요", below) == Classification(Intent.UNCLEAR, 0.11, "low_confidence")


def test_a_bare_yes_exactly_as_sure_as_the_threshold_is_ok_and_an_unsure_one_keeps_its_unclear_mass() -> None:
    at = _probs(OK_MIN_CONFIDENCE, 0.2, 0.1, 0.1)
    below = _probs(OK_MIN_CONFIDENCE - 0.01, 0.2, 0.1, 0.11)
    assert apply_safety("응", at) == Classification(Intent.OK, OK_MIN_CONFIDENCE, "short_answer")
    assert apply_safety("응", below) == Classification(Intent.UNCLEAR, 0.11, "short_answer")


@pytest.mark.parametrize("text", ["괜찮아요", "응"])
def test_speech_recognition_exactly_as_sure_as_its_threshold_is_believed(text: str) -> None:
    sure_ok = _probs(0.9, 0.04, 0.03, 0.03)
    assert apply_safety(text, sure_ok, speech_confidence=SPEECH_MIN_CONFIDENCE).intent == Intent.OK
    unsure = apply_safety(text, sure_ok, speech_confidence=SPEECH_MIN_CONFIDENCE - 0.01)
    assert (unsure.intent, unsure.confidence) == (Intent.UNCLEAR, 0.03)


def test_a_bare_no_and_a_yes_no_mix_are_decided_by_rule_with_full_confidence() -> None:
    sure_ok = _probs(0.97, 0.01, 0.01, 0.01)
    assert apply_safety("아니요", sure_ok) == Classification(Intent.UNWELL, 1.0, "short_answer")
    assert apply_safety("응 아니", sure_ok) == Classification(Intent.UNCLEAR, 1.0, "short_answer")


# Talk of life itself, no rule's phrase, not another's death: the model's self-harm vote stands.
LIFE_TALK = "life feels pointless these days"


def test_a_self_harm_probability_exactly_at_the_threshold_is_flagged_even_when_unwell_is_likelier() -> None:
    unwell = _probs(0.05, 0.5, SELF_HARM_MIN_PROBABILITY + 0.05, 0.05)
    flagged = apply_safety(LIFE_TALK, unwell, self_harm=SELF_HARM_MIN_PROBABILITY)
    assert flagged == Classification(Intent.EMERGENCY, SELF_HARM_MIN_PROBABILITY, "model", Risk.SELF_HARM)
    below = apply_safety(LIFE_TALK, unwell, self_harm=SELF_HARM_MIN_PROBABILITY - 0.01)
    assert below == Classification(Intent.UNWELL, 0.5)


def test_when_the_self_harm_and_other_emergency_votes_tie_the_self_harm_protocol_is_chosen() -> None:
    # emergency 0.6 = self-harm 0.3 + other emergencies 0.3; both below the flagging threshold.
    probs = _probs(0.1, 0.2, 0.6, 0.1)
    assert apply_safety(LIFE_TALK, probs, self_harm=0.3) == Classification(
        Intent.EMERGENCY, 0.3, "model", Risk.SELF_HARM
    )
    # Other emergencies ahead: an emergency without the self-harm risk, at the model's full vote.
    assert apply_safety(LIFE_TALK, probs, self_harm=0.29) == Classification(Intent.EMERGENCY, 0.6)


def test_a_reply_without_an_ok_cue_is_unclear_with_the_models_unclear_mass() -> None:
    assert apply_safety("I went to the market", _probs(0.9, 0.02, 0.01, 0.07)) == Classification(
        Intent.UNCLEAR, 0.07, "no_ok_cue"
    )


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        ("1", Classification(Intent.OK, 1.0, "digits")),
        (" 1 ", Classification(Intent.OK, 1.0, "digits")),
        ("2", Classification(Intent.EMERGENCY, 1.0, "digits")),
        ("12", Classification(Intent.EMERGENCY, 1.0, "digits")),
        ("11", Classification(Intent.UNCLEAR, 1.0, "digits")),
        ("3", Classification(Intent.UNCLEAR, 1.0, "digits")),
        ("", Classification(Intent.UNCLEAR, 1.0, "empty")),
        ("  ", Classification(Intent.UNCLEAR, 1.0, "empty")),
    ],
)
def test_key_presses_give_exact_verdicts_and_no_key_is_empty(digits: str, expected: Classification) -> None:
    assert classify_digits(digits) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Classification(Intent.UNCLEAR, 1.0, "empty")),
        ("?", Classification(Intent.UNCLEAR, 1.0, "empty")),
        (" ? ? ", Classification(Intent.UNCLEAR, 1.0, "empty")),
        ("1", Classification(Intent.OK, 1.0, "digits")),
        ("3", Classification(Intent.UNCLEAR, 1.0, "digits")),
        ("119", Classification(Intent.EMERGENCY, 1.0, "emergency_phrase")),
        ("1번이요", Classification(Intent.OK, 1.0, "spoken_key")),
        ("number one", Classification(Intent.OK, 1.0, "spoken_key")),
        ("죽고 싶어요", Classification(Intent.EMERGENCY, 1.0, "self_harm_phrase", Risk.SELF_HARM)),
        ("여보세요?", None),
        ("괜찮아요", None),
    ],
)
def test_what_is_decided_before_the_model_is_asked(text: str, expected: Classification | None) -> None:
    assert _without_model(text) == expected


@pytest.mark.parametrize("text", ["자다가 깼어", "not an emergency"])
def test_an_intent_the_model_gave_no_probability_counts_as_zero(text: str) -> None:
    # An everyday phrase and a denial both take the model's emergency vote out: with no vote to
    # take out, nothing is taken and nothing is invented.
    assert apply_safety(text, {Intent.OK: 0.1, Intent.UNWELL: 0.8, Intent.UNCLEAR: 0.1}) == Classification(
        Intent.UNWELL, 0.8
    )


def test_the_model_counts_self_harm_talk_as_an_emergency_and_reports_its_probability_alone() -> None:
    examples = [
        ("I'm fine", "ok"),
        ("all good", "ok"),
        ("my knee hurts", "unwell"),
        ("I feel sick", "unwell"),
        ("help I fell", "emergency"),
        ("call an ambulance", "emergency"),
        ("I want to die", SELF_HARM_LABEL),
        ("I want to end my life", SELF_HARM_LABEL),
    ]
    model = ReplyModel([text for text, _ in examples], [label for _, label in examples])
    labels = model.label_probabilities("I want to die")
    probs, self_harm = model.predict("I want to die")
    assert self_harm == labels[SELF_HARM_LABEL] and self_harm > labels["emergency"]
    assert probs[Intent.EMERGENCY] == pytest.approx(labels["emergency"] + labels[SELF_HARM_LABEL])
    assert (probs[Intent.OK], probs[Intent.UNWELL]) == (labels["ok"], labels["unwell"])
    assert probs[Intent.UNCLEAR] == 0.0  # never learned
    assert sum(probs.values()) == pytest.approx(1.0)


def test_a_model_that_learned_no_self_harm_or_emergency_reports_zero_for_them() -> None:
    model = ReplyModel(
        ["I'm fine", "all good", "my knee hurts", "I feel sick"], ["ok", "ok", "unwell", "unwell"]
    )
    probs, self_harm = model.predict("I feel fine")
    assert self_harm == 0.0
    assert (probs[Intent.EMERGENCY], probs[Intent.UNCLEAR]) == (0.0, 0.0)
    assert probs[Intent.OK] + probs[Intent.UNWELL] == pytest.approx(1.0)


def test_a_fine_with_no_emergency_probability_given_is_ok() -> None:
    assert apply_safety(
        "괜찮아요", {Intent.OK: 0.9, Intent.UNWELL: 0.05, Intent.UNCLEAR: 0.05}
    ) == Classification(Intent.OK, 0.9)


@pytest.mark.parametrize(
    ("text", "ok", "source"),
    [
        ("응", 0.5, "short_answer"),
        ("I went to the market", 0.9, "no_ok_cue"),
        ("괜찮아요", 0.5, "low_confidence"),
    ],
)
def test_an_unclear_verdict_without_an_unclear_probability_has_confidence_zero(
    text: str, ok: float, source: str
) -> None:
    probs = {Intent.OK: ok, Intent.UNWELL: 1.0 - ok - 0.05, Intent.EMERGENCY: 0.05}
    assert apply_safety(text, probs) == Classification(Intent.UNCLEAR, 0.0, source)


@pytest.mark.parametrize("text", ["my wife passed but I'm fine", "친구가 죽었는데 난 괜찮아"])
def test_a_fine_that_talks_of_a_death_is_unwell_by_rule(text: str) -> None:
    assert apply_safety(text, _probs(0.97, 0.01, 0.01, 0.01)) == Classification(
        Intent.UNWELL, 1.0, "death_talk"
    )


@pytest.mark.parametrize("text", ["배고파 죽겠어", "I was bored to death"])
def test_a_hyperbole_sets_the_models_emergency_and_self_harm_votes_aside(text: str) -> None:
    # The model is sure of self-harm; only "very hungry" / "very bored" was said.
    sure_of_self_harm = _probs(0.03, 0.05, 0.9, 0.02)
    assert apply_safety(text, sure_of_self_harm, self_harm=0.9) == Classification(Intent.UNWELL, 0.05)


@pytest.mark.parametrize("text", ["배고파 죽겠어", "I was bored to death"])
def test_a_hyperbole_sets_a_sure_emergency_vote_aside_when_the_model_hears_no_self_harm(text: str) -> None:
    sure_of_emergency = _probs(0.005, 0.02, 0.97, 0.005)
    assert apply_safety(text, sure_of_emergency, self_harm=0.0) == Classification(Intent.UNWELL, 0.02)
