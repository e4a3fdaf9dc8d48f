"""The 24-hour suicide-prevention line a resident at risk is told of and connected to
(docs/calls.md, "Self-harm protocol"): 109 by default in both languages — Korea's unified line
since 2024; an English-speaking resident in Korea reaches the same line (with interpreters).

A deployment elsewhere sets ``ANBU_CRISIS_LINE_KO``/``_EN`` (988 in the US, 116 123 in the UK
and Ireland). What ``<Dial>`` calls may differ from what is said (``ANBU_CRISIS_DIAL_KO``/``_EN``):
a short code such as 109 is what a resident can remember and dial, but a Twilio number may not be
able to reach it; the line's regional centre's full number can be dialled instead.

The numbers are read from the settings once per process, at a composition root (the API's
``create_app`` and the worker's ticks call :func:`configure`): the texts and TwiML that say the
number are written deep inside handlers that have no settings, and the number is the same for the
whole deployment. Until configured (unit tests, tools), the defaults apply.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.enums import Language
from core.settings import Settings


@dataclass(frozen=True)
class CrisisLine:
    spoken: str  # what the resident hears and can dial themself
    dial: str  # what <Dial> calls to connect them now


DEFAULT_LINE = CrisisLine("109", "109")
_lines: dict[Language, CrisisLine] = {Language.KO: DEFAULT_LINE, Language.EN: DEFAULT_LINE}


def lines_from(settings: Settings) -> dict[Language, CrisisLine]:
    """Pure: the line per call language, as the settings give them."""
    return {
        Language.KO: CrisisLine(settings.crisis_line_ko, settings.crisis_dial_ko or settings.crisis_line_ko),
        Language.EN: CrisisLine(settings.crisis_line_en, settings.crisis_dial_en or settings.crisis_line_en),
    }


def configure(settings: Settings) -> None:
    """Take this process's crisis lines from the settings (called at each composition root)."""
    _lines.update(lines_from(settings))


def line_for(language: Language | str) -> CrisisLine:
    return _lines.get(Language(language), _lines[Language.KO])


def crisis_line(language: Language | str) -> str:
    """The number said to the resident (and to staff: "they were given the line …")."""
    return line_for(language).spoken


def crisis_dial(language: Language | str) -> str:
    """The number ``<Dial>`` calls to connect the resident to the line."""
    return line_for(language).dial
