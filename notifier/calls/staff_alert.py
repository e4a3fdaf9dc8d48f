"""Calls to staff: a caseworker or the control room hears the alert, and key 1 takes the case on
and puts them through to the resident (the self-harm protocol: a person calls someone at risk,
at once; the policy's ``call_control_room`` step).

Key 1 is enough: we placed the call to the staff member's number on file, so only that phone can
answer it (as for family, :mod:`notifier.calls.contact`). Keys only: a misheard word must never
take a case on. What was pressed is kept on the call and the case; logs carry ids only.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session, col, select

from core.enums import (
    ACTIVE_CASE_STATUSES,
    TERMINAL_CALL_STATUSES,
    CallOutcome,
    CallPurpose,
    CallStatus,
    CaseKind,
    CaseStatus,
    RecipientKind,
    Role,
)
from core.models import CallAttempt, Case, Household, Notification, Resident, User
from notifier import lifecycle
from notifier.calls.common import (
    MAX_GATHERS,
    Gathered,
    advance_status,
    append_transcript,
    case_of,
    gather_url_for,
    is_next_gather,
    record_keys,
)
from notifier.crisis import crisis_line
from notifier.lifecycle import CaseConflict
from notifier.script import CATALOGUE, say_and_hang_up_twiml, staff_alert_twiml, staff_connect_twiml
from notifier.templates import HANDOFF_TEMPLATE

log = logging.getLogger(__name__)


def opening(session: Session, attempt: CallAttempt, base_url: str) -> str:
    """What the caseworker or control room hears on answering: the alert and "press 1"; or, when
    someone on the staff has taken the case on already, who did; or that it is over."""
    language = attempt.language
    case = case_of(session, attempt)
    household = session.get(Household, attempt.household_id)
    if case is None or household is None or case.status not in ACTIVE_CASE_STATUSES:
        return say_and_hang_up_twiml("call.staff.case_over", language)
    taker = taken_on_by(session, case)
    if taker is not None and taker.id != attempt.recipient_id:
        name = taker.display_name or taker.username
        return say_and_hang_up_twiml("call.staff.taken_on", language, name=name)
    user = session.get(User, attempt.recipient_id) if attempt.recipient_id is not None else None
    if case.kind == CaseKind.SELF_HARM_RISK:
        key = (
            "call.self_harm.control_room_alert"
            if user is not None and user.role == Role.CONTROL_ROOM
            else "call.self_harm.responder_alert"
        )
        text = CATALOGUE.text(key, language, code=household.code, line=crisis_line(language))
    else:
        kind = CATALOGUE.text(f"notify.kind.{case.kind.value}", language)
        key = "call.staff.handoff_119" if _handed_off_to(session, attempt) else "call.staff.alert"
        text = CATALOGUE.text(key, language, code=household.code, kind=kind)
    return staff_alert_twiml(
        language=language, text=text, gather_url=gather_url_for(base_url, attempt.code, 1)
    )


def reply(session: Session, attempt: CallAttempt, got: Gathered) -> str:
    """The staff member's key press: 1 takes the case on and connects them; anything else or
    silence is asked once more, then the call ends with the case still on the dashboard."""
    language = attempt.language
    if not is_next_gather(attempt, got.gather_no) or attempt.outcome is not None:
        # A retried or late callback: answer as the first delivery was answered, act on nothing.
        if attempt.outcome == CallOutcome.ACKNOWLEDGED:
            return staff_connect_twiml(language, resident_phone(session, attempt.household_id))
        if attempt.outcome is None and got.gather_no is not None and got.gather_no <= attempt.gather_count:
            gather_url = gather_url_for(got.base_url, attempt.code, attempt.gather_count + 1)
            return staff_alert_twiml(language=language, text="", gather_url=gather_url, reask=True)
        return say_and_hang_up_twiml("call.staff.not_taken", language)
    digits = (got.params.get("Digits") or "").strip()[:20]
    attempt.gather_count += 1
    attempt.updated_at = got.now
    advance_status(attempt, CallStatus.IN_PROGRESS)
    line = f"#{attempt.gather_count} " + (f"dtmf {digits}" if digits else "no response")
    if digits == "1":
        attempt.outcome = CallOutcome.ACKNOWLEDGED
        append_transcript(attempt, f"{line} -> taken on")
        _take_on(session, attempt, got.now)
        return staff_connect_twiml(language, resident_phone(session, attempt.household_id))
    if attempt.gather_count < MAX_GATHERS and attempt.status not in TERMINAL_CALL_STATUSES:
        append_transcript(attempt, f"{line} -> re-ask")
        _record(session, attempt, got.now, digits=digits, outcome=None)
        gather_url = gather_url_for(got.base_url, attempt.code, attempt.gather_count + 1)
        return staff_alert_twiml(language=language, text="", gather_url=gather_url, reask=True)
    attempt.outcome = CallOutcome.UNCLEAR
    append_transcript(attempt, f"{line} -> not taken on")
    _record(session, attempt, got.now, digits=digits, outcome=attempt.outcome)
    return say_and_hang_up_twiml("call.staff.not_taken", language)


def taken_on_by(session: Session, case: Case) -> User | None:
    """The staff member who took the case on: whoever acknowledged it on the dashboard, else
    whoever pressed 1 on one of our staff calls about it; None when no one on the staff has
    (a family member's acknowledgement does not count)."""
    actor = case.acknowledged_by or ""
    if actor.startswith("user:"):
        user = session.exec(select(User).where(User.username == actor.removeprefix("user:"))).first()
        if user is not None:
            return user
    pressed = session.exec(
        select(CallAttempt.recipient_id)
        .where(
            CallAttempt.case_id == case.id,
            CallAttempt.purpose == CallPurpose.STAFF_ALERT,
            CallAttempt.outcome == CallOutcome.ACKNOWLEDGED,
        )
        .order_by(col(CallAttempt.updated_at), col(CallAttempt.id))
    ).first()
    return session.get(User, pressed) if pressed is not None else None


def _handed_off_to(session: Session, attempt: CallAttempt) -> bool:
    """Whether this staff member was sent the 119 hand-off sheet for the case (then the call asks
    them to call 119 with it)."""
    found = session.exec(
        select(Notification.id).where(
            Notification.case_id == attempt.case_id,
            Notification.recipient_kind == RecipientKind.USER,
            Notification.recipient_id == attempt.recipient_id,
            Notification.template == HANDOFF_TEMPLATE,
        )
    ).first()
    return found is not None


def resident_phone(session: Session, household_id: int) -> str | None:
    """The number to put the staff member through to: the household's first resident with one."""
    residents = session.exec(
        select(Resident).where(Resident.household_id == household_id).order_by(col(Resident.id))
    ).all()
    return next((r.phone for r in residents if r.phone), None)


def _take_on(session: Session, attempt: CallAttempt, now: datetime) -> None:
    """Key 1: an open case is acknowledged in the staff member's name (escalation to others
    stops, except what a self-harm case still owes); an acknowledged one (a family member said
    they have seen it) keeps its state and gets the record of who took it on."""
    case = case_of(session, attempt)
    user = session.get(User, attempt.recipient_id) if attempt.recipient_id is not None else None
    if case is None or user is None:
        return
    actor = f"user:{user.username}"
    for _ in range(2):
        if case.status != CaseStatus.OPEN:
            break
        try:
            lifecycle.acknowledge(session, case, actor=actor, now=now)
            break
        except CaseConflict:
            session.refresh(case)
    _record(session, attempt, now, digits="1", outcome=CallOutcome.ACKNOWLEDGED, actor=actor)
    log.info("staff call %s: case %s taken on by user %s", attempt.id, case.id, user.id)


def _record(
    session: Session,
    attempt: CallAttempt,
    now: datetime,
    *,
    digits: str,
    outcome: CallOutcome | None,
    actor: str | None = None,
) -> None:
    record_keys(
        session,
        attempt,
        now,
        actor=actor or f"call:{attempt.id}",
        recipient_kind=attempt.recipient_kind,
        digits=digits,
        outcome=outcome,
        ack="taken_on" if outcome == CallOutcome.ACKNOWLEDGED else None,
    )
