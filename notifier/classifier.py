"""What did the resident mean? Reply classifier for the wellness call and resident SMS.

Two layers:

1. A small bilingual model (character n-grams + logistic regression) trained at first use from
   the shipped examples in ``notifier/data/replies_{ko,en}.csv``; nothing is pickled.
2. A safety layer with the two error costs in mind. Missing an emergency is the worst error, so
   emergency phrases (both languages) can only *raise* a verdict to ``emergency``. Calling a
   resident fine who is not is the next worst, so ``ok`` must be earned: a negated "I'm fine"
   becomes ``unwell``; an ``ok`` that does not actually say "fine", or that the model or speech
   recognition is unsure of, becomes ``unclear`` (the call asks again).

Keys: 1 = "I'm fine" (``ok``); 2 = "I need help", treated as ``emergency`` because the script
offers it as the one way to ask for help and a resident who presses it may not be able to say more.

``confidence`` is the model's probability for the returned intent; decisions made by a rule
(keys, emergency phrases, negation, silence) report 1.0, and ``source`` says which rule.
"""

from __future__ import annotations

import csv
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.enums import Intent

DATA_DIR = Path(__file__).with_name("data")
LANGUAGES = ("ko", "en")
INTENTS = (Intent.OK, Intent.UNWELL, Intent.EMERGENCY, Intent.UNCLEAR)

# Below this model probability an "ok" is not believed; the call asks again instead.
OK_MIN_CONFIDENCE = 0.6
# Twilio's own speech-recognition confidence below which an "ok" is not believed either.
SPEECH_MIN_CONFIDENCE = 0.3


@dataclass(frozen=True)
class Classification:
    intent: Intent
    confidence: float
    # model | digits | spoken_key | empty | emergency_phrase | negation | no_ok_cue | low_confidence
    source: str = "model"


@dataclass(frozen=True)
class Example:
    text: str
    intent: Intent
    language: str


# ---------------------------------------------------------------- text normalisation


