"""Twilio voice webhooks for the wellness call: answer, gather (the resident's reply), call status.

The API has already checked the Twilio signature. Every handler works inside the caller's
transaction (never commits), locks the CallAttempt row first so retried or concurrent callbacks
for one call are applied one at a time, and never raises on unknown or stale input: an unknown
call gets a polite hang-up and changes nothing.

What a reply does to the case (``apply_reply``, shared with resident SMS):

=========  ===========================================================================
ok         Watch.last_checkin_at = now; an OPEN inactivity case is cleared
unwell     escalation.escalate_now(target="caseworker")
emergency  escalation.escalate_now(target="emergency")
unclear    nothing now: asked once more on the call, then the escalation ladder goes on
=========  ===========================================================================
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.enums import (
    ACTIVE_CASE_STATUSES,
    TERMINAL_CALL_STATUSES,
    CallOutcome,
    CallStatus,
    CaseEventType,
    CaseKind,
    CaseStatus,
    Intent,
    Language,
    RecipientKind,
    Severity,
)
from core.models import CallAttempt, Case, CheckinCall, Contact, Household, Resident, Watch
from notifier import checkins, escalation, family, lifecycle, webhook_urls
from notifier.classifier import Classification, classify, classify_digits
from notifier.lifecycle import CaseConflict
from notifier.policy import snapshot_for_household
from notifier.script import (
    CATALOGUE,
    checkin_question_twiml,
    closing_twiml,
    contact_call_twiml,
    contact_reask_twiml,
    greeting_twiml,
    hangup_twiml,
    reask_twiml,
    say_and_hang_up_twiml,
    voicemail_twiml,
)
from notifier.transports.base import mask_phone

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

_PHONE_NOISE = re.compile(r"[^\d+]")


def normalise_phone(number: str | None) -> str:
    """Keep digits and "+": numbers are stored and matched as E.164."""
    return _PHONE_NOISE.sub("", number or "")


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
    call_sid = _clean(params.get("CallSid"), 64)
    if call_sid and attempt.provider_sid is None:
        attempt.provider_sid = call_sid  # as in call_status: Twilio has this call, never place it again
    answered_by = _clean(params.get("AnsweredBy"))
    if answered_by:
        attempt.answered_by = answered_by
    _advance_status(attempt, CallStatus.IN_PROGRESS)
    attempt.updated_at = now
    is_contact = attempt.recipient_kind == RecipientKind.CONTACT
    if is_machine(answered_by):
        if attempt.outcome is None:
            attempt.outcome = CallOutcome.VOICEMAIL
            _record_outcome(session, attempt, now, outcome=CallOutcome.VOICEMAIL, answered_by=answered_by)
        if is_contact:
            return say_and_hang_up_twiml("call.contact.voicemail", attempt.language)
        return voicemail_twiml(attempt.language)
    if is_contact:
        return _contact_opening(session, attempt, base_url)
    gather_url = gather_url_for(base_url, code, 1)
    if checkins.is_checkin(attempt):
        return checkin_question_twiml(
            language=attempt.language, gather_url=gather_url, topic=checkins.QUESTIONS[0], greeting=True
        )
    return greeting_twiml(language=attempt.language, gather_url=gather_url)


def gather(
    session: Session,
    *,
    code: str,
    params: Mapping[str, str],
    base_url: str,
    now: datetime,
    gather_no: int | None = None,
) -> str:
    """The resident's reply: classify it, ask once more if unclear, else act on it and say goodbye.

    ``gather_no`` is the ``n`` of the action URL: which question attempt this reply answers
    (1 = the first question, 2 = the re-ask; check-ins: the question number). Twilio may deliver
    a callback twice, or an old one late; only the reply to the next unanswered attempt is acted
    on, any other gets the TwiML its first delivery got (:func:`_replay`). ``None`` (an action
    URL handed out before ``n`` existed) is taken as the next attempt.
    """
    attempt = _locked_attempt(session, code)
    if attempt is None:
        log.warning("voice gather for an unknown call code; hanging up")
        return hangup_twiml()
    if attempt.recipient_kind == RecipientKind.CONTACT:
        # Never classify a family member's "1" as the resident's "I'm fine" (that would clear the case).
        return _contact_reply(session, attempt, params, base_url=base_url, now=now, gather_no=gather_no)
    if attempt.recipient_kind != RecipientKind.RESIDENT:
        log.warning(
            "voice gather for call attempt %s to a %s; hanging up", attempt.id, attempt.recipient_kind
        )
        return hangup_twiml(attempt.language)
    if checkins.is_checkin(attempt):
        return _checkin_reply(session, attempt, params, base_url=base_url, now=now, gather_no=gather_no)
    if not is_next_gather(attempt, gather_no):
        return _replay(attempt, gather_no, base_url)
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
        gather_url = gather_url_for(base_url, code, attempt.gather_count + 1)
        return reask_twiml(language=attempt.language, gather_url=gather_url)
    return closing_twiml(outcome, attempt.language)


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


def _replay(attempt: CallAttempt, gather_no: int | None, base_url: str) -> str:
    """A resident-call gather callback for an attempt already handled: act on nothing, and
    answer with what its first delivery got. Attempt n was followed by attempt n + 1 only if it
    was re-asked, so an earlier attempt, or the last one while no outcome is set, got the re-ask;
    otherwise it got the goodbye of the outcome."""
    assert gather_no is not None
    log.info(
        "call attempt %s: gather %s delivered again (%s handled); not acted on",
        attempt.id,
        gather_no,
        attempt.gather_count,
    )
    if gather_no > attempt.gather_count:  # never handed out (a signed URL cannot be made up)
        return closing_twiml(attempt.outcome or CallOutcome.UNCLEAR, attempt.language)
    if gather_no < attempt.gather_count or attempt.outcome is None:
        gather_url = gather_url_for(base_url, attempt.code, gather_no + 1)
        return reask_twiml(language=attempt.language, gather_url=gather_url)
    return closing_twiml(attempt.outcome, attempt.language)


def contact_gather(
    session: Session,
    *,
    code: str,
    params: Mapping[str, str],
    base_url: str,
    now: datetime,
    gather_no: int | None = None,
) -> str:
    """A family member's key press on a notification call or an inbound call: 1 acknowledges."""
    attempt = _locked_attempt(session, code)
    if attempt is None or attempt.recipient_kind != RecipientKind.CONTACT:
        log.warning("contact gather for an unknown call code or a non-contact call; hanging up")
        return hangup_twiml(attempt.language if attempt else Language.KO)
    return _contact_reply(session, attempt, params, base_url=base_url, now=now, gather_no=gather_no)


