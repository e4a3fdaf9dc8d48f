"""How a simulated phone behaves when the emulator rings it or texts it.

A :class:`Behaviour` is set per destination number: whether the call is answered (by the
resident or by voicemail), and what the resident says or presses at each ``<Gather>``, in
order. A reply the resident has run out of is silence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

CallKind = Literal["answer", "no_answer", "busy", "voicemail", "fail", "hangup"]
SmsOutcome = Literal["delivered", "undelivered", "failed"]
CALL_KINDS: frozenset[str] = frozenset(get_args(CallKind))
SMS_OUTCOMES: frozenset[str] = frozenset(get_args(SmsOutcome))

_DIGITS = re.compile(r"^[0-9*#]+$")
# What a person reads off an alert text to acknowledge it: "… 1 4821 로 답장해 주세요" / "Reply 1 4821 …".
_ACK_CODE = re.compile(r"(?<!\d)1 (\d{4})(?!\d)")


class ScenarioError(ValueError):
    """A behaviour or reply description that makes no sense."""


@dataclass(frozen=True)
class Reply:
    """One turn of the resident: speech (with the recogniser's confidence), key presses, or silence."""

    speech: str | None = None
    digits: str | None = None
    confidence: float | None = 0.9  # None: Twilio sends no Confidence parameter (it may omit it)

    def __post_init__(self) -> None:
        if self.speech is not None and self.digits is not None:
            raise ScenarioError("a reply is speech or digits, not both")
        if self.speech is not None and not self.speech.strip():
            raise ScenarioError("speech must not be blank (use Reply.silence())")
        if self.digits is not None and not _DIGITS.match(self.digits):
            raise ScenarioError(f"digits must be 0-9, * or #, got {self.digits!r}")
        if self.confidence is not None and not 0.0 <= self.confidence <= 1.0:
            raise ScenarioError(f"confidence must be within 0..1, got {self.confidence}")

    @classmethod
    def say(cls, text: str, confidence: float | None = 0.9) -> Reply:
        return cls(speech=text, confidence=confidence)

    @classmethod
    def press(cls, digits: str) -> Reply:
        return cls(digits=digits)

    @classmethod
    def silence(cls) -> Reply:
        return cls()

    @property
    def is_silence(self) -> bool:
        return self.speech is None and self.digits is None

    def to_json(self) -> dict[str, Any]:
        if self.speech is not None:
            return {"speech": self.speech, "confidence": self.confidence}
        if self.digits is not None:
            return {"digits": self.digits}
        return {}

    @classmethod
    def from_json(cls, data: Any) -> Reply:
        if isinstance(data, str):
            return cls.say(data)
        if not isinstance(data, Mapping):
            raise ScenarioError(f"a reply is a string or an object, got {type(data).__name__}")
        _reject_unknown(data, {"speech", "digits", "confidence"}, "reply")
        confidence = data.get("confidence", 0.9)
        if confidence is not None and not isinstance(confidence, int | float):
            raise ScenarioError("confidence must be a number or null")
        return cls(speech=data.get("speech"), digits=data.get("digits"), confidence=confidence)


@dataclass(frozen=True)
class Behaviour:
    """What happens when a number is called or texted.

    kind: ``answer`` (the resident picks up and replies), ``no_answer`` (rings out),
    ``busy``, ``voicemail`` (a machine answers and never replies), ``fail`` (the call cannot
    be connected) or ``hangup`` (the resident picks up, hears the first prompt and hangs up).
    hangup_after: with ``answer``, the resident gives this many replies and then hangs up at the
    next question (mid-call); None = stays on the line.
    ring_seconds: how long it rings before being answered (default 4 s) or given up (default:
    the call's Timeout); ringing longer than the call's Timeout means no answer.
    sms: what happens to text messages sent to this number.
    sms_reply: what the person texts back once a message is delivered, ``sms_reply_after_s``
    (simulated) seconds later, to the sender's incoming-message URL (set with
    ``TwilioEmulator.set_sms_url``); ``{code}`` is replaced by the acknowledgement code the
    message asks for ("reply 1 4821"), and a message that asks for none gets no reply then.
    None = never replies.
    """

    kind: CallKind = "answer"
    replies: Sequence[Reply] = field(default_factory=tuple)
    ring_seconds: float | None = None
    sms: SmsOutcome = "delivered"
    sms_error_code: int = 30003  # unreachable handset, reported on undelivered/failed
    hangup_after: int | None = None
    sms_reply: str | None = None
    sms_reply_after_s: float = 5.0

    def sms_reply_to(self, body: str) -> str | None:
        """The text this person sends back after reading ``body``, or None."""
        if self.sms_reply is None:
            return None
        if "{code}" not in self.sms_reply:
            return self.sms_reply
        found = _ACK_CODE.search(body)
        return self.sms_reply.replace("{code}", found.group(1)) if found else None

    def __post_init__(self) -> None:
        if self.kind not in CALL_KINDS:
            raise ScenarioError(f"kind must be one of {sorted(CALL_KINDS)}, got {self.kind!r}")
        if self.sms not in SMS_OUTCOMES:
            raise ScenarioError(f"sms must be one of {sorted(SMS_OUTCOMES)}, got {self.sms!r}")
        if self.ring_seconds is not None and self.ring_seconds < 0:
            raise ScenarioError("ring_seconds must not be negative")
        if self.hangup_after is not None and (
            isinstance(self.hangup_after, bool)
            or not isinstance(self.hangup_after, int)
            or self.hangup_after < 0
        ):
            raise ScenarioError("hangup_after must be a non-negative integer or null")
        if self.sms_reply is not None and (not isinstance(self.sms_reply, str) or not self.sms_reply.strip()):
            raise ScenarioError("sms_reply must be a non-blank string or null")
        if isinstance(self.sms_reply_after_s, bool) or not isinstance(self.sms_reply_after_s, int | float):
            raise ScenarioError("sms_reply_after_s must be a number")
        if self.sms_reply_after_s < 0:
            raise ScenarioError("sms_reply_after_s must not be negative")
        replies = tuple(self.replies)
        if not all(isinstance(reply, Reply) for reply in replies):
            raise ScenarioError("replies must be Reply objects")
        object.__setattr__(self, "replies", replies)  # frozen: keep it hashable

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "replies": [reply.to_json() for reply in self.replies],
            "ring_seconds": self.ring_seconds,
            "sms": self.sms,
            "sms_error_code": self.sms_error_code,
            "hangup_after": self.hangup_after,
            "sms_reply": self.sms_reply,
            "sms_reply_after_s": self.sms_reply_after_s,
        }

    @classmethod
    def from_json(cls, data: Any) -> Behaviour:
        if not isinstance(data, Mapping):
            raise ScenarioError(f"a behaviour is an object, got {type(data).__name__}")
        _reject_unknown(
            data,
            {
                "kind",
                "replies",
                "ring_seconds",
                "sms",
                "sms_error_code",
                "hangup_after",
                "sms_reply",
                "sms_reply_after_s",
            },
            "behaviour",
        )
        replies = data.get("replies", [])
        if not isinstance(replies, list):
            raise ScenarioError("replies must be a list")
        ring = data.get("ring_seconds")
        if ring is not None and not isinstance(ring, int | float):
            raise ScenarioError("ring_seconds must be a number or null")
        error_code = data.get("sms_error_code", 30003)
        if not isinstance(error_code, int):
            raise ScenarioError("sms_error_code must be an integer")
        return cls(
            kind=data.get("kind", "answer"),
            replies=tuple(Reply.from_json(item) for item in replies),
            ring_seconds=ring,
            sms=data.get("sms", "delivered"),
            sms_error_code=error_code,
            hangup_after=data.get("hangup_after"),
            sms_reply=data.get("sms_reply"),
            sms_reply_after_s=data.get("sms_reply_after_s", 5.0),
        )


def _reject_unknown(data: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise ScenarioError(f"unknown {what} field(s): {', '.join(sorted(unknown))}")
