"""Twilio voice webhooks for the wellness call: answer, gather (the resident's reply), call status.

The API has already checked the Twilio signature. Every handler works inside the caller's
transaction (never commits), locks the CallAttempt row first so retried or concurrent callbacks
for one call are applied one at a time, and never raises on unknown or stale input: an unknown
call gets a polite hang-up and changes nothing.

What a reply does to the case (``apply_reply``, shared with resident SMS):

=========  ===========================================================================
ok         Watch.last_checkin_at = now; an OPEN inactivity case is cleared
unwell     engine.escalate_now(target="caseworker")
emergency  engine.escalate_now(target="emergency")
unclear    nothing now: asked once more on the call, then the escalation ladder goes on
=========  ===========================================================================
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from core.enums import (
    ACTIVE_CASE_STATUSES,
    TERMINAL_CALL_STATUSES,
    CallOutcome,
    CallStatus,
    CaseEventType,
    CaseKind,
    CaseStatus,
    Intent,
    Severity,
)
from core.models import CallAttempt, Case, Watch
from notifier import engine, lifecycle, webhook_urls
from notifier.classifier import Classification, classify, classify_digits
from notifier.lifecycle import CaseConflict
from notifier.script import (
    CATALOGUE,
    closing_twiml,
    greeting_twiml,
    hangup_twiml,
    reask_twiml,
    voicemail_twiml,
)

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


# ---------------------------------------------------------------- pure helpers


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
    if status in (CallStatus.FAILED, CallStatus.CANCELED):
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
            return cls("speech", speech, _parse_float(params.get("Confidence")))
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


def transcript_line(number: int, reply: Reply, result: Classification) -> str:
    return f"#{number} {reply.describe()} -> {result.intent.value} {result.confidence:.2f} [{result.source}]"


# ---------------------------------------------------------------- webhook handlers


def answer(session: Session, *, code: str, params: Mapping[str, str], base_url: str, now: datetime) -> str:
    """TwiML for a call we placed that was just answered (by a person or a machine)."""
    attempt = _locked_attempt(session, code)
    if attempt is None:
        log.warning("voice answer for an unknown call code; hanging up")
        return hangup_twiml()
    if attempt.status in TERMINAL_CALL_STATUSES:
        log.warning("voice answer for call attempt %s that already ended (%s)", attempt.id, attempt.status)
        return hangup_twiml(attempt.language)
    answered_by = _clean(params.get("AnsweredBy"))
    if answered_by:
        attempt.answered_by = answered_by
    _advance_status(attempt, CallStatus.IN_PROGRESS)
    attempt.updated_at = now
    if is_machine(answered_by):
        if attempt.outcome is None:
            attempt.outcome = CallOutcome.VOICEMAIL
            _record_outcome(session, attempt, now, outcome=CallOutcome.VOICEMAIL, answered_by=answered_by)
        return voicemail_twiml(attempt.language)
    gather_url = webhook_urls.url(base_url, webhook_urls.VOICE_GATHER, code=code)
    return greeting_twiml(language=attempt.language, gather_url=gather_url)


def gather(session: Session, *, code: str, params: Mapping[str, str], base_url: str, now: datetime) -> str:
    """The resident's reply: classify it, ask once more if unclear, else act on it and say goodbye."""
    attempt = _locked_attempt(session, code)
    if attempt is None:
        log.warning("voice gather for an unknown call code; hanging up")
        return hangup_twiml()
    if reply_decided(attempt):
        # A retried request: the decision was made and acted on once; just say goodbye again.
        assert attempt.outcome is not None
        return closing_twiml(attempt.outcome, attempt.language)
    reply = Reply.from_params(params)
    result = reply.classify()
    attempt.gather_count += 1
    line = transcript_line(attempt.gather_count, reply, result)
    attempt.transcript = f"{attempt.transcript}\n{line}" if attempt.transcript else line
    attempt.intent = result.intent
    attempt.confidence = result.confidence
    attempt.updated_at = now
    _advance_status(attempt, CallStatus.IN_PROGRESS)

    call_over = attempt.status in TERMINAL_CALL_STATUSES  # the resident answered, then hung up
    reask = result.intent == Intent.UNCLEAR and attempt.gather_count < MAX_GATHERS and not call_over
    outcome = None if reask else CallOutcome(result.intent.value)
    attempt.outcome = outcome
    if outcome is not None:
        case = _case_of(session, attempt)
        apply_reply(
            session,
            household_id=attempt.household_id,
            case=case,
            intent=result.intent,
            now=now,
            actor=f"call:{attempt.id}",
            channel="call",
        )
    _record_outcome(session, attempt, now, outcome=outcome, reply=reply, result=result)
    log.info(
        "call attempt %s: reply %s -> %s (%s), outcome %s",
        attempt.id,
        attempt.gather_count,
        result.intent.value,
        result.source,
        outcome.value if outcome else "re-ask",
    )
    if outcome is None:
        gather_url = webhook_urls.url(base_url, webhook_urls.VOICE_GATHER, code=code)
        return reask_twiml(language=attempt.language, gather_url=gather_url)
    return closing_twiml(outcome, attempt.language)


