"""What did the resident mean? Reply classifier for the wellness call and resident SMS.

Two layers:

1. A small bilingual model (word and inside-word character n-grams + logistic regression,
   :mod:`notifier.classifier_features`) trained at first use from the shipped examples in
   ``notifier/data/replies_{ko,en}.csv``; nothing is pickled. Besides the four intents it learns
   a fifth label, self-harm talk, which it reports as ``emergency`` with ``risk == "self_harm"``.
2. Rules (:mod:`notifier.classifier_rules`) with the error costs in mind. Missing an emergency is
   the worst error, so self-harm and emergency phrases (both languages) can only *raise* a verdict
   to ``emergency``. Calling a resident fine who is not is the next worst, so ``ok`` must be
   earned: a negated "I'm fine" becomes ``unwell``; an ``ok`` that does not actually say "fine",
   that talks of a death, or that the model or speech recognition is unsure of, becomes
   ``unclear`` or ``unwell``. A bare yes or no ("응", "그래", "nope") is decided by a rule and is
   never an emergency.

Keys: 1 = "I'm fine" (``ok``); 2 = "I need help", treated as ``emergency`` because the script
offers it as the one way to ask for help and a resident who presses it may not be able to say more.

``confidence`` is the model's probability for the returned intent (for a model self-harm verdict:
for self-harm); decisions made by a rule report 1.0, and ``source`` says which rule. ``risk``
names a danger that needs its own protocol (only ``self_harm`` so far); it is ``None`` otherwise.
"""

from __future__ import annotations

import csv
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.enums import Intent, Risk
from notifier.classifier_features import features, joined_features, subword_features, word_features
from notifier.classifier_rules import (
    SPOKEN_ONE,
    denies_an_emergency,
    has_death_talk,
    has_emergency_phrase,
    has_negated_wellbeing,
    has_ok_cue,
    is_everyday,
    is_hyperbole,
    is_other_death_talk,
    mentions_life_or_death,
    normalise,
    self_harm_rule,
    short_answer,
)

__all__ = [
    "INTENTS",
    "LABELS",
    "Classification",
    "Example",
    "ReplyModel",
    "apply_safety",
    "classify",
    "classify_digits",
    "classify_lines",
    "default_model",
    "features",
    "has_emergency_phrase",
    "load_examples",
    "normalise",
    "rule_verdict",
    "short_answer",
    "warm_up",
]

DATA_DIR = Path(__file__).with_name("data")
LANGUAGES = ("ko", "en")
INTENTS = (Intent.OK, Intent.UNWELL, Intent.EMERGENCY, Intent.UNCLEAR)
SELF_HARM_LABEL = "self_harm"
# What the model learns: the four intents, and self-harm talk apart from other emergencies.
LABELS = (*(i.value for i in INTENTS), SELF_HARM_LABEL)

# Below this model probability an "ok" is not believed; the call asks again instead.
OK_MIN_CONFIDENCE = 0.6
# Twilio's own speech-recognition confidence below which an "ok" is not believed either.
SPEECH_MIN_CONFIDENCE = 0.3
# A model probability of self-harm talk at or above this is flagged even when another label is
# more likely: for a life-safety service a human call is the cheaper error (docs/calls.md).
SELF_HARM_MIN_PROBABILITY = 0.35


@dataclass(frozen=True)
class Classification:
    intent: Intent
    confidence: float
    # model | digits | spoken_key | empty | self_harm_phrase | emergency_phrase | short_answer
    # | negation | death_talk | no_ok_cue | low_confidence
    source: str = "model"
    risk: Risk | None = None


@dataclass(frozen=True)
class Example:
    text: str
    intent: Intent
    language: str
    risk: Risk | None = None

    @property
    def label(self) -> str:
        return SELF_HARM_LABEL if self.risk == Risk.SELF_HARM else self.intent.value


# ---------------------------------------------------------------- the decision (pure)


def rule_verdict(text: str) -> Classification | None:
    """The verdicts no model output can change: self-harm talk, then other emergencies."""
    if self_harm_rule(text) is not None:
        return Classification(Intent.EMERGENCY, 1.0, "self_harm_phrase", Risk.SELF_HARM)
    if has_emergency_phrase(text):
        return Classification(Intent.EMERGENCY, 1.0, "emergency_phrase")
    return None