def inbound_call(session: Session, *, params: Mapping[str, str], base_url: str, now: datetime) -> str:
    """A call to our number. The resident hears the check-in question (their reply is handled by
    :func:`gather` like a reply on a call we placed: "1" / "괜찮아요" is a check-in); a family member
    hears the household's state and, when an alert is open, "press 1 to acknowledge"; anyone else
    gets the polite hang-up.

    The call is recorded as a ``CallAttempt`` (idempotency key ``inbound:<CallSid>``) so that the
    gather and status webhooks work exactly as for calls we place; a retried webhook for the same
    CallSid reuses it.
    """
    call_sid = _clean(params.get("CallSid"), 64)
    if call_sid:
        existing = session.exec(
            select(CallAttempt).where(CallAttempt.idempotency_key == inbound_key(call_sid)).with_for_update()
        ).first()
        if existing is not None:
            return _inbound_opening(session, existing, base_url)
    caller = normalise_phone(params.get("From"))
    if not caller:
        log.info("inbound call without a caller number; hanging up")
        return hangup_twiml()
    resident = session.exec(
        select(Resident).where(Resident.phone == caller).order_by(col(Resident.id))
    ).first()
    if resident is not None and resident.id is not None:
        case = _resident_case(session, resident.household_id)
        attempt = _new_inbound(
            session,
            call_sid=call_sid,
            household_id=resident.household_id,
            kind=RecipientKind.RESIDENT,
            recipient_id=resident.id,
            number=caller,
            language=resident.language,
            case=case,
            now=now,
        )
        log.info("inbound call from resident %s (household %s)", resident.id, resident.household_id)
        return _inbound_opening(session, attempt, base_url)
    contacts = list(
        session.exec(select(Contact).where(Contact.phone == caller).order_by(col(Contact.id))).all()
    )
    if contacts:
        contact, case = _contact_with_open_case(session, contacts)
        assert contact.id is not None
        attempt = _new_inbound(
            session,
            call_sid=call_sid,
            household_id=contact.household_id,
            kind=RecipientKind.CONTACT,
            recipient_id=contact.id,
            number=caller,
            language=contact.language,
            case=case,
            now=now,
        )
        log.info("inbound call from contact %s (household %s)", contact.id, contact.household_id)
        return _inbound_opening(session, attempt, base_url)
    log.info("inbound call from unknown number %s; hanging up", mask_phone(caller))
    return hangup_twiml()


