"""What every kind of call shares: the reply a ``<Gather>`` got, call status order, the locked
attempt row, gather URLs and the outcome event on the case."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlmodel import Session, select

from core.enums import (
    TERMINAL_CALL_STATUSES,
    CallOutcome,
    CallPurpose,
    CallStatus,
    CaseEventType,
    Intent,
    RecipientKind,
)
from core.models import CallAttempt, Case
from notifier import lifecycle, webhook_urls
from notifier.classifier import Classification, classify, classify_digits

log = logging.getLogger(__name__)


MAX_GATHERS = 2  # the question, and one re-ask when the reply was unclear


EXCERPT_CHARS = 200  # of the reply, in the case event


MAX_SPEECH_CHARS = 500  # of one reply, in the transcript

# Lifecycle order of call statuses; a callback never moves a call backwards.


_STATUS_RANK: dict[CallStatus, int] = {
    CallStatus.PENDING: 0,
    CallStatus.SENDING: 1,
    CallStatus.QUEUED: 2,
    CallStatus.INITIATED: 3,
    CallStatus.RINGING: 4,
    CallStatus.IN_PROGRESS: 5,
    **dict.fromkeys(TERMINAL_CALL_STATUSES, 6),
}


def is_machine(answered_by: str | None) -> bool:
    """Twilio AMD: ``machine_start``, ``machine_end_beep|silence|other`` and ``fax`` are not a person."""
    value = (answered_by or "").strip().lower()
    return value.startswith("machine") or value == "fax"


def terminal_outcome(status: CallStatus, answered_by: str | None) -> CallOutcome:
    """The outcome of a call that ended without a classified reply."""
    if status == CallStatus.NO_ANSWER:
        return CallOutcome.NO_ANSWER
    if status == CallStatus.BUSY:
        return CallOutcome.BUSY
    if status in (CallStatus.FAILED, CallStatus.CANCELLED):
        return CallOutcome.FAILED
    return CallOutcome.VOICEMAIL if is_machine(answered_by) else CallOutcome.UNCLEAR


def parse_call_status(value: str | None) -> CallStatus | None:
    """Only Twilio's own words; our pre-provider states (pending, sending) never come from outside."""
    try:
        status = CallStatus((value or "").strip().lower())
    except ValueError:
        return None
    return None if status in (CallStatus.PENDING, CallStatus.SENDING) else status


def reply_decided(attempt: CallAttempt) -> bool:
    """Whether the call already has its final outcome, so a (retried) reply must change nothing.

    The one exception is ``unclear`` set by the status callback when the call ended before all
    replies were in: the resident may have said "help" and hung up at once, and Twilio's
    ``completed`` can be processed before the reply's own request. That reply still counts.
    """
    if attempt.outcome is None:
        return False
    return not (attempt.outcome == CallOutcome.UNCLEAR and attempt.gather_count < MAX_GATHERS)


@dataclass(frozen=True)
class Gathered:
    """One ``<Gather>`` callback as every reply handler gets it: what Twilio posted, where our
    webhooks are, when it arrived, and which question attempt it answers (the URL's ``n``; None
    for an action URL handed out before ``n`` existed)."""

    params: Mapping[str, str]
    base_url: str
    now: datetime
    gather_no: int | None = None


@dataclass(frozen=True)
class Reply:
    """What the resident gave the ``<Gather>``: keys, words, or nothing."""

    kind: Literal["dtmf", "speech", "none"]
    text: str
    speech_confidence: float | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Reply:
        digits = (params.get("Digits") or "").strip()
        if digits:
            return cls("dtmf", digits[:20])
        speech = " ".join((params.get("SpeechResult") or "").split())[:MAX_SPEECH_CHARS]
        if speech:
            return cls("speech", speech, parse_float(params.get("Confidence")))
        return cls("none", "")

    def classify(self) -> Classification:
        if self.kind == "dtmf":
            return classify_digits(self.text)
        if self.kind == "speech":
            return classify(self.text, speech_confidence=self.speech_confidence)
        return Classification(Intent.UNCLEAR, 1.0, "empty")

    def describe(self) -> str:
        if self.kind == "dtmf":
            return f"dtmf {self.text}"
        if self.kind == "speech":
            stt = "" if self.speech_confidence is None else f" (stt {self.speech_confidence:.2f})"
            return f'speech{stt}: "{self.text}"'
        return "no response"