def call_status(session: Session, *, code: str, params: Mapping[str, str], now: datetime) -> None:
    """Twilio's status callback: idempotent, and stale (out-of-order) callbacks change nothing."""
    attempt = _locked_attempt(session, code)
    if attempt is None:
        log.warning("call status for an unknown call code; ignored")
        return
    call_sid = (params.get("CallSid") or "").strip()
    if attempt.provider_sid and call_sid and call_sid != attempt.provider_sid:
        log.warning("call attempt %s: status for another call sid ignored", attempt.id)
        return
    sequence = _parse_int(params.get("SequenceNumber"))
    if sequence is not None:
        if sequence <= attempt.last_sequence:
            log.info("call attempt %s: stale status callback %s ignored", attempt.id, sequence)
            return
        attempt.last_sequence = sequence
    answered_by = _clean(params.get("AnsweredBy"))
    if answered_by:
        attempt.answered_by = answered_by
    attempt.updated_at = now
    status = parse_call_status(params.get("CallStatus"))
    if status is None:
        log.warning("call attempt %s: unknown CallStatus ignored", attempt.id)
        return
    was_terminal = attempt.status in TERMINAL_CALL_STATUSES
    if not _advance_status(attempt, status) or was_terminal or status not in TERMINAL_CALL_STATUSES:
        return
    if attempt.outcome is None:
        attempt.outcome = terminal_outcome(status, attempt.answered_by)
    case = _case_of(session, attempt)
    if case is not None:
        lifecycle.record_event(
            session,
            case,
            CaseEventType.CALL_STATUS,
            now,
            actor="twilio",
            call_attempt_id=attempt.id,
            status=status.value,
            outcome=attempt.outcome.value,
            answered_by=attempt.answered_by,
            duration_s=_parse_int(params.get("CallDuration")),
        )
    log.info("call attempt %s ended: %s, outcome %s", attempt.id, status.value, attempt.outcome.value)


# ---------------------------------------------------------------- what a reply does


def apply_reply(
    session: Session,
    *,
    household_id: int,
    case: Case | None,
    intent: Intent,
    now: datetime,
    actor: str,
    channel: Literal["call", "sms"],
) -> Case | None:
    """Act on a classified reply from the resident (see the table at the top of this module).

    ``case`` is the case the call or message was about, if any. Returns the case the effect
    landed on (a help case may be opened when there was none). ``unclear`` does nothing.
    """
    if intent == Intent.OK:
        record_checkin(session, household_id, now)
        if case is not None and case.status == CaseStatus.OPEN and case.kind == CaseKind.INACTIVITY:
            _clear_resident_ok(session, case, now=now, actor=actor)
        # Acknowledged (a person owns it), help and device cases: the reply is recorded, not acted on.
        return case
    if intent in (Intent.UNWELL, Intent.EMERGENCY):
        target: Literal["caseworker", "emergency"] = (
            "emergency" if intent == Intent.EMERGENCY else "caseworker"
        )
        if case is None:
            case = _case_for_help(session, household_id, intent, now=now, actor=actor)
        _escalate(session, case, target=target, now=now, reason=f"resident_{intent.value}_{channel}")
        return case
    return case