def apply_safety(
    text: str,
    probabilities: Mapping[Intent, float],
    *,
    speech_confidence: float | None = None,
    self_harm: float = 0.0,
) -> Classification:
    """Pure: the model's view of ``text`` → the verdict we act on.

    ``probabilities`` are per intent (self-harm talk counted inside ``emergency``); ``self_harm``
    is the model's probability of the self-harm label alone.
    """
    rule = rule_verdict(text)
    if rule is not None:
        return rule
    short = short_answer(text)
    if short == "no":
        return Classification(Intent.UNWELL, 1.0, "short_answer")
    if short == "mixed":
        return Classification(Intent.UNCLEAR, 1.0, "short_answer")
    probs = dict(probabilities)
    if short is not None or is_hyperbole(text) or is_everyday(text):
        # A bare yes, "배고파 죽겠어" / "dying to see them", or "자다가 깼어" / "I woke up from a
        # nap": its n-grams may look like danger, but only a rule can make it an emergency. The
        # other labels decide.
        probs = _without(probs, probs.get(Intent.EMERGENCY, 0.0))
        self_harm = 0.0
    elif denies_an_emergency(text):
        # "응급 아니야", "not an emergency": the danger words are there only to be denied, and no
        # rule found another danger in the rest. The model's vote for other emergencies is set
        # aside; its self-harm vote is judged as usual below.
        probs = _without(probs, probs.get(Intent.EMERGENCY, 0.0) - self_harm)
    elif self_harm > 0.0 and (is_other_death_talk(text) or not mentions_life_or_death(text)):
        # Another's death, a past brush with death, "I don't want to die"; or low mood that says
        # nothing of dying, living or ending: not the speaker's own wish to die, so the model's
        # self-harm guess is not believed (its other votes stand).
        probs = _without(probs, self_harm)
        self_harm = 0.0
    # The model's top label among five: self-harm talk and other emergencies count apart here, so
    # that two halves of "emergency" do not together outvote a clear "unwell" (docs/calls.md).
    other_emergency = probs.get(Intent.EMERGENCY, 0.0) - self_harm
    votes = {**probs, Intent.EMERGENCY: max(other_emergency, self_harm)}
    model_intent = max(votes, key=lambda i: votes[i])
    p = probs[model_intent]
    stt_unsure = speech_confidence is not None and speech_confidence < SPEECH_MIN_CONFIDENCE
    if short == "yes":
        # An "ok" like any other: the model must be sure it is one, and so must speech recognition.
        if model_intent == Intent.OK and p >= OK_MIN_CONFIDENCE and not stt_unsure:
            return Classification(Intent.OK, p, "short_answer")
        return Classification(Intent.UNCLEAR, probs.get(Intent.UNCLEAR, 0.0), "short_answer")
    if self_harm >= SELF_HARM_MIN_PROBABILITY or (
        model_intent == Intent.EMERGENCY and self_harm >= other_emergency
    ):
        return Classification(Intent.EMERGENCY, self_harm, "model", Risk.SELF_HARM)
    if model_intent == Intent.EMERGENCY:
        return Classification(Intent.EMERGENCY, p)
    if model_intent != Intent.OK:
        return Classification(model_intent, p)
    if has_negated_wellbeing(text):
        return Classification(Intent.UNWELL, 1.0, "negation")
    if has_death_talk(text):
        return Classification(Intent.UNWELL, 1.0, "death_talk")
    if not has_ok_cue(text):
        return Classification(Intent.UNCLEAR, probs.get(Intent.UNCLEAR, 0.0), "no_ok_cue")
    if p < OK_MIN_CONFIDENCE or stt_unsure:
        return Classification(Intent.UNCLEAR, probs.get(Intent.UNCLEAR, 0.0), "low_confidence")
    return Classification(Intent.OK, p)


def _without(probs: dict[Intent, float], emergency_mass: float) -> dict[Intent, float]:
    """``probs`` with ``emergency_mass`` taken out of ``emergency``. Not renormalised on purpose:
    an ``ok`` must still reach OK_MIN_CONFIDENCE on the model's own probability."""
    out = dict(probs)
    out[Intent.EMERGENCY] = max(0.0, out.get(Intent.EMERGENCY, 0.0) - emergency_mass)
    return out


def classify_digits(digits: str) -> Classification:
    """Key presses: 1 = fine, 2 = help (emergency); anything containing a 2 counts as help."""
    keys = digits.strip()
    if "2" in keys:
        return Classification(Intent.EMERGENCY, 1.0, "digits")
    if keys == "1":
        return Classification(Intent.OK, 1.0, "digits")
    return Classification(Intent.UNCLEAR, 1.0, "digits" if keys else "empty")


# ---------------------------------------------------------------- the model


