"""The 24-hour suicide-prevention line a resident at risk is given (docs/calls.md, "Self-harm
protocol"): 109, Korea's unified line since 2024, in both languages — Anbu's residents live in
Korea, and an English-speaking resident there reaches the same line (with interpreters).

A deployment elsewhere changes it here (988 in the US, 116 123 in the UK and Ireland); a
setting per language (``ANBU_CRISIS_LINE_KO``/``_EN``) is planned, not built.
"""

from __future__ import annotations

from core.enums import Language

CRISIS_LINES: dict[Language, str] = {Language.KO: "109", Language.EN: "109"}


def crisis_line(language: Language | str) -> str:
    return CRISIS_LINES.get(Language(language), CRISIS_LINES[Language.KO])
