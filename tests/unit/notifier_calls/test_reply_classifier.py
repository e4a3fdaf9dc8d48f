"""The reply classifier: held-out targets, the examples the care staff care about, the safety layer."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.enums import Intent
from notifier.classifier import (
    INTENTS,
    Classification,
    apply_safety,
    classify,
    classify_digits,
    classify_lines,
    load_examples,
    normalise,
)
from notifier.classifier_eval import evaluate
from notifier.classifier_rules import has_emergency_phrase, self_harm_rule

# Said in the brief and by caseworkers: these must come out right on the shipped model.
EXPECTED = [
    ("괜찮아요", Intent.OK),
    ("네 괜찮습니다", Intent.OK),
    ("괜찮심더", Intent.OK),
    ("괜찮당께", Intent.OK),
    ("괜찮어유", Intent.OK),
    ("아픈 데 없어요", Intent.OK),
    ("별일 없어요", Intent.OK),
    ("괜 찮아요", Intent.OK),  # speech-to-text spacing
    ("괜찬아요", Intent.OK),  # and spelling
    ("I'm fine", Intent.OK),
    ("I'm okay thanks", Intent.OK),
    ("안 괜찮아요", Intent.UNWELL),
    ("괜찮지 않아요", Intent.UNWELL),
    ("몸이 안 좋아요", Intent.UNWELL),
    ("머리가 아파요", Intent.UNWELL),
    ("I'm not feeling well", Intent.UNWELL),
    ("I don't feel good", Intent.UNWELL),
    ("살려줘", Intent.EMERGENCY),
    ("넘어졌어요 못 일어나요", Intent.EMERGENCY),
    ("숨이 차요", Intent.EMERGENCY),
    ("119 불러줘", Intent.EMERGENCY),
    ("도와주세요", Intent.EMERGENCY),
    ("help I've fallen", Intent.EMERGENCY),
    ("", Intent.UNCLEAR),
    ("여보세요?", Intent.UNCLEAR),
    ("누구세요?", Intent.UNCLEAR),
    ("hello who is this", Intent.UNCLEAR),
]

# Phrasings of danger, several NOT in the training data: never anything lower than emergency.
EMERGENCY_PHRASES = [
    "살려주세요",
    "사람 살려",
    "살려 주이소",
    "제발 좀 도와주세요",
    "도와줘요 빨리",
    "도움이 필요해요",
    "부엌에서 넘어졌어요",
    "넘어져서 일어날 수가 없어요",
    "쓰러졌어요",
    "욕실에서 미끄러졌어요",
    "꼼짝도 못 하겠어요",
    "숨이 차서 힘들어요",
    "숨을 못 쉬겠어",
    "가슴이 답답하고 아파요",
    "가슴이 너무 아파요",
    "구급차 좀 불러줘",
    "119 좀 불러 주세요",
    "일일구 불러",
    "피가 많이 나요",
    "죽을 것 같아요",
    "한쪽 팔이 안 움직여요",
    "말이 잘 안 나와요",
    "불이 났어요",
    "가스 냄새가 나요",
    "2번",
    "이번이요",
    "help",
    "help me please",
    "somebody help me",
    "I need help",
    "I've fallen and I can't get up",
    "I fell in the bathroom",
    "I can't get up",
    "I can't breathe",
    "I'm short of breath",
    "chest pain",
    "my chest hurts so much",
    "I think I'm having a heart attack",
    "call an ambulance",
    "call 911",
    "I'm bleeding",
    "I passed out",
    "there's a fire",
    "two",
    "할아버지 살려 주세요",
    "방에서 넘어져서 허리를 못 움직여요",
    "어지러워서 쓰러졌어",
    "숨 쉬기가 어려워요",
    "가슴이 조이고 식은땀 나요",
    "구급차 좀 빨리요",
    "119에 전화 좀 해 줘",
    "목욕탕에서 미끄러졌어",
    "아파서 죽겠어",
    "제발 빨리 와 줘요",
    "I slipped on the stairs",
    "I fell down the stairs",
    "please send an ambulance",
    "I can not breathe",
    "my chest feels tight",
    "help me I am hurt",
    "I am on the floor and cannot get up",
    "I think I broke my hip",
    "I am bleeding from my head",
    "number two",
]


def test_shipped_data_is_several_hundred_clean_rows_per_language() -> None:
    examples = load_examples()
    per_language = Counter(e.language for e in examples)
    assert per_language["ko"] >= 300 and per_language["en"] >= 300
    for language in ("ko", "en"):
        intents = Counter(e.intent for e in examples if e.language == language)
        assert set(intents) == set(INTENTS)
        assert min(intents.values()) >= 60, intents
    labels: dict[tuple[str, str], set[Intent]] = {}
    for e in examples:
        labels.setdefault((e.language, normalise(e.text)), set()).add(e.intent)
    conflicting = {k: v for k, v in labels.items() if len(v) > 1}
    assert not conflicting
    assert len(labels) == len(examples), "duplicate rows (after normalisation) inflate the held-out figures"


@pytest.mark.slow  # trains a model per seed: ~4 s each, more on a busy machine
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_held_out_split_meets_the_safety_targets(seed: int) -> None:
    report = evaluate(seed=seed)
    assert report["n_test"] >= 0.2 * (report["n_train"] + report["n_test"])
    per_intent = report["per_intent"]
    assert per_intent["emergency"]["recall"] >= 0.98, report["mistakes"]
    assert per_intent["ok"]["precision"] >= 0.97, report["mistakes"]
    # Not a target, but a collapse here would mean the model is only the rules.
    assert report["accuracy"] >= 0.75


@pytest.mark.parametrize(("text", "intent"), EXPECTED)
def test_known_replies(text: str, intent: Intent) -> None:
    assert classify(text).intent == intent


@pytest.mark.parametrize("text", EMERGENCY_PHRASES)
def test_emergency_phrases_are_never_classified_lower(text: str) -> None:
    assert classify(text).intent == Intent.EMERGENCY


@pytest.mark.parametrize("text", EMERGENCY_PHRASES)
def test_emergency_phrases_win_even_over_a_confident_ok_model(text: str) -> None:
    confident_ok = {Intent.OK: 0.97, Intent.UNWELL: 0.01, Intent.EMERGENCY: 0.01, Intent.UNCLEAR: 0.01}
    result = apply_safety(text, confident_ok)
    assert result == Classification(Intent.EMERGENCY, 1.0, "emergency_phrase")


@pytest.mark.parametrize(
    "text",
    [
        "I don't need any help",
        "no help needed",
        "도와줄 필요 없어요",
        "안 도와줘도 돼요",
        "I fell asleep on the sofa",
        "오래 살려고 운동해요",  # 살려고 = in order to live, not 살려 (save me)
        "안 도와 줘도 돼요",
    ],
)
def test_negated_help_and_harmless_lookalikes_are_not_emergency_phrases(text: str) -> None:
    confident_ok = {Intent.OK: 0.97, Intent.UNWELL: 0.01, Intent.EMERGENCY: 0.01, Intent.UNCLEAR: 0.01}
    assert apply_safety(text, confident_ok).source != "emergency_phrase"


@pytest.mark.parametrize(
    "text",
    ["안 괜찮아요", "괜찮지가 않아요", "I'm not okay", "not feeling so good", "괜찮은데 허리가 아파요"],
)
def test_negated_fine_is_unwell_even_when_the_model_says_ok(text: str) -> None:
    confident_ok = {Intent.OK: 0.97, Intent.UNWELL: 0.01, Intent.EMERGENCY: 0.01, Intent.UNCLEAR: 0.01}
    assert apply_safety(text, confident_ok) == Classification(Intent.UNWELL, 1.0, "negation")


@pytest.mark.parametrize("text", ["안 괜 찮 아", "괜 찮 지 않 아 요", "좋 지 않 아"])
def test_a_negated_fine_split_by_speech_to_text_is_still_unwell(text: str) -> None:
    # Korean speech-to-text spaces words at random: the negation is also read without spaces.
    confident_ok = {Intent.OK: 0.97, Intent.UNWELL: 0.01, Intent.EMERGENCY: 0.01, Intent.UNCLEAR: 0.01}
    assert apply_safety(text, confident_ok) == Classification(Intent.UNWELL, 1.0, "negation")


def test_an_unsure_ok_is_asked_again() -> None:
    unsure_ok = {Intent.OK: 0.5, Intent.UNWELL: 0.2, Intent.EMERGENCY: 0.1, Intent.UNCLEAR: 0.2}
    result = apply_safety("괜찮아요", unsure_ok)
    assert (result.intent, result.source) == (Intent.UNCLEAR, "low_confidence")


def test_an_ok_heard_badly_by_speech_recognition_is_asked_again() -> None:
    sure_ok = {Intent.OK: 0.95, Intent.UNWELL: 0.02, Intent.EMERGENCY: 0.01, Intent.UNCLEAR: 0.02}
    assert apply_safety("괜찮아요", sure_ok, speech_confidence=0.9).intent == Intent.OK
    assert apply_safety("괜찮아요", sure_ok, speech_confidence=0.1).intent == Intent.UNCLEAR
    assert classify("괜찮아요", speech_confidence=0.1).intent == Intent.UNCLEAR


@pytest.mark.parametrize("text", ["I went to the market", "티비 보고 있었어요", "I'm in pain"])
def test_ok_must_be_said_not_guessed(text: str) -> None:
    sure_ok = {Intent.OK: 0.95, Intent.UNWELL: 0.02, Intent.EMERGENCY: 0.01, Intent.UNCLEAR: 0.02}
    assert apply_safety(text, sure_ok) != Classification(Intent.OK, 0.95)
    assert classify(text).intent != Intent.OK


probabilities = st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4).filter(lambda ps: sum(ps) > 0)


@given(ps=probabilities, text=st.sampled_from(EMERGENCY_PHRASES + [e[0] for e in EXPECTED]))
def test_safety_layer_only_raises_emergency_and_only_lowers_ok(ps: list[float], text: str) -> None:
    total = sum(ps)
    probs = {intent: p / total for intent, p in zip(INTENTS, ps, strict=True)}
    model_intent = max(probs, key=lambda i: probs[i])
    result = apply_safety(text, probs)
    if model_intent == Intent.EMERGENCY:
        assert result.intent == Intent.EMERGENCY  # never lowered
    if result.intent == Intent.OK:
        assert model_intent == Intent.OK  # ok is never invented by a rule
    if model_intent != Intent.OK and result.intent != Intent.EMERGENCY:
        assert result.intent == model_intent  # rules leave unwell/unclear alone


@pytest.mark.parametrize(
    ("digits", "intent"),
    [("1", Intent.OK), ("2", Intent.EMERGENCY), (" 2 ", Intent.EMERGENCY), ("12", Intent.EMERGENCY)]
    + [(d, Intent.UNCLEAR) for d in ("3", "9", "0", "*", "#", "")],
)
def test_keys(digits: str, intent: Intent) -> None:
    result = classify_digits(digits)
    assert result.intent == intent
    assert result.confidence == 1.0


def test_keys_typed_or_spoken_as_text_follow_the_key_rule() -> None:
    assert classify("1").intent == Intent.OK
    assert classify("1번이요").intent == Intent.OK
    assert classify("number one").intent == Intent.OK
    assert classify("2").intent == Intent.EMERGENCY
    assert classify("119").intent == Intent.EMERGENCY


def test_classify_lines_gives_one_json_ready_row_per_input() -> None:
    rows = classify_lines(["괜찮아요", "살려줘", ""])
    assert [r["text"] for r in rows] == ["괜찮아요", "살려줘", ""]
    assert [r["intent"] for r in rows] == ["ok", "emergency", "unclear"]
    for row in rows:
        assert set(row) == {"text", "intent", "risk", "confidence", "source"}
        assert row["risk"] is None
        assert isinstance(row["confidence"], float) and 0.0 <= row["confidence"] <= 1.0


def test_normalise_drops_stt_punctuation_but_keeps_questions_and_apostrophes() -> None:
    assert normalise("  네, 괜찮아요!! ") == "네 괜찮아요"
    assert normalise("여보세요?") == "여보세요?"
    assert normalise("I’M NOT okay.") == "i'm not okay"


def test_normalise_reads_either_single_quote_as_an_apostrophe_and_an_underscore_as_a_space() -> None:
    assert normalise("I‘M NOT okay.") == "i'm not okay"  # a left quote typed or heard for ’
    assert normalise("not_okay") == "not okay"
    # What the safety rules then hear:
    assert self_harm_rule("I don‘t want to live anymore") == "hopeless_living"
    assert has_emergency_phrase("help_me")