_KEEP = re.compile(r"[^\w\s?']")
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Case-fold and strip punctuation that speech-to-text adds at random; keep '?' and apostrophes."""
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'").replace("‘", "'")
    text = _KEEP.sub(" ", text).replace("_", " ")
    return _SPACES.sub(" ", text).strip()


def _without_spaces(text: str) -> str:
    # Korean STT spaces words inconsistently ("괜 찮아요", "안괜찮아요"); this view ignores spacing.
    return normalise(text).replace(" ", "")


# ---------------------------------------------------------------- safety rules (pure)


def _any(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


# Matched against normalise(text). Each pattern names a danger a caseworker must hear about now.
EMERGENCY_PATTERNS = _any(
    # Korean: asking for help / rescue ("도와줄 필요 없어요" must not match, so the verb ending is spelled out)
    r"살려|살리\s*주",
    r"도와\s*(줘(?!도)|주세요|주십시오|주세여|주이소|주소|주랑께|주라|도라)",
    r"도움이?\s*(좀\s*)?(필요해|필요합니|필요하다|필요한데)",
    r"도움\s*좀\s*주",
    r"빨리\s*(좀\s*)?와\s*(주|줘|요|라)",
    r"119|일일구|구급차|앰뷸런스|응급|큰일\s*났|^(아이고\s*)?급해(요)?$|빨리.*급해|급해요?\s*빨리",
    # falls and not getting up
    r"넘어졌|넘어져서|넘어져\s*있|쓰러졌|쓰러져|굴렀|미끄러(졌|져)|(침대|의자|계단|변기)에서\s*떨어졌",
    r"못\s*일어나|일어날\s*수(가)?\s*없|일어나지(를)?\s*못",
    r"못\s*움직|움직일\s*수(가)?\s*없|안\s*움직여|꼼짝(을|도)?\s*(못|안)",
    # breathing, chest, stroke signs, bleeding, consciousness
    r"숨이?\s*(좀\s*)?(차|가빠|막)",
    r"숨(을|이)?\s*(못|안)\s*쉬",
    r"숨\s*쉬기(가)?\s*(힘들|어렵|어려)|숨을?\s*쉴\s*수(가)?\s*없",
    r"가슴이?\s*(너무\s*)?(아파|답답|조여|조이|터질|쥐어)",
    r"심장이?\s*(너무\s*)?(아파|이상|빨리)",
    r"마비|말이\s*(잘\s*)?안\s*나와|앞이\s*안\s*보|한쪽\s*(팔|다리|손|얼굴|몸|이)|입이\s*돌아|힘이\s*안\s*들어가",
    r"발작|경련|쇼크|사람\s*(좀\s*)?불러|누구\s*(좀\s*)?불러",
    r"(?<!\S)피(가|를)?\s*(많이\s*)?(나|멈추지|토)",
    r"의식(을|이)?\s*(잃|없|흐|희미)|정신을\s*잃|기절",
    r"죽을\s*(것|거)\s*같|아파(서)?\s*죽(겠|겄)|나\s*죽(네|는다|겠)",
    r"약을\s*너무\s*많이|목에\s*(뭐가\s*)?걸렸",
    r"불이\s*(났|나요)|가스\s*냄새|연기가|도둑|누가\s*(집에\s*)?들어왔",
    # spoken key 2 ("이번" / "2번" / "둘" as the whole reply)
    r"^(2|이|둘)\s*번\s*(이요|요|입니다|이에요|누를게요|눌렀어요)?$|^둘$|헬프",
    # English
    r"\b(i'?ve|i have|i|just|had a)\s+(fallen|fell|fall)\b(?!\s+asleep)",
    r"\bfell (down|over)\b",
    r"\b(can'?t|cannot|can not|couldn'?t|unable to)\s+(get up|move|breathe|stand up)",
    r"\bon the floor\b|\bslipped (and|in|on|down|over)\b",
    r"short of breath|catch my breath|trouble breathing|hard to breathe|difficulty breathing|struggling to breathe",
    r"(hardly|barely) breathe|hurts to breathe|(legs?|arms?) (won'?t|don'?t) (work|move)",
    r"\bchest\s+(pain|hurts|is tight|feels tight|feels heavy|tightness|pressure)|pain in my chest|heart attack|heart (is racing|hurts)",
    r"\bstroke\b|\bnumb\b|can'?t feel my|slurred|drooping|seizure|hit my head|cut myself",
    r"\bbleeding\b|(there'?s|so much|lots of|covered in|coughing( up)?|vomiting|throwing up) blood|\burgent\b",
    r"ambulance|\b911\b|nine one one|\b119\b|emergency|\bsos\b|mayday|save me",
    r"\bdying\b|going to die|gonna die|pass(ed|ing)? out|faint(ed)?\b|black(ed)? out|unconscious",
    r"\bfire\b|smell gas|gas leak|broke in|break-in|intruder|someone in my house",
    r"hurt (badly|bad)|badly hurt|seriously hurt|suddenly can'?t|can'?t see anything",
    r"\bchoking\b|too many pills|overdose|broke my (hip|leg|arm)|broken (hip|leg|arm)",
    r"send (help|someone)|come (right away|now|quick)|please come|\bhurry\b",
    r"^(2|two|number two|option two|press(ing|ed)? two|i'?ll press two)$",
)

# "I'm fine" negated, or "fine, but ..." with a complaint: the resident is telling us they are NOT fine.
NEGATED_WELLBEING = _any(
    r"안\s*괜찮|안\s*괜찬|괜찮지\s*(가|는|도)?\s*(않|못)|괜찮은\s*(게|것이)?\s*아니",
    r"괜찮다고\s*(할|하기)\s*(수는|수|는)?\s*(없|어렵)",
    r"안\s*좋|좋지\s*(가|는|도)?\s*않|좋진\s*않|잘\s*못\s*지내|안\s*멀쩡",
    r"아픈데\s*괜찮|아프지만|아프긴|괜찮(은데|긴|지만).{0,20}(아프|아파|어지러|힘들|안\s*좋|쑤시|열이)",
    r"\b(but|except)\b.{0,30}\b(hurts?|pain|dizzy|sick|fever|weak|cough(ing)?|ill)\b",
    r"(?:\bnot|n't|\bnever)\s+(feeling\s+|feel\s+|doing\s+|been\s+|be\s+)?"
    r"(so\s+|too\s+|very\s+|quite\s+|that\s+|all\s+that\s+)?(ok|okay|fine|good|great|well|alright|all right)\b",
)


# "help" is an emergency unless it is negated a few words before ("I don't need any help").
_HELP = re.compile(r"\bhelp\b")
_NEGATED_HELP = re.compile(r"(?:\b(?:no(?! one)|not|never|without)|n't)\b(?:\s+\S+){0,3}?\s+help\b")


# An "ok" must be said: the reply has to contain a way of saying "I'm fine". Replies like
# "I went to the market" are probably fine too, but the call asks again rather than guess.
OK_CUES = _any(
    r"괜찮|괜찬|갠찮|괜차|개안|좋아|좋습|좋네|좋다|좋지|잘\s*(지내|있|잤|먹|지냅)",
    r"별일|별\s*탈|일\s*없|아무\s*(일|렇지|이상|도움)|이상\s*없|문제\s*없|건강|멀쩡|튼튼|편안|무탈|무사",
    r"안\s*아파|아프지\s*않|아픈\s*(데|곳|거)\s*없|다친\s*(데|곳)\s*없|나쁘지\s*않|걱정\s*(마|하지|안)|암시랑",
    r"^(네|예|녜|넵|응|ㅇㅇ|네네|예예|네에|오냐)$|(?<!\S)(1|일)\s*번(이요|요)?(?!\S)|^하나(요)?$",
    r"\b(fine|ok|okay|okey|good|gud|great|well|alright|all right|grand|healthy|safe|perfect|perfectly)\b",
    r"\bno (problems?|pain|worries)\b|\bnothing('s)? (wrong|hurts)\b|\bnot (hurt|sick|in pain)\b",
    r"can't complain|never better|couldn't be better|right as rain|fit as a fiddle|don't worry|no need to worry",
    r"^(yes|yeah|yep|yup|k|one|number one|option one)$|\b(press(ing)?|i'll press) one\b|don't need (any )?help",
)


# The resident *said* the key: "1번", "일번이요", "number one", "I'll press one".
SPOKEN_ONE = re.compile(
    r"^(네\s*|예\s*)?(1|일|하나)\s*(번|번이요|번요|번입니다|번\s*누를게요|번\s*눌렀어요|요)?$"
    r"|^(number |option |press(ing|ed)? |i'?ll press |i pressed )?one$"
)


def has_ok_cue(text: str) -> bool:
    norm = normalise(text)
    return OK_CUES.search(norm) is not None or OK_CUES.search(norm.replace(" ", "")) is not None


def has_emergency_phrase(text: str) -> bool:
    norm = normalise(text)
    if EMERGENCY_PATTERNS.search(norm):
        return True
    return _HELP.search(_NEGATED_HELP.sub(" ", norm)) is not None


def has_negated_wellbeing(text: str) -> bool:
    norm = normalise(text)
    return any(NEGATED_WELLBEING.search(view) for view in (norm, norm.replace(" ", "")))


def apply_safety(
    text: str, probabilities: dict[Intent, float], *, speech_confidence: float | None = None
) -> Classification:
    """Pure: the model's probabilities for ``text`` → the verdict we act on."""
    model_intent = max(probabilities, key=lambda i: probabilities[i])
    p = probabilities[model_intent]
    if has_emergency_phrase(text):
        return Classification(Intent.EMERGENCY, 1.0, "emergency_phrase")
    if model_intent == Intent.EMERGENCY:
        return Classification(Intent.EMERGENCY, p)
    if model_intent != Intent.OK:
        return Classification(model_intent, p)
    if has_negated_wellbeing(text):
        return Classification(Intent.UNWELL, 1.0, "negation")
    if not has_ok_cue(text):
        return Classification(Intent.UNCLEAR, probabilities.get(Intent.UNCLEAR, 0.0), "no_ok_cue")
    if p < OK_MIN_CONFIDENCE or (speech_confidence is not None and speech_confidence < SPEECH_MIN_CONFIDENCE):
        return Classification(Intent.UNCLEAR, probabilities.get(Intent.UNCLEAR, 0.0), "low_confidence")
    return Classification(Intent.OK, p)