def append_transcript(attempt: CallAttempt, line: str) -> None:
    """One more line on the call's transcript (key presses and what they did, on keys-only calls)."""
    attempt.transcript = f"{attempt.transcript}\n{line}" if attempt.transcript else line


def transcript_line(number: int, reply: Reply, result: Classification) -> str:
    return f"#{number} {reply.describe()} -> {result.intent.value} {result.confidence:.2f} [{result.source}]"


def gather_url_for(base_url: str, code: str, gather_no: int, *, contact: bool = False) -> str:
    """The ``<Gather>`` action URL of question attempt ``gather_no`` of a call. ``n`` is part of
    the signed URL, so a callback says which attempt it answers and cannot be forged to another."""
    path = webhook_urls.VOICE_CONTACT_GATHER if contact else webhook_urls.VOICE_GATHER
    return webhook_urls.url(base_url, path, code=code, n=gather_no)


def is_next_gather(attempt: CallAttempt, gather_no: int | None) -> bool:
    """Whether a gather callback answers the next unanswered question attempt of the call (the
    only one acted on); a repeated or late-delivered callback for an attempt already handled
    is not."""
    return gather_no is None or gather_no == attempt.gather_count + 1


def locked_attempt(session: Session, code: str) -> CallAttempt | None:
    if not code or len(code) > 64:
        return None
    stmt = (
        select(CallAttempt)
        .where(CallAttempt.code == code)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(stmt).first()


def case_of(session: Session, attempt: CallAttempt) -> Case | None:
    if attempt.case_id is None:
        return None
    return session.get(Case, attempt.case_id, populate_existing=True)


def advance_status(attempt: CallAttempt, status: CallStatus) -> bool:
    """Move the call forward only (terminal states are final); returns whether it moved."""
    if _STATUS_RANK[status] <= _STATUS_RANK[attempt.status]:
        return False
    attempt.status = status
    return True


def record_outcome(
    session: Session,
    attempt: CallAttempt,
    now: datetime,
    *,
    outcome: CallOutcome | None,
    reply: Reply | None = None,
    result: Classification | None = None,
    answered_by: str | None = None,
) -> None:
    case = case_of(session, attempt)
    if case is None:
        return
    data: dict[str, Any] = {
        "call_attempt_id": attempt.id,
        "outcome": outcome.value if outcome else None,
        "reask": outcome is None,
        "gather": attempt.gather_count,
    }
    if reply is not None and result is not None:
        data |= {
            "input": reply.kind,
            "digits": reply.text if reply.kind == "dtmf" else None,
            "excerpt": reply.text[:EXCERPT_CHARS] if reply.kind == "speech" else "",
            "speech_confidence": reply.speech_confidence,
            "intent": result.intent.value,
            "confidence": round(result.confidence, 4),
            "source": result.source,
        }
    if answered_by:
        data["answered_by"] = answered_by
    lifecycle.record_event(session, case, CaseEventType.CALL_OUTCOME, now, actor=f"call:{attempt.id}", **data)


def record_keys(
    session: Session,
    attempt: CallAttempt,
    now: datetime,
    *,
    actor: str,
    recipient_kind: RecipientKind,
    digits: str,
    outcome: CallOutcome | None,
    ack: str | None,
    **extra: Any,
) -> None:
    """A family or staff member's key press (or silence) on a call, as its case's ``call_outcome``
    event (``digits`` as they may be kept: never a code); the resident's is :func:`record_outcome`."""
    case = case_of(session, attempt)
    if case is None:
        return
    lifecycle.record_event(
        session,
        case,
        CaseEventType.CALL_OUTCOME,
        now,
        actor=actor,
        call_attempt_id=attempt.id,
        recipient_kind=recipient_kind.value,
        outcome=outcome.value if outcome else None,
        reask=outcome is None,
        gather=attempt.gather_count,
        input="dtmf" if digits else "none",
        digits=digits or None,
        ack=ack,
        **extra,
    )


def clean_param(value: str | None, limit: int = 40) -> str | None:
    value = (value or "").strip()
    return value[:limit] or None


def parse_int(value: str | None) -> int | None:
    try:
        return int((value or "").strip())
    except ValueError:
        return None


def parse_float(value: str | None) -> float | None:
    try:
        number = float((value or "").strip())
    except ValueError:
        return None
    return number if 0.0 <= number <= 1.0 else None


def is_inbound(attempt: CallAttempt) -> bool:
    return attempt.purpose == CallPurpose.INBOUND