def inbound_key(call_sid: str) -> str:
    return f"inbound:{call_sid}"


def is_inbound(attempt: CallAttempt) -> bool:
    return attempt.idempotency_key.startswith("inbound:")


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
    if call_sid and attempt.provider_sid is None:
        # Twilio has the call: a worker that died before recording the send must not place it again.
        attempt.provider_sid = call_sid[:64]
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
        if checkins.is_checkin(attempt) and attempt.outcome == CallOutcome.UNCLEAR:
            attempt.outcome = checkins.call_outcome(_checkin_answers(session, attempt))
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
    """``escalation.escalate_now``; should it fail, the request is still not lost: the case is raised
    and made due now, so the next escalation tick acts on it, and the failure is logged."""
    try:
        with session.begin_nested():
            escalation.escalate_now(session, case, target=target, now=now, reason=reason)
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


# ---------------------------------------------------------------- scheduled check-in calls


def _checkin_reply(
    session: Session,
    attempt: CallAttempt,
    params: Mapping[str, str],
    *,
    base_url: str,
    now: datetime,
    gather_no: int | None = None,
) -> str:
    """One answer of a scheduled check-in: store it, then the next question or goodbye.

    An emergency phrase ends the call and escalates at once (a ``help_requested`` case). A reply
    that arrives after the call ended still counts (the outcome is recomputed from all answers).
    """
    language = attempt.language
    asked = len(checkins.QUESTIONS)
    if not is_next_gather(attempt, gather_no):
        # Without this, a repeated answer to one question would be stored as the next one's.
        return _checkin_replay(attempt, gather_no, base_url)
    if attempt.gather_count >= asked or attempt.outcome == CallOutcome.EMERGENCY:
        return say_and_hang_up_twiml("checkin.closing", language)
    reply = Reply.from_params(params)
    topic = checkins.QUESTIONS[attempt.gather_count]
    answer = checkins.interpret_answer(reply.kind, reply.text, reply.speech_confidence)
    attempt.gather_count += 1
    line = f"#{attempt.gather_count} {topic}: {reply.describe()} -> {answer}"
    attempt.transcript = f"{attempt.transcript}\n{line}" if attempt.transcript else line
    attempt.updated_at = now
    _advance_status(attempt, CallStatus.IN_PROGRESS)
    answers = checkins.record_answer(session, attempt, topic, answer, kind=reply.kind, excerpt=reply.text)
    if answer == "emergency":
        attempt.outcome = CallOutcome.EMERGENCY
        apply_reply(
            session,
            household_id=attempt.household_id,
            case=None,
            intent=Intent.EMERGENCY,
            now=now,
            actor=f"call:{attempt.id}",
            channel="call",
        )
        log.info("check-in call %s: emergency on %s", attempt.id, topic)
        return closing_twiml(CallOutcome.EMERGENCY, language)
    call_over = attempt.status in TERMINAL_CALL_STATUSES
    if attempt.gather_count < asked and not call_over:
        gather_url = gather_url_for(base_url, attempt.code, attempt.gather_count + 1)
        return checkin_question_twiml(
            language=language,
            gather_url=gather_url,
            topic=checkins.QUESTIONS[attempt.gather_count],
            greeting=False,
        )
    attempt.outcome = checkins.call_outcome(answers)
    if attempt.outcome == CallOutcome.OK:
        record_checkin(session, attempt.household_id, now)
    log.info("check-in call %s finished: %s", attempt.id, attempt.outcome.value)
    return say_and_hang_up_twiml("checkin.closing", language)