def classify_digits(digits: str) -> Classification:
    """Key presses: 1 = fine, 2 = help (emergency); anything containing a 2 counts as help."""
    keys = digits.strip()
    if "2" in keys:
        return Classification(Intent.EMERGENCY, 1.0, "digits")
    if keys == "1":
        return Classification(Intent.OK, 1.0, "digits")
    return Classification(Intent.UNCLEAR, 1.0, "digits" if keys else "empty")


# ---------------------------------------------------------------- the model


class ReplyModel:
    """A fitted pipeline; ``probabilities(text)`` gives P(intent) for each of the four intents."""

    def __init__(self, texts: Sequence[str], intents: Sequence[Intent]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion, make_pipeline

        features = FeatureUnion(
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
                        analyzer="char", ngram_range=(2, 4), preprocessor=_without_spaces, sublinear_tf=True
                    ),
                ),
            ]
        )
        classifier = LogisticRegression(class_weight="balanced", C=20.0, solver="newton-cg", max_iter=1000)
        self._pipeline: Any = make_pipeline(features, classifier)
        self._pipeline.fit(list(texts), [i.value for i in intents])
        self._classes = [Intent(c) for c in self._pipeline.classes_]

    def probabilities(self, text: str) -> dict[Intent, float]:
        row = self._pipeline.predict_proba([text])[0]
        return {intent: float(p) for intent, p in zip(self._classes, row, strict=True)}

    def classify(self, text: str, *, speech_confidence: float | None = None) -> Classification:
        if not normalise(text).replace("?", "").strip():
            return Classification(Intent.UNCLEAR, 1.0, "empty")
        if has_emergency_phrase(text):  # before the digit rule: "119" is digits too
            return Classification(Intent.EMERGENCY, 1.0, "emergency_phrase")
        if normalise(text).isdigit():  # "1", "2" typed in an SMS or recognised as a number
            return classify_digits(normalise(text))
        if SPOKEN_ONE.match(normalise(text)):
            return Classification(Intent.OK, 1.0, "spoken_key")
        return apply_safety(text, self.probabilities(text), speech_confidence=speech_confidence)