def record_checkin(session: Session, household_id: int, now: datetime) -> None:
    """The resident said they are fine: a sign of life the sweeper counts (it re-arms the watch)."""
    watch = session.get(Watch, household_id, with_for_update=True, populate_existing=True)
    if watch is None:
        try:
            with session.begin_nested():
                session.add(Watch(household_id=household_id, last_checkin_at=now, updated_at=now))
                session.flush()
            return
        except IntegrityError:  # created concurrently (by ingest); update that row instead
            watch = session.get(Watch, household_id, with_for_update=True, populate_existing=True)
            if watch is None:
                raise
    if watch.last_checkin_at is None or watch.last_checkin_at < now:
        watch.last_checkin_at = now
        watch.updated_at = now


def _case_for_help(session: Session, household_id: int, intent: Intent, *, now: datetime, actor: str) -> Case:
    """The case a help request without one lands on: the household's active help or inactivity
    case, else a new ``help_requested`` case (with the household's escalation policy)."""
    for kind in (CaseKind.HELP_REQUESTED, CaseKind.INACTIVITY):
        existing = lifecycle.active_case(session, household_id, kind)
        if existing is not None:
            return existing
    from notifier.policy import snapshot_for_household

    case, _ = lifecycle.open_or_redetect(
        session,
        household_id=household_id,
        kind=CaseKind.HELP_REQUESTED,
        severity=Severity.CRITICAL if intent == Intent.EMERGENCY else Severity.ALERT,
        explanation=CATALOGUE.text(f"call.case_explanation.{intent.value}"),
        policy_snapshot=snapshot_for_household(session, household_id),
        now=now,
        actor=actor,
    )
    return case


def _escalate(
    session: Session, case: Case, *, target: Literal["caseworker", "emergency"], now: datetime, reason: str
) -> None:
    """``engine.escalate_now``; should it fail, the request is still not lost: the case is raised
    and made due now, so the next engine tick acts on it, and the failure is logged."""
    try:
        with session.begin_nested():
            engine.escalate_now(session, case, target=target, now=now, reason=reason)
    except Exception:
        log.exception("case %s: escalate_now(%s) failed; raising the case instead", case.id, target)
        session.refresh(case)
        if case.status not in ACTIVE_CASE_STATUSES:
            raise
        severity = Severity.CRITICAL if target == "emergency" else Severity.ALERT
        lifecycle.raise_severity(session, case, severity=severity, reason=reason, now=now)


def _clear_resident_ok(session: Session, case: Case, *, now: datetime, actor: str) -> None:
    """Clear an open case; if another worker changed it first, reload and clear if still open."""
    try:
        lifecycle.clear(session, case, reason="resident_ok", now=now, actor=actor)
    except CaseConflict:
        session.refresh(case)
        if case.status == CaseStatus.OPEN:
            lifecycle.clear(session, case, reason="resident_ok", now=now, actor=actor)


# ---------------------------------------------------------------- internals


def _locked_attempt(session: Session, code: str) -> CallAttempt | None:
    if not code or len(code) > 64:
        return None
    stmt = (
        select(CallAttempt)
        .where(CallAttempt.code == code)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(stmt).first()


def _case_of(session: Session, attempt: CallAttempt) -> Case | None:
    if attempt.case_id is None:
        return None
    return session.get(Case, attempt.case_id, populate_existing=True)


def _advance_status(attempt: CallAttempt, status: CallStatus) -> bool:
    """Move the call forward only (terminal states are final); returns whether it moved."""
    if _STATUS_RANK[status] <= _STATUS_RANK[attempt.status]:
        return False
    attempt.status = status
    return True


def _record_outcome(
    session: Session,
    attempt: CallAttempt,
    now: datetime,
    *,
    outcome: CallOutcome | None,
    reply: Reply | None = None,
    result: Classification | None = None,
    answered_by: str | None = None,
) -> None:
    case = _case_of(session, attempt)
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


def _clean(value: str | None, limit: int = 40) -> str | None:
    value = (value or "").strip()
    return value[:limit] or None


def _parse_int(value: str | None) -> int | None:
    try:
        return int((value or "").strip())
    except ValueError:
        return None


def _parse_float(value: str | None) -> float | None:
    try:
        number = float((value or "").strip())
    except ValueError:
        return None
    return number if 0.0 <= number <= 1.0 else None
