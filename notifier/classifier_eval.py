"""How well the reply classifier does, measured two ways (figures in docs/calls.md):

* :func:`evaluate` — a stratified held-out split of the *shipped training examples*: the model
  is trained on the rest only.
* :func:`evaluate_file` — the project's own *evaluation set* (``benchmarks/data/replies_eval_*.csv``),
  written apart from the training data and never trained on (a test keeps the two disjoint),
  with regional dialects, older speakers' phrasing and speech-to-text errors. Each row falls in
  a fixed ``dev`` or ``test`` part by a hash of its text; anything tuned by looking at mistakes
  may look at ``dev`` only, and the figures reported are ``test``'s. Reached by
  ``anbu classify --eval FILE ...``.

Both report the whole classifier (model + rules) per intent, per language and (for the
evaluation set) per tag, plus self-harm risk recall and precision.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from core.enums import Intent, Risk
from notifier.classifier import (
    INTENTS,
    Classification,
    Example,
    ReplyModel,
    default_model,
    load_examples,
    normalise,
    read_examples,
)

Split = Literal["dev", "test", "all"]
DEV_SHARE_PERCENT = 30


def split_of(text: str) -> Literal["dev", "test"]:
    """The fixed part of the evaluation set a row belongs to (by a hash of its normalised text)."""
    digest = hashlib.sha256(normalise(text).encode("utf-8")).digest()
    return "dev" if digest[0] * 100 // 256 < DEV_SHARE_PERCENT else "test"


def _scores(
    truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted, strict=True))
        n_pred = sum(p == label for p in predicted)
        n_true = sum(t == label for t in truth)
        out[label] = {
            "precision": round(tp / n_pred, 4) if n_pred else 0.0,
            "recall": round(tp / n_true, 4) if n_true else 0.0,
            "support": n_true,
        }
    return out


def _risk_scores(examples: Sequence[Example], results: Sequence[Classification]) -> dict[str, float]:
    truth = [e.risk == Risk.SELF_HARM for e in examples]
    flagged = [r.risk == Risk.SELF_HARM for r in results]
    tp = sum(t and f for t, f in zip(truth, flagged, strict=True))
    return {
        "precision": round(tp / sum(flagged), 4) if any(flagged) else 0.0,
        "recall": round(tp / sum(truth), 4) if any(truth) else 0.0,
        "support": sum(truth),
        # Self-harm talk that was not flagged but still reached a person as an emergency.
        "emergency_recall": round(
            sum(t and r.intent == Intent.EMERGENCY for t, r in zip(truth, results, strict=True)) / sum(truth),
            4,
        )
        if any(truth)
        else 0.0,
    }


def report(examples: Sequence[Example], results: Sequence[Classification]) -> dict[str, Any]:
    """Per intent (overall and per language), self-harm risk, accuracy and the mistakes."""
    labels = [i.value for i in INTENTS]

    def block(indices: list[int]) -> dict[str, Any]:
        sub_e = [examples[i] for i in indices]
        sub_r = [results[i] for i in indices]
        truth = [e.intent.value for e in sub_e]
        predicted = [r.intent.value for r in sub_r]
        return {
            "n": len(indices),
            "accuracy": round(sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(indices), 4)
            if indices
            else 0.0,
            "per_intent": _scores(truth, predicted, labels),
            "self_harm": _risk_scores(sub_e, sub_r),
        }

    everything = list(range(len(examples)))
    languages = sorted({e.language for e in examples})
    mistakes = [
        {
            "text": e.text,
            "language": e.language,
            "expected": e.intent.value + (f"/{e.risk.value}" if e.risk else ""),
            "got": r.intent.value + (f"/{r.risk.value}" if r.risk else ""),
            "source": r.source,
        }
        for e, r in zip(examples, results, strict=True)
        if e.intent != r.intent or e.risk != r.risk
    ]
    return {
        **block(everything),
        "per_language": {
            lang: block([i for i in everything if examples[i].language == lang]) for lang in languages
        },
        "mistakes": mistakes,
    }


def evaluate(seed: int = 0, test_fraction: float = 0.25) -> dict[str, Any]:
    """Held-out split of the shipped examples, stratified by language and label (self-harm apart);
    the model is trained on the rest only. ``model_only`` gives the model's own argmax intent
    without any rule, to show what the rules add."""
    from sklearn.model_selection import train_test_split

    examples = load_examples()
    train, test = train_test_split(
        examples,
        test_size=test_fraction,
        random_state=seed,
        stratify=[f"{e.language}:{e.label}" for e in examples],
    )
    model = ReplyModel.from_examples(train)
    results = model.classify_many([e.text for e in test])
    raw = [max(p, key=lambda i: p[i]).value for p, _ in model.predict_many([e.text for e in test])]
    return {
        "seed": seed,
        "test_fraction": test_fraction,
        "n_train": len(train),
        "n_test": len(test),
        **report(test, results),
        "model_only": _scores([e.intent.value for e in test], raw, [i.value for i in INTENTS]),
    }


def load_eval(paths: Iterable[Path], split: Split = "test") -> list[Example]:
    """Rows of evaluation files ``text,intent,risk,tags``; the language is the file name's
    ``_ko`` / ``_en`` suffix unless a ``language`` column says otherwise."""
    rows: list[Example] = []
    for path in paths:
        language = path.stem.rsplit("_", 1)[-1]
        for example in read_examples(path, language):
            if split == "all" or split_of(example.text) == split:
                rows.append(example)
    return rows


def read_tags(paths: Iterable[Path]) -> dict[tuple[str, str], list[str]]:
    """(language, text) → the row's tags (``tags`` column, ``;``-separated)."""
    import csv

    tags: dict[tuple[str, str], list[str]] = {}
    for path in paths:
        language = path.stem.rsplit("_", 1)[-1]
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                value = row.get("tags") or ""
                tags[(row.get("language") or language, row["text"] or "")] = [
                    t for t in value.split(";") if t
                ]
    return tags


def evaluate_file(
    paths: Sequence[Path], split: Split = "test", model: ReplyModel | None = None
) -> dict[str, Any]:
    """The shipped classifier on an evaluation set: :func:`report`, plus per-tag figures."""
    model = model or default_model()
    examples = load_eval(paths, split)
    if not examples:
        raise ValueError(f"no rows in the {split!r} part of {', '.join(str(p) for p in paths)}")
    results = model.classify_many([e.text for e in examples])
    out = {"split": split, **report(examples, results)}
    tags = read_tags(paths)
    by_tag: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        for tag in tags.get((e.language, e.text), []):
            by_tag.setdefault(tag, []).append(i)
    out["per_tag"] = {
        tag: {
            "n": len(idx),
            "correct": sum(
                examples[i].intent == results[i].intent and examples[i].risk == results[i].risk for i in idx
            ),
        }
        for tag, idx in sorted(by_tag.items())
    }
    return out
