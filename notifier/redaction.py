"""Removing people's words and numbers from rows whose record must stay (PIPA, GDPR).

A call, a text or a case event stays (counts, outcomes and timings are what statistics and
reviews are made of); what a resident said, what we wrote to someone and the number it went to
are blanked. Used by retention (``notifier.retention``: once the purpose is met) and by erasure
(``notifier.erasure``: at the resident's request, everything about them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from core.enums import CaseEventType
from core.models import CallAttempt, CallReply, Case, CaseEvent, CheckinCall
from notifier.classifier_rules import FALL, normalise

# Case event fields holding a resident's own words (speech excerpts, SMS replies).
_RESIDENT_WORDS = ("excerpt",)
# Fields of free text about a resident that staff wrote, masked numbers, and who in the family
# answered (a contact's relation, on reply_unverified): erasure only.
_ABOUT_THEM = ("note", "text", "visitor", "to", "excerpt", "relation")


def scrub_event(event: CaseEvent, *, everything: bool = False) -> bool:
    """Blank a resident's words in one event (with ``everything``, all free text about them).

    Returns whether anything changed. A note a resident sent by SMS (actor ``resident:N``) is
    their words; a note staff wrote is kept by retention (it is the case file) and blanked
    by erasure.
    """
    data: dict[str, Any] = dict(event.data or {})
    keys = _ABOUT_THEM if everything else _RESIDENT_WORDS
    if event.type == CaseEventType.NOTE and event.actor.startswith("resident:"):
        keys = (*keys, "text")
    changed = False
    if event.type == CaseEventType.CALL_OUTCOME and "excerpt" in keys and data.get("excerpt"):
        # The words go; whether they told of a fall (the case's cause, a statistic) stays.
        data["fall"] = bool(FALL.search(normalise(str(data["excerpt"]))))
    for key in keys:
        if data.get(key):
            data[key] = ""
            changed = True
    if changed:
        event.data = data  # a new dict: JSON columns do not track changes inside one
    return changed


def scrub_checkin_answers(answers: dict[str, Any]) -> dict[str, Any]:
    """Keep each question's answer category ("ok", "concern", ...), drop the words heard."""
    return {
        topic: {**value, "excerpt": ""} if isinstance(value, dict) else value
        for topic, value in answers.items()
    }


def remove_call_words(session: Session, call_ids: Sequence[int]) -> None:
    """Blank the transcripts of these calls and the words their check-in answers and stored
    replies kept."""
    if not call_ids:
        return
    session.execute(
        update(CallAttempt)
        .where(col(CallAttempt.id).in_(call_ids))
        .values(transcript="")
        .execution_options(synchronize_session=False)
    )
    for checkin in session.exec(select(CheckinCall).where(col(CheckinCall.call_attempt_id).in_(call_ids))):
        checkin.answers = scrub_checkin_answers(checkin.answers)
    # The raw replies stored before they were acted on (notifier.stored_replies): the same words.
    codes = select(CallAttempt.code).where(col(CallAttempt.id).in_(call_ids))
    session.execute(
        delete(CallReply).where(col(CallReply.code).in_(codes)).execution_options(synchronize_session=False)
    )


def remove_case_words(
    session: Session, case_ids: Sequence[int], now: datetime, *, everything: bool = False
) -> int:
    """Remove what the residents said on these cases (calls, SMS replies, excerpts); stamp them.

    Returns how many case events changed.
    """
    if not case_ids:
        return 0
    calls = session.exec(select(CallAttempt.id).where(col(CallAttempt.case_id).in_(case_ids))).all()
    remove_call_words(session, [c for c in calls if c is not None])
    changed = 0
    for event in session.exec(select(CaseEvent).where(col(CaseEvent.case_id).in_(case_ids))):
        changed += scrub_event(event, everything=everything)
    # Not case state (no version bump): the escalation engine never reads it.
    session.execute(
        update(Case)
        .where(col(Case.id).in_(case_ids))
        .values(transcripts_removed_at=now)
        .execution_options(synchronize_session=False)
    )
    return changed
