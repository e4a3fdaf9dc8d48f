"""The wellness call script as TwiML. Every sentence comes from ``notifier/messages/{ko,en}.json``.

The call names the agency first (residents are rightly wary of phone scams), asks one question
that can be answered by a key press or a few words, and ends with a closing line that says what
happens next. Nothing here touches the database.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from twilio.twiml.voice_response import Gather, VoiceResponse

from core.enums import CallOutcome, Language
from core.i18n import Catalogue

CATALOGUE = Catalogue(Path(__file__).with_name("messages"))

# Seconds Twilio waits for the first key press or word; older residents need a little longer
# than Twilio's default of 5.
GATHER_TIMEOUT_S = 6


class Voice(NamedTuple):
    language: str  # BCP-47 tag for both <Say> and speech recognition
    voice: str


# Polly.Seoyeon is the Korean voice Twilio documents; ko-KR works with the default STT model
# (the phone_call model does not support Korean), so no speechModel is set.
VOICES: dict[Language, Voice] = {
    Language.KO: Voice("ko-KR", "Polly.Seoyeon"),
    Language.EN: Voice("en-US", "Polly.Joanna"),
}

_CLOSING_KEYS: dict[CallOutcome, str] = {
    CallOutcome.OK: "call.closing.ok",
    CallOutcome.UNWELL: "call.closing.unwell",
    CallOutcome.EMERGENCY: "call.closing.emergency",
}


def greeting_twiml(*, language: Language, gather_url: str) -> str:
    """Name the agency, then ask whether the resident is well (keys 1/2 or speech)."""
    return _ask(language, gather_url, ("call.greeting", "call.question"))


def reask_twiml(*, language: Language, gather_url: str) -> str:
    """Ask once more, after a reply we could not classify."""
    return _ask(language, gather_url, ("call.reask", "call.question"))


def closing_twiml(outcome: CallOutcome, language: Language) -> str:
    """Say what happens next and hang up. Any outcome without its own line gets the "unclear" one."""
    key = _CLOSING_KEYS.get(outcome, "call.closing.unclear")
    return _say_and_hang_up(language, key)


def voicemail_twiml(language: Language) -> str:
    """A short, non-alarming message for an answering machine (no case details, no names)."""
    return _say_and_hang_up(language, "call.voicemail")


def hangup_twiml(language: Language = Language.KO) -> str:
    """A polite hang-up for a call we do not recognise (unknown or stale code)."""
    return _say_and_hang_up(language, "call.hangup")


def _ask(language: Language, gather_url: str, keys: tuple[str, ...]) -> str:
    voice = VOICES[language]
    response = VoiceResponse()
    gather: Gather = response.gather(
        action=gather_url,
        method="POST",
        input="speech dtmf",
        language=voice.language,
        num_digits=1,
        timeout=GATHER_TIMEOUT_S,
        speech_timeout="auto",
        # Silence must reach us too: it counts as "unclear" and drives the re-ask.
        action_on_empty_result=True,
        hints=CATALOGUE.text("call.hints", language),
    )
    for key in keys:
        gather.say(CATALOGUE.text(key, language), voice=voice.voice, language=voice.language)
    return str(response)


def _say_and_hang_up(language: Language, key: str) -> str:
    voice = VOICES[language]
    response = VoiceResponse()
    response.say(CATALOGUE.text(key, language), voice=voice.voice, language=voice.language)
    response.hangup()
    return str(response)
