"""Message catalogues: every user-facing sentence lives in a JSON file per language.

Each package keeps its own catalogue (``<package>/messages/{ko,en}.json``); Korean is the
default and the fallback. Missing keys raise, so a typo cannot ship silently.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path

from core.enums import Language

DEFAULT_LANGUAGE = Language.KO

# One text in every language, by language code ("ko", "en").
Texts = Mapping[str, str]


def in_every_language(render: Callable[[Language], str]) -> dict[str, str]:
    """A generated text (a case's explanation) rendered in every language, to be stored beside
    the default-language text: each dashboard user then reads it in their own language, not in
    the language it happened to be generated in."""
    return {language.value: render(language) for language in Language}


def text_in(texts: Texts | None, language: Language | str, fallback: str) -> str:
    """``texts`` in ``language``; ``fallback`` (the stored default-language text) for old rows."""
    lang = language.value if isinstance(language, Language) else language
    return (texts or {}).get(lang) or fallback


class Catalogue:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @cache  # noqa: B019 - catalogues live for the whole process
    def _load(self, language: Language) -> dict[str, str]:
        path = self.directory / f"{language.value}.json"
        data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def text(self, key: str, language: Language | str = DEFAULT_LANGUAGE, /, **params: object) -> str:
        lang = Language(language) if not isinstance(language, Language) else language
        messages = self._load(lang)
        if key not in messages:
            messages = self._load(DEFAULT_LANGUAGE)
        template = messages[key]  # KeyError is deliberate: a missing message is a bug
        return template.format(**params)

    def keys(self, language: Language = DEFAULT_LANGUAGE) -> set[str]:
        return set(self._load(language))