def _checkin_replay(attempt: CallAttempt, gather_no: int | None, base_url: str) -> str:
    """A check-in answer already handled (see :func:`_replay`): its first delivery got the next
    question, or the emergency closing, or the check-in goodbye."""
    assert gather_no is not None
    log.info(
        "check-in call %s: answer %s delivered again (%s handled); not acted on",
        attempt.id,
        gather_no,
        attempt.gather_count,
    )
    asked = len(checkins.QUESTIONS)
    if gather_no < attempt.gather_count or (
        gather_no == attempt.gather_count and gather_no < asked and attempt.outcome is None
    ):
        return checkin_question_twiml(
            language=attempt.language,
            gather_url=gather_url_for(base_url, attempt.code, gather_no + 1),
            topic=checkins.QUESTIONS[gather_no],
            greeting=False,
        )
    if gather_no == attempt.gather_count and attempt.outcome == CallOutcome.EMERGENCY:
        return closing_twiml(CallOutcome.EMERGENCY, attempt.language)
    return say_and_hang_up_twiml("checkin.closing", attempt.language)


def _checkin_answers(session: Session, attempt: CallAttempt) -> dict[str, Any]:
    row = session.exec(select(CheckinCall).where(CheckinCall.call_attempt_id == attempt.id)).first()
    return dict(row.answers) if row is not None else {}


# ---------------------------------------------------------------- family calls and inbound calls


def _contact_opening(session: Session, attempt: CallAttempt, base_url: str) -> str:
    """What a family member hears first: on our notification call, the alert; on their own call,
    the household's state. Both end in "press 1" while something is open to acknowledge."""
    language = attempt.language
    contact = session.get(Contact, attempt.recipient_id) if attempt.recipient_id is not None else None
    lines = [CATALOGUE.text("call.contact.greeting", language)]
    if is_inbound(attempt):
        for each in _contact_households(session, attempt):
            lines.extend(family.status_lines(session, each, language, spoken=True))
    else:
        household = session.get(Household, attempt.household_id)
        case = _case_of(session, attempt)
        if household is not None and case is not None and case.status in ACTIVE_CASE_STATUSES:
            kind = CATALOGUE.text(f"notify.kind.{case.kind.value}", language)
            lines.append(CATALOGUE.text("call.contact.alert", language, code=household.code, kind=kind))
        elif household is not None:  # cleared or resolved while the phone rang: say how things are now
            lines.extend(family.status_lines(session, household, language, spoken=True))
    has_open = contact is not None and any(
        c.status == CaseStatus.OPEN for c in family.active_cases(session, contact.household_id)
    )
    if is_inbound(attempt) and attempt.case_id is None:
        has_open = False  # open cases in several households: we cannot tell which "1" is meant
    gather_url = gather_url_for(base_url, attempt.code, 1, contact=True) if has_open else None
    return contact_call_twiml(language=language, lines=lines, gather_url=gather_url)


