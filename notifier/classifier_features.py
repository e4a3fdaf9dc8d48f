"""What the reply model sees: words, and character n-grams *inside* words.

The rule these features keep: **a word is never represented by a piece of another word.** Plain
character n-grams made "응" (yes) look like the first half of "응급" (emergency), so a bare "응"
borrowed the weight of emergencies. Here

* ``w:`` — every whole word, and every pair of neighbouring words;
* ``c:`` — character n-grams taken inside one word, always *shorter than that word*, and only
  from words of three or more syllables (1–4 syllable n-grams) or four or more Latin letters
  (3–5 letter n-grams). So a word of one or two syllables ("응", "응응", "그래", "아니") or of up to
  three letters ("no", "yes") produces none, and is represented by its own ``w:`` feature alone;
* ``j:`` — the same inside-n-grams of the whole reply with its spaces removed, because Korean
  speech-to-text splits words at random ("괜 찮아요" must still look like "괜찮아요"). A reply of
  one short word has no ``j:`` features either.

Longer bare answers ("그래요", "아니요", "yeah") do share pieces with longer words; they are
decided by the short-answer rule (:func:`notifier.classifier_rules.short_answer`), never by the
model.

So a bare short word shares no feature with any reply that does not contain that very word
(``tests/unit/notifier_calls/test_reply_short_answers.py`` checks it against every shipped
example). Features are prefixed by view, so a ``c:`` n-gram never meets a ``w:`` word.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

from notifier.classifier_rules import normalise

_TOKEN = re.compile(r"[\w']+|\?")
_HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e\u1100-\u11ff]")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(normalise(text))


# Words shorter than this are represented only as whole words (a Hangul syllable carries about
# as much as two or three Latin letters). Chosen on held-out splits of the training examples
# (benchmarks/reply_features.py), not on the evaluation set.
MIN_SPLIT_HANGUL = 3
MIN_SPLIT_LATIN = 4


def _sizes(token: str) -> tuple[int, range]:
    """(shortest word that is split, n-gram sizes) for the word's script."""
    return (MIN_SPLIT_HANGUL, range(1, 5)) if _HANGUL.search(token) else (MIN_SPLIT_LATIN, range(3, 6))


def inner_ngrams(token: str) -> Iterator[str]:
    """Character n-grams strictly shorter than ``token``, marked '<' / '>' where they touch its
    start or end (a prefix is not the same evidence as the middle of a word); none at all for a
    short word."""
    shortest, sizes = _sizes(token)
    if len(token) < shortest:
        return
    for n in sizes:
        if n >= len(token):
            break
        for i in range(len(token) - n + 1):
            gram = token[i : i + n]
            yield ("<" if i == 0 else "") + gram + (">" if i + n == len(token) else "")


def word_features(text: str) -> list[str]:
    words = tokens(text)
    return [f"w:{w}" for w in words] + [f"w:{a} {b}" for a, b in itertools.pairwise(words)]


def subword_features(text: str) -> list[str]:
    return [f"c:{gram}" for word in tokens(text) for gram in inner_ngrams(word)]


def joined_features(text: str) -> list[str]:
    whole = "".join(t for t in tokens(text) if t != "?")
    return [f"j:{gram}" for gram in inner_ngrams(whole)]


def features(text: str) -> set[str]:
    """Every feature the model can see for ``text`` (all three views)."""
    return set(word_features(text)) | set(subword_features(text)) | set(joined_features(text))
