"""A resident at risk put through to the suicide-prevention line (docs/calls.md, "Self-harm
protocol"): what they hear after each ``<Dial>`` and after "press 1 to be connected", and the
record of it on their self-harm case.

What they hear is decided from the callback alone (Twilio's ``DialCallStatus`` or the key, the
attempt and language in the signed URL), so the database being away never leaves them in
silence; the record waits briefly for the database and is otherwise spooled and written by the
worker (notifier.webhook_spool), so it never holds that answer back.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from sqlmodel import Session, select

from core.enums import CaseEventType, CaseKind, Language
from core.models import CaseEvent
from notifier import lifecycle
from notifier.calls.common import clean_param, locked_attempt, parse_int
from notifier.script import crisis_line_twiml

log = logging.getLogger(__name__)

DIAL_STATUSES = frozenset({"completed", "answered", "busy", "no-answer", "failed", "canceled"})


def dial_status(params: Mapping[str, str]) -> str | None:
    """Twilio's ``DialCallStatus`` when this is the ``<Dial>``'s callback, else None (a key press).
    An unknown word counts as not connected, so the resident is offered the line again."""
    value = clean_param(params.get("DialCallStatus"))
    if value is None:
        return None
    value = value.lower()
    return value if value in DIAL_STATUSES else "failed"


def answer(params: Mapping[str, str], *, code: str, base_url: str, attempt: int, language: Language) -> str:
    """TwiML after the line's ``<Dial>`` ended or the resident pressed a key. Pure."""
    status = dial_status(params)
    # Twilio reports a bridged call that ended as "completed" ("answered" in some accounts).
    if status == "answered":
        status = "completed"
    digits = (params.get("Digits") or "").strip()[:1]
    return crisis_line_twiml(
        language, code=code, base_url=base_url, attempt=attempt, dial_status=status, digits=digits
    )


def record(session: Session, *, code: str, params: Mapping[str, str], attempt: int, now: datetime) -> None:
    """A ``crisis_line`` event on the household's active self-harm case: which attempt, and whether
    the line answered (no words, no numbers). Unknown calls and households without one: nothing."""
    call = locked_attempt(session, code)
    if call is None:
        log.warning("connect callback for an unknown call code; not recorded")
        return
    case = lifecycle.active_case(session, call.household_id, CaseKind.SELF_HARM_RISK)
    if case is None:
        log.info("call attempt %s: connect callback without a case to record it on", call.id)
        return
    status = dial_status(params)
    if _recorded(session, case.id, call.id, attempt, dialled=status is not None):
        log.info("call attempt %s: connect callback %s delivered again; recorded once", call.id, attempt)
        return
    lifecycle.record_event(
        session,
        case,
        CaseEventType.CRISIS_LINE,
        now,
        actor=f"call:{call.id}",
        call_attempt_id=call.id,
        attempt=attempt,
        dial_status=status,
        pressed_to_connect=status is None and (params.get("Digits") or "").strip()[:1] == "1",
        duration_s=parse_int(params.get("DialCallDuration")),
    )
    # Ids only: that this call was put through to the line is health data (docs/security.md).
    log.info("call attempt %s: connect callback %s recorded", call.id, attempt)


def _recorded(
    session: Session, case_id: int | None, call_id: int | None, attempt: int, *, dialled: bool
) -> bool:
    """Whether this callback is on the case already: Twilio's repeat, or a spooled callback
    handled twice (notifier.webhook_spool), counts once. Attempt ``n`` has two callbacks: the key
    press that dials it and the end of that dial. A case has a few such events."""
    events = session.exec(
        select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.type == CaseEventType.CRISIS_LINE)
    ).all()
    return any(
        e.data.get("call_attempt_id") == call_id
        and e.data.get("attempt") == attempt
        and (e.data.get("dial_status") is not None) == dialled
        for e in events
    )
