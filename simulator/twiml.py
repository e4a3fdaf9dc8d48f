"""A small, strict TwiML reader: what a phone would do with the document our server returns.

Only the verbs our calls use are understood (Say, Play, Pause, Gather, Dial with a plain number,
Redirect, Hangup, Reject); anything else is kept as :class:`Unsupported` so the emulator can report it. Malformed
documents raise :class:`TwimlError` — Twilio answers those with "an application error has
occurred" and hangs up, and so do we.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

_GATHER_CHILDREN = frozenset({"Say", "Play", "Pause"})
_INPUT_MODES = frozenset({"dtmf", "speech"})


class TwimlError(ValueError):
    """The document is not TwiML we (or Twilio) could execute."""


@dataclass(frozen=True)
class Say:
    text: str
    language: str = "en-US"
    voice: str | None = None


@dataclass(frozen=True)
class Play:
    url: str


@dataclass(frozen=True)
class Pause:
    seconds: float = 1.0


@dataclass(frozen=True)
class Gather:
    action: str | None
    method: str = "POST"
    input: frozenset[str] = frozenset({"dtmf"})
    num_digits: int | None = None
    timeout_s: float = 5.0
    language: str = "en-US"
    action_on_empty_result: bool = False
    prompts: tuple[Say | Play | Pause, ...] = ()


@dataclass(frozen=True)
class Dial:
    """Put the caller through to ``number``; ``action`` (if any) then gets ``DialCallStatus``
    and what it answers replaces the rest of the document."""

    number: str
    action: str | None = None
    method: str = "POST"
    timeout_s: float = 30.0


@dataclass(frozen=True)
class Redirect:
    url: str
    method: str = "POST"


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Reject:
    reason: str = "rejected"


@dataclass(frozen=True)
class Unsupported:
    verb: str


Verb = Say | Play | Pause | Gather | Dial | Redirect | Hangup | Reject | Unsupported


def parse_twiml(document: str | bytes) -> tuple[Verb, ...]:
    """The verbs of a ``<Response>`` document, in execution order."""
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise TwimlError(f"not well-formed XML: {exc}") from exc
    if root.tag != "Response":
        raise TwimlError(f"root element is <{root.tag}>, expected <Response>")
    return tuple(_verb(element) for element in root)


def _verb(element: ET.Element) -> Verb:
    match element.tag:
        case "Say" | "Play" | "Pause":
            return _prompt(element)
        case "Gather":
            return _gather(element)
        case "Dial":
            return _dial(element)
        case "Redirect":
            url = (element.text or "").strip()
            if not url:
                raise TwimlError("<Redirect> without a URL")
            return Redirect(url=url, method=_method(element))
        case "Hangup":
            return Hangup()
        case "Reject":
            return Reject(reason=element.get("reason", "rejected"))
        case other:
            return Unsupported(verb=other)


def _prompt(element: ET.Element) -> Say | Play | Pause:
    if element.tag == "Say":
        return Say(
            text=(element.text or "").strip(),
            language=element.get("language", "en-US"),
            voice=element.get("voice"),
        )
    if element.tag == "Play":
        return Play(url=(element.text or "").strip())
    return Pause(seconds=_number(element, "length", 1.0))


def _gather(element: ET.Element) -> Gather:
    modes = frozenset(element.get("input", "dtmf").split())
    if not modes or not modes <= _INPUT_MODES:
        raise TwimlError(f"<Gather input={element.get('input')!r}>: expected 'dtmf', 'speech' or both")
    prompts = []
    for child in element:
        if child.tag not in _GATHER_CHILDREN:
            raise TwimlError(f"<Gather> may contain only Say, Play and Pause, not <{child.tag}>")
        prompts.append(_prompt(child))
    num_digits = element.get("numDigits")
    if num_digits is not None and (not num_digits.isdigit() or int(num_digits) < 1):
        raise TwimlError(f"<Gather numDigits={num_digits!r}>: expected a positive integer")
    return Gather(
        action=element.get("action"),
        method=_method(element),
        input=modes,
        num_digits=int(num_digits) if num_digits is not None else None,
        timeout_s=_number(element, "timeout", 5.0),
        language=element.get("language", "en-US"),
        action_on_empty_result=element.get("actionOnEmptyResult", "false").lower() == "true",
        prompts=tuple(prompts),
    )


def _dial(element: ET.Element) -> Dial:
    # Twilio also takes <Number>, <Client>, <Sip> … nouns; our calls dial one plain number.
    if len(element):
        raise TwimlError(f"<Dial> with nouns ({', '.join(child.tag for child in element)}) is not emulated")
    number = (element.text or "").strip()
    if not number:
        raise TwimlError("<Dial> without a number")
    return Dial(
        number=number,
        action=element.get("action"),
        method=_method(element),
        timeout_s=_number(element, "timeout", 30.0),
    )


def _method(element: ET.Element) -> str:
    method = element.get("method", "POST").upper()
    if method not in ("GET", "POST"):
        raise TwimlError(f"<{element.tag} method={method!r}>: expected GET or POST")
    return method


def _number(element: ET.Element, attribute: str, default: float) -> float:
    raw = element.get(attribute)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise TwimlError(f"<{element.tag} {attribute}={raw!r}>: expected a number") from None
    if value < 0:
        raise TwimlError(f"<{element.tag} {attribute}={raw!r}>: must not be negative")
    return value
