"""The wellness call script as TwiML. Every sentence comes from ``notifier/messages/{ko,en}.json``.

The call names the agency first (residents are rightly wary of phone scams), asks one question
that can be answered by a key press or a few words, and ends with a closing line that says what
happens next. Nothing here touches the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from twilio.twiml.voice_response import Gather, VoiceResponse

from core.enums import CallOutcome, Language
from core.i18n import Catalogue
from notifier import webhook_urls
from notifier.crisis import crisis_dial, crisis_line

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


# A family member only needs to press 1; a little longer than the resident's timeout, because
# they may be reaching for the phone's keypad while listening.
CONTACT_GATHER_TIMEOUT_S = 8
ACK_CODE_DIGITS = 4  # the acknowledgement code's length (notifier.ack_codes)


def greeting_twiml(*, language: Language, gather_url: str, inbound: bool = False) -> str:
    """Name the agency, then ask whether the resident is well (keys 1/2 or speech).

    ``inbound``: the resident called us, so we thank them for calling instead of saying why we call.
    """
    greeting = "call.inbound.greeting" if inbound else "call.greeting"
    return _ask(language, gather_url, (greeting, "call.question"))


def contact_call_twiml(
    *, language: Language, lines: Sequence[str], gather_url: str | None, code: bool = False
) -> str:
    """A call with a family member: say ``lines`` (already in ``language``), then, when there is
    something to acknowledge (``gather_url``), ask them to press 1 (``code``: to key in the code
    of our alert text, on a call to our number that caller ID alone cannot vouch for);
    otherwise say goodbye."""
    voice = VOICES[language]
    response = VoiceResponse()
    if gather_url is None:
        for line in lines:
            response.say(line, voice=voice.voice, language=voice.language)
        response.say(
            CATALOGUE.text("call.contact.goodbye", language), voice=voice.voice, language=voice.language
        )
        response.hangup()
        return str(response)
    gather = _contact_gather(response, gather_url, code=code)
    question = "call.contact.code_question" if code else "call.contact.question"
    for line in (*lines, CATALOGUE.text(question, language)):
        gather.say(line, voice=voice.voice, language=voice.language)
    return str(response)


def contact_reask_twiml(*, language: Language, gather_url: str, code: bool = False) -> str:
    """A family member pressed something other than 1 (``code``: no code, or a wrong one):
    explain once what to press."""
    voice = VOICES[language]
    response = VoiceResponse()
    gather = _contact_gather(response, gather_url, code=code)
    keys = ("call.contact.code_reask",) if code else ("call.contact.reask", "call.contact.question")
    for key in keys:
        gather.say(CATALOGUE.text(key, language), voice=voice.voice, language=voice.language)
    return str(response)


def say_and_hang_up_twiml(key: str, language: Language, **params: str) -> str:
    """One catalogue sentence (filled with ``params``), then hang up (closings of the family and
    staff calls)."""
    return _say_and_hang_up(language, key, **params)


def contact_answer_pending_twiml(*, keyed: bool) -> str:
    """A family member's key press that could not be acted on yet (the database was locked; it
    is spooled and applied shortly, notifier.webhook_spool), or, with no key pressed, that
    nothing was recorded. The call's language is not known without the database: Korean."""
    key = "call.contact.answer_pending" if keyed else "call.contact.not_acknowledged"
    return _say_and_hang_up(Language.KO, key)


def unavailable_twiml() -> str:
    """A call to our number that cannot be served (the database cannot say who is calling):
    where to turn in an emergency and to call again, in Korean, then in English."""
    response = VoiceResponse()
    for language in (Language.KO, Language.EN):
        voice = VOICES[language]
        response.say(
            CATALOGUE.text("call.inbound.unavailable", language), voice=voice.voice, language=voice.language
        )
    response.hangup()
    return str(response)


def _contact_gather(response: VoiceResponse, gather_url: str, *, code: bool = False) -> Gather:
    # Keys only: "press 1" is unambiguous, and a misheard word must never acknowledge an alert.
    # A code is four keys ("#", Twilio's default finishOnKey, ends it early: then it is wrong).
    gather: Gather = response.gather(
        action=gather_url,
        method="POST",
        input="dtmf",
        num_digits=ACK_CODE_DIGITS if code else 1,
        timeout=CONTACT_GATHER_TIMEOUT_S,
        action_on_empty_result=True,
    )
    return gather


def reask_twiml(*, language: Language, gather_url: str) -> str:
    """Ask once more, after a reply we could not classify."""
    return _ask(language, gather_url, ("call.reask", "call.question"))


def closing_twiml(outcome: CallOutcome, language: Language) -> str:
    """Say what happens next and hang up. Any outcome without its own line gets the "unclear" one."""
    key = _CLOSING_KEYS.get(outcome, "call.closing.unclear")
    return _say_and_hang_up(language, key)


# Seconds the suicide-prevention line may ring before <Dial> gives up and the resident is offered
# "press 1 to try again"; a busy line often answers on a second try.
CRISIS_DIAL_TIMEOUT_S = 30
MAX_CRISIS_DIALS = 3


def self_harm_twiml(language: Language, *, code: str, base_url: str) -> str:
    """What a resident who spoke of wanting to die hears instead of any closing (docs/calls.md,
    "Self-harm protocol"): thanks for saying it, that it sounds hard, that they are not alone,
    that they are being connected now to the 24-hour line (its number said) and that their care
    team is told; then ``<Dial>`` puts them through. The call does not hang up on them: what
    follows the ``<Dial>`` is :func:`crisis_line_twiml`. Never a method named, never a cheerful
    goodbye. Needs no database (the safe answer of ``notifier.stored_replies`` uses it too)."""
    voice = VOICES[language]
    response = VoiceResponse()
    text = CATALOGUE.text("call.self_harm.connecting", language, line=crisis_line(language))
    response.say(text, voice=voice.voice, language=voice.language)
    response.pause(length=1)
    _dial_crisis_line(response, language, code=code, base_url=base_url, attempt=1)
    return str(response)


