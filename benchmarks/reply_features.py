"""Reply classifier: the token-aware features against the plain character n-grams they replaced.

Same training data (five labels), same rules, same logistic regression; only the features differ:

* ``chars`` — the previous features: ``char_wb`` 1–4 on the normalised text + ``char`` 2–4 with
  spaces removed (a bare "응" shared n-grams with "응급");
* ``tokens`` — :func:`notifier.classifier.default_views` (whole words + n-grams inside words).

Reported: held-out splits of the shipped examples (seeds 0..N-1: mean and worst), both batches
of the evaluation set (whole), what the *model alone* says of bare yes/no words, and training
time. Figures in docs/calls.md.

    .venv/bin/python benchmarks/reply_features.py --seeds 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.enums import Intent
from notifier.classifier import ReplyModel, default_views, load_examples, normalise
from notifier.classifier_eval import evaluate_file, load_eval, report

BATCHES = {
    "first_batch": [Path("benchmarks/data/replies_eval_ko.csv"), Path("benchmarks/data/replies_eval_en.csv")],
    "second_batch": [
        Path("benchmarks/data/replies_heldout_ko.csv"),
        Path("benchmarks/data/replies_heldout_en.csv"),
    ],
}
SHORT_WORDS = [
    "응",
    "응응",
    "어",
    "그래",
    "그럼",
    "네",
    "예",
    "맞아",
    "아니",
    "아니요",
    "yeah",
    "yes",
    "yep",
    "no",
    "nope",
    "nah",
]


def char_views() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            (
                "spaced",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(1, 4), preprocessor=normalise, sublinear_tf=True
                ),
            ),
            (
                "joined",
                TfidfVectorizer(
                    analyzer="char",
                    ngram_range=(2, 4),
                    preprocessor=lambda t: normalise(t).replace(" ", ""),
                    sublinear_tf=True,
                ),
            ),
        ]
    )


VIEWS = {"chars": char_views, "tokens": default_views}


def held_out(views: Callable[[], Any], seed: int) -> dict[str, Any]:
    from sklearn.model_selection import train_test_split

    examples = load_examples()
    train, test = train_test_split(
        examples, test_size=0.25, random_state=seed, stratify=[f"{e.language}:{e.label}" for e in examples]
    )
    model = ReplyModel.from_examples(train, views=views())
    results = model.classify_many([e.text for e in test])
    raw = [max(p, key=lambda i: p[i]) for p, _ in model.predict_many([e.text for e in test])]
    out = report(test, results)
    out["model_only_accuracy"] = sum(r == e.intent for r, e in zip(raw, test, strict=True)) / len(test)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    summary: dict[str, dict[str, Any]] = {}
    for name, views in VIEWS.items():
        runs = [held_out(views, seed) for seed in range(args.seeds)]

        def stat(
            get: Callable[[dict[str, Any]], float], runs: list[dict[str, Any]] = runs
        ) -> dict[str, float]:
            values = [get(r) for r in runs]
            return {"mean": round(statistics.fmean(values), 4), "worst": round(min(values), 4)}

        started = time.perf_counter()
        model = ReplyModel.from_examples(load_examples(), views=views())
        train_s = time.perf_counter() - started
        batches = {batch: evaluate_file(paths, split="all", model=model) for batch, paths in BATCHES.items()}
        shorts = {
            w: max(p, key=lambda i: p[i]).value
            for w, (p, _) in zip(SHORT_WORDS, model.predict_many(SHORT_WORDS), strict=True)
        }
        summary[name] = {
            "held_out": {
                "accuracy": stat(lambda r: r["accuracy"]),
                "model_only_accuracy": stat(lambda r: r["model_only_accuracy"]),
                "ok_precision": stat(lambda r: r["per_intent"]["ok"]["precision"]),
                "ok_recall": stat(lambda r: r["per_intent"]["ok"]["recall"]),
                "emergency_recall": stat(lambda r: r["per_intent"]["emergency"]["recall"]),
                "emergency_precision": stat(lambda r: r["per_intent"]["emergency"]["precision"]),
                "self_harm_recall": stat(lambda r: r["self_harm"]["recall"]),
                "self_harm_precision": stat(lambda r: r["self_harm"]["precision"]),
            },
            **{
                batch: {
                    "n": ev["n"],
                    "accuracy": ev["accuracy"],
                    "ok_precision": ev["per_intent"]["ok"]["precision"],
                    "ok_recall": ev["per_intent"]["ok"]["recall"],
                    "emergency_recall": ev["per_intent"]["emergency"]["recall"],
                    "emergency_precision": ev["per_intent"]["emergency"]["precision"],
                    "self_harm_recall": ev["self_harm"]["recall"],
                    "self_harm_precision": ev["self_harm"]["precision"],
                }
                for batch, ev in batches.items()
            },
            "model_alone_on_bare_words": {
                "emergency": [w for w, i in shorts.items() if i == Intent.EMERGENCY.value],
                "ok": [w for w, i in shorts.items() if i == Intent.OK.value],
            },
            "train_seconds": round(train_s, 2),
        }
    print(
        json.dumps(
            {
                "seeds": args.seeds,
                "eval_rows": {b: len(load_eval(p, "all")) for b, p in BATCHES.items()},
                **summary,
            },
            ensure_ascii=False,
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