def _contact_households(session: Session, attempt: CallAttempt) -> list[Household]:
    """The households a calling family member is a contact of (same number), in id order."""
    rows = session.exec(
        select(Household)
        .join(Contact, Contact.household_id == Household.id)  # type: ignore[arg-type]
        .where(Contact.phone == attempt.to_number)
        .order_by(col(Household.id))
    ).all()
    unique = {h.id: h for h in rows}
    return list(unique.values())


_CONTACT_CLOSINGS: dict[family.AckResult, str] = {
    family.AckResult.ACKNOWLEDGED: "call.contact.acknowledged",
    family.AckResult.ALREADY: "call.contact.ack_already",
    family.AckResult.NOTHING_OPEN: "reply.ack_nothing_open",
    family.AckResult.AMBIGUOUS: "call.contact.ack_ambiguous",
}


def _contact_reply(
    session: Session,
    attempt: CallAttempt,
    params: Mapping[str, str],
    *,
    base_url: str,
    now: datetime,
    gather_no: int | None = None,
) -> str:
    language = attempt.language
    if not is_next_gather(attempt, gather_no):
        assert gather_no is not None
        log.info("contact call %s: key press %s delivered again; not acted on", attempt.id, gather_no)
        if gather_no < attempt.gather_count or (
            gather_no == attempt.gather_count and attempt.outcome is None
        ):
            # Its first delivery got the re-ask (only a re-ask leads to a further attempt).
            gather_url = gather_url_for(base_url, attempt.code, gather_no + 1, contact=True)
            return contact_reask_twiml(language=language, gather_url=gather_url)
        acknowledged = attempt.outcome == CallOutcome.ACKNOWLEDGED
        return say_and_hang_up_twiml(
            "call.contact.acknowledged" if acknowledged else "call.contact.not_acknowledged", language
        )
    if attempt.outcome is not None and attempt.outcome != CallOutcome.VOICEMAIL:
        # A retried request: the decision was made and acted on once.
        key = (
            "call.contact.acknowledged"
            if attempt.outcome == CallOutcome.ACKNOWLEDGED
            else "call.contact.not_acknowledged"
        )
        return say_and_hang_up_twiml(key, language)
    digits = (params.get("Digits") or "").strip()[:20]
    attempt.gather_count += 1
    line = f"#{attempt.gather_count} " + (f"dtmf {digits}" if digits else "no response")
    attempt.updated_at = now
    _advance_status(attempt, CallStatus.IN_PROGRESS)
    call_over = attempt.status in TERMINAL_CALL_STATUSES
    if digits != "1" and attempt.gather_count < MAX_GATHERS and not call_over:
        attempt.transcript = (
            f"{attempt.transcript}\n{line} -> re-ask" if attempt.transcript else f"{line} -> re-ask"
        )
        _record_contact_event(session, attempt, now, digits=digits, outcome=None, result=None)
        gather_url = gather_url_for(base_url, attempt.code, attempt.gather_count + 1, contact=True)
        return contact_reask_twiml(language=language, gather_url=gather_url)
    if digits != "1":
        attempt.outcome = CallOutcome.UNCLEAR
        attempt.transcript = (
            f"{attempt.transcript}\n{line} -> unclear" if attempt.transcript else f"{line} -> unclear"
        )
        _record_contact_event(session, attempt, now, digits=digits, outcome=attempt.outcome, result=None)
        return say_and_hang_up_twiml("call.contact.not_acknowledged", language)
    contact = session.get(Contact, attempt.recipient_id) if attempt.recipient_id is not None else None
    if contact is None:
        result = family.AckResult.NOTHING_OPEN
    else:
        result = family.acknowledge_for_contacts(session, [contact], now, channel="call")
    attempt.outcome = CallOutcome.ACKNOWLEDGED
    attempt.transcript = (
        f"{attempt.transcript}\n{line} -> {result.value}"
        if attempt.transcript
        else f"{line} -> {result.value}"
    )
    _record_contact_event(session, attempt, now, digits=digits, outcome=attempt.outcome, result=result)
    return say_and_hang_up_twiml(_CONTACT_CLOSINGS[result], language)