def default_views() -> Any:
    """TF-IDF over the three views of :mod:`notifier.classifier_features`."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            (name, TfidfVectorizer(analyzer=analyzer, sublinear_tf=True))
            for name, analyzer in (
                ("words", word_features),
                ("subwords", subword_features),
                ("joined", joined_features),
            )
        ]
    )


class ReplyModel:
    """A fitted pipeline over :data:`LABELS`; ``predict(text)`` gives P(intent) and P(self-harm)."""

    def __init__(self, texts: Sequence[str], labels: Sequence[str], *, views: Any | None = None) -> None:
        """``views``: an sklearn transformer from texts to features (default :func:`default_views`;
        ``benchmarks/reply_features.py`` passes others to compare)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        classifier = LogisticRegression(class_weight="balanced", C=20.0, solver="newton-cg", max_iter=1000)
        self._pipeline: Any = make_pipeline(views if views is not None else default_views(), classifier)
        self._pipeline.fit(list(texts), list(labels))
        self._labels: list[str] = [str(c) for c in self._pipeline.classes_]

    @classmethod
    def from_examples(cls, examples: Sequence[Example], *, views: Any | None = None) -> ReplyModel:
        return cls([e.text for e in examples], [e.label for e in examples], views=views)

    def label_probabilities(self, text: str) -> dict[str, float]:
        return self.label_probabilities_many([text])[0]

    def label_probabilities_many(self, texts: Sequence[str]) -> list[dict[str, float]]:
        # One call for many texts: sklearn's per-call overhead dominates a single short reply.
        rows = self._pipeline.predict_proba(list(texts)) if texts else []
        return [{label: float(p) for label, p in zip(self._labels, row, strict=True)} for row in rows]

    def predict(self, text: str) -> tuple[dict[Intent, float], float]:
        """P(intent) with self-harm talk counted as ``emergency``, and P(self-harm) alone."""
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[tuple[dict[Intent, float], float]]:
        out: list[tuple[dict[Intent, float], float]] = []
        for labels in self.label_probabilities_many(texts):
            self_harm = labels.get(SELF_HARM_LABEL, 0.0)
            probs = {intent: labels.get(intent.value, 0.0) for intent in INTENTS}
            probs[Intent.EMERGENCY] += self_harm
            out.append((probs, self_harm))
        return out

    def probabilities(self, text: str) -> dict[Intent, float]:
        return self.predict(text)[0]

    def classify(self, text: str, *, speech_confidence: float | None = None) -> Classification:
        return self.classify_many([text], [speech_confidence])[0]

    def classify_many(
        self, texts: Sequence[str], speech_confidences: Sequence[float | None] | None = None
    ) -> list[Classification]:
        """:meth:`classify` for many replies at once (the model is asked once, for those that need it)."""
        confidences = list(speech_confidences) if speech_confidences is not None else [None] * len(texts)
        results: list[Classification | None] = [_without_model(text) for text in texts]
        pending = [i for i, result in enumerate(results) if result is None]
        for i, (probs, self_harm) in zip(
            pending, self.predict_many([texts[i] for i in pending]), strict=True
        ):
            results[i] = apply_safety(texts[i], probs, speech_confidence=confidences[i], self_harm=self_harm)
        return [r for r in results if r is not None]


def _without_model(text: str) -> Classification | None:
    """The verdicts reached before the model is asked: silence, rules, keys typed or spoken."""
    norm = normalise(text)
    if not norm.replace("?", "").strip():
        return Classification(Intent.UNCLEAR, 1.0, "empty")
    rule = rule_verdict(text)  # before the digit rule: "119" is digits too
    if rule is not None:
        return rule
    if norm.isdigit():  # "1", "2" typed in an SMS or recognised as a number
        return classify_digits(norm)
    if SPOKEN_ONE.match(norm):
        return Classification(Intent.OK, 1.0, "spoken_key")
    return None


def load_examples(languages: Iterable[str] = LANGUAGES, data_dir: Path = DATA_DIR) -> list[Example]:
    """The shipped training examples; a malformed row fails loudly with its file and line."""
    examples: list[Example] = []
    for language in languages:
        path = data_dir / f"replies_{language}.csv"
        examples.extend(read_examples(path, language))
    return examples


def read_examples(path: Path, language: str) -> list[Example]:
    """Rows ``text,intent[,risk]`` of one CSV file (the training data and the evaluation set)."""
    examples: list[Example] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for line_no, row in enumerate(csv.DictReader(handle), start=2):
            try:
                risk = Risk(row["risk"]) if row.get("risk") else None
                example = Example(
                    row["text"] or "", Intent(row["intent"]), row.get("language") or language, risk
                )
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{path.name}:{line_no}: bad row {row!r}") from exc
            if risk is not None and example.intent != Intent.EMERGENCY:
                raise ValueError(f"{path.name}:{line_no}: risk {risk.value} is only for intent emergency")
            examples.append(example)
    return examples


_model: ReplyModel | None = None
_model_lock = threading.Lock()


def default_model() -> ReplyModel:
    """The process-wide model, trained on all shipped examples at first use (a few seconds)."""
    global _model
    with _model_lock:
        if _model is None:
            _model = ReplyModel.from_examples(load_examples())
        return _model


def warm_up() -> None:
    """Train now rather than on the first webhook (call at start-up)."""
    default_model()


# ---------------------------------------------------------------- public API


def classify(text: str, *, speech_confidence: float | None = None) -> Classification:
    """Classify one reply. ``speech_confidence`` is Twilio's ``Confidence`` for spoken replies."""
    return default_model().classify(text, speech_confidence=speech_confidence)


def as_row(text: str, result: Classification) -> dict[str, object]:
    """One JSON-ready line of ``anbu classify``."""
    return {
        "text": text,
        "intent": result.intent.value,
        "risk": result.risk.value if result.risk else None,
        "confidence": round(result.confidence, 4),
        "source": result.source,
    }


def classify_lines(texts: Iterable[str]) -> list[dict[str, object]]:
    """For ``anbu classify --jsonl``: one ``{"text", "intent", "risk", "confidence", "source"}`` per line."""
    texts = list(texts)
    return [
        as_row(text, result) for text, result in zip(texts, default_model().classify_many(texts), strict=True)
    ]
