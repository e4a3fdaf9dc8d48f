"""Twilio voice webhooks: one dispatch over the five kinds of call (``CallAttempt.purpose``).

The API has already checked the Twilio signature. Every handler works inside the caller's
transaction (never commits), locks the CallAttempt row first so retried or concurrent callbacks
for one call are applied one at a time, and never raises on unknown or stale input: an unknown
call gets a polite hang-up and changes nothing.

=============  ==================================================  ===========================
purpose        what the person hears first                          a reply is handled by
=============  ==================================================  ===========================
wellness       "are you all right?" (the escalation ladder)         :mod:`.wellness`
checkin        the first of three check-in questions                :mod:`.checkin`
contact_alert  the alert, then "press 1 to acknowledge"             :mod:`.contact`
staff_alert    the alert, then "press 1 to take it on" (+ connect)  :mod:`.staff_alert`
inbound        a resident: the question; family: the state         :mod:`.wellness` / :mod:`.contact`
=============  ==================================================  ===========================

What a resident's reply does to the case is :mod:`notifier.replies` (shared with SMS). A resident
at risk put through to the suicide-prevention line: :mod:`.crisis_line`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from sqlmodel import Session

from core.enums import (
    TERMINAL_CALL_STATUSES,
    CallOutcome,
    CallPurpose,
    CallStatus,
    CaseEventType,
    Language,
    RecipientKind,
)
from core.models import CallAttempt
from notifier import checkins, lifecycle
from notifier.calls import checkin, contact, inbound, staff_alert, wellness
from notifier.calls.common import (
    Gathered,
    advance_status,
    case_of,
    clean_param,
    gather_url_for,
    is_machine,
    locked_attempt,
    parse_call_status,
    parse_int,
    record_outcome,
    terminal_outcome,
)
from notifier.script import (
    checkin_question_twiml,
    greeting_twiml,
    hangup_twiml,
    say_and_hang_up_twiml,
    voicemail_twiml,
)

log = logging.getLogger(__name__)


def answer(session: Session, *, code: str, params: Mapping[str, str], base_url: str, now: datetime) -> str:
    """TwiML for a call we placed that was just answered (by a person or a machine)."""
    attempt = locked_attempt(session, code)
    if attempt is None:
        log.warning("voice answer for an unknown call code; hanging up")
        return hangup_twiml()
    if attempt.status in TERMINAL_CALL_STATUSES:
        log.warning("voice answer for call attempt %s that already ended (%s)", attempt.id, attempt.status)
        return hangup_twiml(attempt.language)
    call_sid = clean_param(params.get("CallSid"), 64)
    if call_sid and attempt.provider_sid is None:
        attempt.provider_sid = call_sid  # as in call_status: Twilio has this call, never place it again
    answered_by = clean_param(params.get("AnsweredBy"))
    if answered_by:
        attempt.answered_by = answered_by
    advance_status(attempt, CallStatus.IN_PROGRESS)
    attempt.updated_at = now
    is_contact = attempt.recipient_kind == RecipientKind.CONTACT
    if is_machine(answered_by):
        if attempt.outcome is None:
            attempt.outcome = CallOutcome.VOICEMAIL
            record_outcome(session, attempt, now, outcome=CallOutcome.VOICEMAIL, answered_by=answered_by)
        if is_contact:
            return say_and_hang_up_twiml("call.contact.voicemail", attempt.language)
        if attempt.recipient_kind == RecipientKind.USER:  # no household, no case detail on a tape
            return say_and_hang_up_twiml("call.staff.voicemail", attempt.language)
        return voicemail_twiml(attempt.language)
    if attempt.purpose == CallPurpose.CONTACT_ALERT:
        return contact.contact_opening(session, attempt, base_url)
    if attempt.purpose == CallPurpose.STAFF_ALERT:
        return staff_alert.opening(session, attempt, base_url)
    if attempt.purpose == CallPurpose.INBOUND:  # not expected: an inbound call is answered by us
        return inbound.inbound_opening(session, attempt, base_url)
    gather_url = gather_url_for(base_url, code, 1)
    if attempt.purpose == CallPurpose.CHECKIN:
        return checkin_question_twiml(
            language=attempt.language, gather_url=gather_url, topic=checkins.QUESTIONS[0], greeting=True
        )
    return greeting_twiml(language=attempt.language, gather_url=gather_url)


ReplyHandler = Callable[[Session, CallAttempt, Gathered], str]

# Who may answer each kind of call, and what handles the answer. A family member's key press is
# never read as the resident's "I'm fine" (that would clear the case), so the recipient must match.
_REPLY_HANDLERS: dict[tuple[CallPurpose, RecipientKind], ReplyHandler] = {
    (CallPurpose.WELLNESS, RecipientKind.RESIDENT): wellness.reply,
    (CallPurpose.CHECKIN, RecipientKind.RESIDENT): checkin.checkin_reply,
    (CallPurpose.CONTACT_ALERT, RecipientKind.CONTACT): contact.contact_reply,
    (CallPurpose.INBOUND, RecipientKind.RESIDENT): wellness.reply,
    (CallPurpose.INBOUND, RecipientKind.CONTACT): contact.contact_reply,
    (CallPurpose.STAFF_ALERT, RecipientKind.USER): staff_alert.reply,
}


def gather(
    session: Session,
    *,
    code: str,
    params: Mapping[str, str],
    base_url: str,
    now: datetime,
    gather_no: int | None = None,
) -> str:
    """A reply to a ``<Gather>`` (``gather_no``: the ``n`` of its action URL), handed to the
    handler of the call's purpose and recipient; anything else gets the polite hang-up."""
    attempt = locked_attempt(session, code)
    if attempt is None:
        log.warning("voice gather for an unknown call code; hanging up")
        return hangup_twiml()
    handler = _REPLY_HANDLERS.get((attempt.purpose, attempt.recipient_kind))
    if handler is None:
        log.warning(
            "voice gather for %s call attempt %s to a %s; hanging up",
            attempt.purpose.value,
            attempt.id,
            attempt.recipient_kind.value,
        )
        return hangup_twiml(attempt.language)
    return handler(session, attempt, Gathered(params, base_url, now, gather_no))


