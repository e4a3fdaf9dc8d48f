"""The classifier's evaluation sets: kept apart from the training examples and from each other,
well-formed, varied, and measured by ``anbu classify --eval``. Figures in docs/calls.md."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from core.enums import Intent, Risk
from notifier.classifier import load_examples, normalise
from notifier.classifier_eval import evaluate_file, load_eval, read_tags, split_of

DATA = Path(__file__).resolve().parents[3] / "benchmarks/data"
FIRST_BATCH = [DATA / "replies_eval_ko.csv", DATA / "replies_eval_en.csv"]
SECOND_BATCH = [DATA / "replies_heldout_ko.csv", DATA / "replies_heldout_en.csv"]
THIRD_BATCH = [DATA / "replies_heldout3_ko.csv", DATA / "replies_heldout3_en.csv"]


def _texts(paths: list[Path]) -> set[str]:
    # Silence ("") is the one reply every set contains; it is decided by a rule, not the model.
    return {normalise(e.text) for e in load_eval(paths, "all")} - {""}


def test_no_evaluation_reply_is_a_training_example() -> None:
    trained = {normalise(e.text) for e in load_examples()}
    assert _texts(FIRST_BATCH) & trained == set()
    assert _texts(SECOND_BATCH) & trained == set()
    assert _texts(THIRD_BATCH) & trained == set()


def test_the_second_batch_repeats_nothing_of_the_first() -> None:
    assert _texts(SECOND_BATCH) & _texts(FIRST_BATCH) == set()


def test_the_third_batch_repeats_nothing_of_the_others() -> None:
    assert _texts(THIRD_BATCH) & (_texts(FIRST_BATCH) | _texts(SECOND_BATCH)) == set()


def test_the_third_batch_covers_what_the_others_had_thin() -> None:
    # Written for self-harm talk in each regional form and through speech-to-text errors, denied
    # emergencies and everyday phrases made of danger's words (docs/calls.md, "Third batch").
    rows = load_eval(THIRD_BATCH, "all")
    tags = read_tags(THIRD_BATCH)
    self_harm_tags = Counter(t for e in rows if e.risk == Risk.SELF_HARM for t in tags[(e.language, e.text)])
    for region in ("경상", "전라", "충청", "제주"):
        assert self_harm_tags[region] >= 4, (region, self_harm_tags[region])
    assert (
        self_harm_tags["stt-spacing"] + self_harm_tags["stt-homophone"] + self_harm_tags["stt-particles"] >= 8
    )
    every = Counter(t for ts in tags.values() for t in ts)
    assert every["emergency-negated"] >= 20
    assert every["everyday"] >= 12
    assert every["short"] >= 15
    texts = [(e.language, normalise(e.text)) for e in rows]
    assert len(texts) == len(set(texts))


@pytest.mark.parametrize("paths", [FIRST_BATCH, SECOND_BATCH], ids=["first", "second"])
def test_each_batch_is_varied_in_both_languages(paths: list[Path]) -> None:
    rows = load_eval(paths, "all")
    for language in ("ko", "en"):
        mine = [e for e in rows if e.language == language]
        assert len(mine) >= 120
        intents = Counter(e.intent for e in mine)
        assert min(intents[i] for i in Intent) >= 15, intents
        assert sum(e.risk == Risk.SELF_HARM for e in mine) >= 25
    tags = Counter(t for ts in read_tags(paths).values() for t in ts)
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
        assert tags[needed] >= 4, (needed, tags[needed])
    texts = [(e.language, normalise(e.text)) for e in rows]
    assert len(texts) == len(set(texts)), "duplicate rows inflate the figures"


def test_the_first_batch_has_fixed_dev_and_test_parts() -> None:
    rows = load_eval(FIRST_BATCH, "all")
    parts = Counter(split_of(e.text) for e in rows)
    assert 0.2 < parts["dev"] / len(rows) < 0.4
    assert all(split_of(e.text) == split_of(e.text.upper()) for e in rows)  # by normalised text
    assert len(load_eval(FIRST_BATCH, "dev")) + len(load_eval(FIRST_BATCH, "test")) == len(rows)


@pytest.fixture(scope="module")
def reports() -> dict[str, dict[str, Any]]:
    return {
        "first": evaluate_file(FIRST_BATCH, split="all"),
        "second": evaluate_file(SECOND_BATCH, split="all"),
        "third": evaluate_file(THIRD_BATCH, split="all"),
    }


@pytest.mark.parametrize("batch", ["first", "second", "third"])
def test_the_safety_targets_hold_on_both_batches(reports: dict[str, dict[str, Any]], batch: str) -> None:
    # A regression guard: both batches have been read by now (docs/calls.md says what was
    # measured before any change, and what after).
    report = reports[batch]
    assert report["per_intent"]["emergency"]["recall"] >= 0.98, report["mistakes"]
    assert report["per_intent"]["ok"]["precision"] >= 0.97, report["mistakes"]
    assert report["self_harm"]["emergency_recall"] >= 0.96, report["mistakes"]
    for language in ("ko", "en"):
        mine = report["per_language"][language]
        assert mine["per_intent"]["emergency"]["recall"] >= 0.98, (language, report["mistakes"])
        assert mine["per_intent"]["ok"]["precision"] >= 0.97, (language, report["mistakes"])


def test_the_third_batch_raises_few_false_alarms(reports: dict[str, dict[str, Any]]) -> None:
    # Before its rules (denied dangers, everyday phrases) 0.762: one emergency verdict in four was false.
    assert reports["third"]["per_intent"]["emergency"]["precision"] >= 0.9, reports["third"]["mistakes"]


def test_a_bad_row_names_its_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "replies_eval_ko.csv"
    bad.write_text("text,intent,risk,tags\n괜찮아요,ok,,plain\n살려줘,panic,,plain\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"replies_eval_ko.csv:3"):
        load_eval([bad], "all")
    bad.write_text("text,intent,risk,tags\n죽고 싶어,unwell,self_harm,x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="only for intent emergency"):
        load_eval([bad], "all")