def _record_contact_event(
    session: Session,
    attempt: CallAttempt,
    now: datetime,
    *,
    digits: str,
    outcome: CallOutcome | None,
    result: family.AckResult | None,
) -> None:
    case = _case_of(session, attempt)
    if case is None:
        return
    lifecycle.record_event(
        session,
        case,
        CaseEventType.CALL_OUTCOME,
        now,
        actor=f"contact:{attempt.recipient_id}",
        call_attempt_id=attempt.id,
        recipient_kind=RecipientKind.CONTACT.value,
        outcome=outcome.value if outcome else None,
        reask=outcome is None,
        gather=attempt.gather_count,
        input="dtmf" if digits else "none",
        digits=digits or None,
        ack=result.value if result else None,
        inbound=is_inbound(attempt),
    )


def _inbound_opening(session: Session, attempt: CallAttempt, base_url: str) -> str:
    if attempt.recipient_kind == RecipientKind.CONTACT:
        return _contact_opening(session, attempt, base_url)
    gather_url = gather_url_for(base_url, attempt.code, 1)
    return greeting_twiml(language=attempt.language, gather_url=gather_url, inbound=True)


def _resident_case(session: Session, household_id: int) -> Case | None:
    """The case a resident's own call is about: the active inactivity case (a "fine" clears it),
    else an active help case, else none (a "fine" is still a check-in)."""
    for kind in (CaseKind.INACTIVITY, CaseKind.HELP_REQUESTED):
        case = lifecycle.active_case(session, household_id, kind)
        if case is not None:
            return case
    return None


def _contact_with_open_case(session: Session, contacts: list[Contact]) -> tuple[Contact, Case | None]:
    """The contact row (one per household) a calling number stands for, and the open case a "1"
    would acknowledge: only when exactly one of their households has one."""
    with_open = [
        (contact, cases[0])
        for contact in contacts
        if (
            cases := [
                c for c in family.active_cases(session, contact.household_id) if c.status == CaseStatus.OPEN
            ]
        )
    ]
    if len(with_open) == 1:
        return with_open[0]
    return contacts[0], None


def _new_inbound(
    session: Session,
    *,
    call_sid: str | None,
    household_id: int,
    kind: RecipientKind,
    recipient_id: int,
    number: str,
    language: Language,
    case: Case | None,
    now: datetime,
) -> CallAttempt:
    code = uuid.uuid4().hex
    attempt = CallAttempt(
        case_id=case.id if case is not None else None,
        household_id=household_id,
        recipient_kind=kind,
        recipient_id=recipient_id,
        to_number=number,
        language=language,
        code=code,
        idempotency_key=inbound_key(call_sid or code),
        escalation_token=case.escalation_token if case is not None else "",
        status=CallStatus.IN_PROGRESS,
        provider_sid=call_sid,
        created_at=now,
        updated_at=now,
    )
    try:
        # Two API processes may get the same call's webhook at once (Twilio retried it): the
        # unique idempotency key lets one insert win; the other answers with the winner's row.
        with session.begin_nested():
            session.add(attempt)
            session.flush()
    except IntegrityError:
        winner = session.exec(
            select(CallAttempt).where(CallAttempt.idempotency_key == attempt.idempotency_key)
        ).first()
        if winner is None:  # not a duplicate after all: let the API answer with an error
            raise
        log.info("inbound call %s recorded by a concurrent delivery; answering with it", winner.id)
        return winner
    if case is not None:
        lifecycle.record_event(
            session,
            case,
            CaseEventType.CALL_STATUS,
            now,
            actor=f"{kind.value}:{recipient_id}",
            call_attempt_id=attempt.id,
            status=CallStatus.IN_PROGRESS.value,
            inbound=True,
        )
    return attempt


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