def inbound_call(session: Session, *, params: Mapping[str, str], base_url: str, now: datetime) -> str:
    """A call to our number (:func:`notifier.calls.inbound.inbound_call`)."""
    return inbound.inbound_call(session, params=params, base_url=base_url, now=now)


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
    attempt = locked_attempt(session, code)
    if attempt is None or attempt.recipient_kind != RecipientKind.CONTACT:
        log.warning("contact gather for an unknown call code or a non-contact call; hanging up")
        return hangup_twiml(attempt.language if attempt else Language.KO)
    return contact.contact_reply(session, attempt, Gathered(params, base_url, now, gather_no))


def call_status(session: Session, *, code: str, params: Mapping[str, str], now: datetime) -> None:
    """Twilio's status callback: idempotent, and stale (out-of-order) callbacks change nothing."""
    attempt = locked_attempt(session, code)
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
    sequence = parse_int(params.get("SequenceNumber"))
    if sequence is not None:
        if sequence <= attempt.last_sequence:
            log.info("call attempt %s: stale status callback %s ignored", attempt.id, sequence)
            return
        attempt.last_sequence = sequence
    answered_by = clean_param(params.get("AnsweredBy"))
    if answered_by:
        attempt.answered_by = answered_by
    attempt.updated_at = now
    status = parse_call_status(params.get("CallStatus"))
    if status is None:
        log.warning("call attempt %s: unknown CallStatus ignored", attempt.id)
        return
    was_terminal = attempt.status in TERMINAL_CALL_STATUSES
    if not advance_status(attempt, status) or was_terminal or status not in TERMINAL_CALL_STATUSES:
        return
    if attempt.outcome is None:
        attempt.outcome = terminal_outcome(status, attempt.answered_by)
        if attempt.purpose == CallPurpose.CHECKIN and attempt.outcome == CallOutcome.UNCLEAR:
            attempt.outcome = checkins.call_outcome(checkin.checkin_answers(session, attempt))
    case = case_of(session, attempt)
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
            duration_s=parse_int(params.get("CallDuration")),
        )
    log.info("call attempt %s ended: %s, outcome %s", attempt.id, status.value, attempt.outcome.value)