def load_examples(languages: Iterable[str] = LANGUAGES) -> list[Example]:
    """The shipped training examples; a malformed row fails loudly with its file and line."""
    examples: list[Example] = []
    for language in languages:
        path = DATA_DIR / f"replies_{language}.csv"
        with path.open(encoding="utf-8", newline="") as handle:
            for line_no, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    examples.append(Example(row["text"] or "", Intent(row["intent"]), language))
                except (KeyError, ValueError) as exc:
                    raise ValueError(f"{path.name}:{line_no}: bad row {row!r}") from exc
    return examples


_model: ReplyModel | None = None
_model_lock = threading.Lock()


def default_model() -> ReplyModel:
    """The process-wide model, trained on all shipped examples at first use (well under a second)."""
    global _model
    with _model_lock:
        if _model is None:
            examples = load_examples()
            _model = ReplyModel([e.text for e in examples], [e.intent for e in examples])
        return _model


def warm_up() -> None:
    """Train now rather than on the first webhook (call at start-up)."""
    default_model()


# ---------------------------------------------------------------- public API


def classify(text: str, *, speech_confidence: float | None = None) -> Classification:
    """Classify one reply. ``speech_confidence`` is Twilio's ``Confidence`` for spoken replies."""
    return default_model().classify(text, speech_confidence=speech_confidence)


def classify_lines(texts: Iterable[str]) -> list[dict[str, object]]:
    """For ``anbu classify --jsonl``: one ``{"text", "intent", "confidence"}`` per input line."""
    model = default_model()
    out: list[dict[str, object]] = []
    for text in texts:
        result = model.classify(text)
        out.append({"text": text, "intent": result.intent.value, "confidence": round(result.confidence, 4)})
    return out


def evaluate(seed: int = 0, test_fraction: float = 0.25) -> dict[str, Any]:
    """Per-intent precision/recall of the whole classifier (model + safety layer) on a held-out split.

    The split is stratified by language and intent; the model is trained on the rest only.
    ``model_only`` gives the same figures without the safety layer, to show what the rules add.
    """
    from sklearn.metrics import precision_recall_fscore_support
    from sklearn.model_selection import train_test_split

    examples = load_examples()
    train, test = train_test_split(
        examples,
        test_size=test_fraction,
        random_state=seed,
        stratify=[f"{e.language}:{e.intent.value}" for e in examples],
    )
    model = ReplyModel([e.text for e in train], [e.intent for e in train])
    truth = [e.intent.value for e in test]
    full = [model.classify(e.text).intent.value for e in test]
    raw = [_argmax(model.probabilities(e.text)).value for e in test]
    labels = [i.value for i in INTENTS]

    def report(predicted: list[str]) -> dict[str, dict[str, float]]:
        precision, recall, _, support = precision_recall_fscore_support(
            truth, predicted, labels=labels, zero_division=0.0
        )
        return {
            label: {"precision": float(p), "recall": float(r), "support": int(s)}
            for label, p, r, s in zip(labels, precision, recall, support, strict=True)
        }

    mistakes = [
        {"text": e.text, "language": e.language, "expected": t, "got": f}
        for e, t, f in zip(test, truth, full, strict=True)
        if t != f
    ]
    return {
        "seed": seed,
        "test_fraction": test_fraction,
        "n_train": len(train),
        "n_test": len(test),
        "accuracy": sum(t == f for t, f in zip(truth, full, strict=True)) / len(test),
        "per_intent": report(full),
        "model_only": report(raw),
        "mistakes": mistakes,
    }


def _argmax(probabilities: dict[Intent, float]) -> Intent:
    return max(probabilities, key=lambda i: probabilities[i])
