"""The scheduled check-in call: three questions, one ``<Gather>`` each; the answers are stored
by :mod:`notifier.checkins`, an emergency phrase escalates at once."""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import Session, select

from core.enums import (
    TERMINAL_CALL_STATUSES,
    CallOutcome,
    CallStatus,
    Intent,
    Risk,
)
from core.models import CallAttempt, CheckinCall
from notifier import checkins
from notifier.calls.common import (
    Gathered,
    Reply,
    advance_status,
    gather_url_for,
    is_next_gather,
)
from notifier.replies import apply_reply, record_checkin
from notifier.script import (
    checkin_question_twiml,
    closing_twiml,
    say_and_hang_up_twiml,
    self_harm_twiml,
)

log = logging.getLogger(__name__)


def checkin_reply(session: Session, attempt: CallAttempt, got: Gathered) -> str:
    """One answer of a scheduled check-in: store it, then the next question or goodbye.

    An emergency phrase ends the call and escalates at once (a ``help_requested`` case). A reply
    that arrives after the call ended still counts (the outcome is recomputed from all answers).
    """
    params, base_url, now, gather_no = got.params, got.base_url, got.now, got.gather_no
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
    advance_status(attempt, CallStatus.IN_PROGRESS)
    answers = checkins.record_answer(session, attempt, topic, answer, kind=reply.kind, excerpt=reply.text)
    if answer == "emergency":
        attempt.outcome = CallOutcome.EMERGENCY
        risk = reply.classify().risk  # an emergency here is always a speech verdict
        apply_reply(
            session,
            household_id=attempt.household_id,
            case=None,
            intent=Intent.EMERGENCY,
            now=now,
            actor=f"call:{attempt.id}",
            channel="call",
            risk=risk,
            words=reply.text,
        )
        log.info("check-in call %s: answer %s acted on at once", attempt.id, attempt.gather_count)
        if risk == Risk.SELF_HARM:
            return self_harm_twiml(language, code=attempt.code, base_url=base_url)
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
    log.info("check-in call %s finished", attempt.id)  # the outcome is health data: on the call only
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


def checkin_answers(session: Session, attempt: CallAttempt) -> dict[str, Any]:
    row = session.exec(select(CheckinCall).where(CheckinCall.call_attempt_id == attempt.id)).first()
    return dict(row.answers) if row is not None else {}