def crisis_line_twiml(
    language: Language, *, code: str, base_url: str, attempt: int, dial_status: str | None, digits: str
) -> str:
    """What the resident hears after the ``<Dial>`` of attempt ``attempt`` ended (``dial_status``:
    Twilio's ``DialCallStatus``), or after "press 1 to be connected" (``digits``).

    Connected and talked (``completed``): the closing, with the line and 119. Not connected: the
    keypad fallback — the line said twice and "press 1 to be connected", then the closing if no
    key comes; key 1 dials again, up to :data:`MAX_CRISIS_DIALS` times. Pure."""
    voice = VOICES[language]
    line = crisis_line(language)
    response = VoiceResponse()
    if dial_status is None and digits == "1" and attempt <= MAX_CRISIS_DIALS:
        again = CATALOGUE.text("call.self_harm.connecting_again", language)
        response.say(again, voice=voice.voice, language=voice.language)
        _dial_crisis_line(response, language, code=code, base_url=base_url, attempt=attempt)
        return str(response)
    if dial_status is not None and dial_status != "completed" and attempt < MAX_CRISIS_DIALS:
        gather: Gather = response.gather(
            action=crisis_line_url(base_url, code=code, attempt=attempt + 1, language=language),
            method="POST",
            input="dtmf",
            num_digits=1,
            timeout=CONTACT_GATHER_TIMEOUT_S,
        )
        for key in ("call.self_harm.not_connected", "call.self_harm.line"):
            gather.say(CATALOGUE.text(key, language, line=line), voice=voice.voice, language=voice.language)
    closing = CATALOGUE.text("call.self_harm.closing", language, line=line)
    response.say(closing, voice=voice.voice, language=voice.language)
    response.hangup()
    return str(response)


def crisis_line_url(base_url: str, *, code: str, attempt: int, language: Language) -> str:
    """The signed URL of the crisis-line webhook: it carries the language, so what the resident
    hears next never needs the database."""
    return webhook_urls.url(
        base_url, webhook_urls.VOICE_CONNECT, code=code, n=attempt, lang=Language(language).value
    )


def _dial_crisis_line(
    response: VoiceResponse, language: Language, *, code: str, base_url: str, attempt: int
) -> None:
    response.dial(
        crisis_dial(language),
        action=crisis_line_url(base_url, code=code, attempt=attempt, language=language),
        method="POST",
        timeout=CRISIS_DIAL_TIMEOUT_S,
    )


def staff_alert_twiml(*, language: Language, text: str, gather_url: str, reask: bool = False) -> str:
    """A call to a caseworker or the control room: the alert (``text``, already in ``language``),
    then "press 1 to take it on and be connected to the resident". Keys only, as for family:
    a misheard word must never take a case on."""
    voice = VOICES[language]
    response = VoiceResponse()
    gather = _contact_gather(response, gather_url)
    if reask:
        gather.say(CATALOGUE.text("call.staff.reask", language), voice=voice.voice, language=voice.language)
    else:
        gather.say(text, voice=voice.voice, language=voice.language)
    return str(response)


def staff_connect_twiml(language: Language, resident_phone: str | None) -> str:
    """The staff member took the case on (key 1): say so, then put them through to the resident
    (our number shows as the caller ID, the resident knows it); when that call ends, a last word."""
    voice = VOICES[language]
    if resident_phone is None:
        return _say_and_hang_up(language, "call.staff.no_phone")
    response = VoiceResponse()
    response.say(
        CATALOGUE.text("call.staff.connecting", language), voice=voice.voice, language=voice.language
    )
    response.dial(resident_phone, timeout=CRISIS_DIAL_TIMEOUT_S)
    response.say(
        CATALOGUE.text("call.staff.after_dial", language), voice=voice.voice, language=voice.language
    )
    response.hangup()
    return str(response)


def voicemail_twiml(language: Language) -> str:
    """A short, non-alarming message for an answering machine (no case details, no names)."""
    return _say_and_hang_up(language, "call.voicemail")


def hangup_twiml(language: Language = Language.KO) -> str:
    """A polite hang-up for a call we do not recognise (unknown or stale code)."""
    return _say_and_hang_up(language, "call.hangup")


def checkin_question_twiml(*, language: Language, gather_url: str, topic: str, greeting: bool) -> str:
    """One question of a scheduled check-in call (the first one after the greeting)."""
    keys = ("checkin.greeting", f"checkin.question.{topic}") if greeting else (f"checkin.question.{topic}",)
    return _ask(language, gather_url, keys, hints_key="checkin.hints")


def _ask(language: Language, gather_url: str, keys: tuple[str, ...], *, hints_key: str = "call.hints") -> str:
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
        hints=CATALOGUE.text(hints_key, language),
    )
    for key in keys:
        gather.say(CATALOGUE.text(key, language), voice=voice.voice, language=voice.language)
    return str(response)


def _say_and_hang_up(language: Language, key: str, **params: str) -> str:
    voice = VOICES[language]
    response = VoiceResponse()
    response.say(CATALOGUE.text(key, language, **params), voice=voice.voice, language=voice.language)
    response.hangup()
    return str(response)
