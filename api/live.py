"""New 긴급 (critical) cases as they happen, for the dashboard's live notice (issue 17).

The engine and the API are separate processes, so the stream polls the database: every couple
of seconds, the case events after a cursor (the id of the last ``case_event`` looked at) that
opened a case at 긴급 or raised one to it, whose case is still open or acknowledged and whose
household the user may see. The cursor is sent with each notice (and once at the start), so a
client that reconnects asks for what came after it and misses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from api.queries import visible_households
from api.schemas import UrgentNotice
from core.enums import ACTIVE_CASE_STATUSES, CaseEventType, Severity
from core.models import Case, CaseEvent, Household, User

# The events that can make a case 긴급: opened so, or raised to it.
BECAME_URGENT = (CaseEventType.OPENED, CaseEventType.SEVERITY_RAISED)
MAX_PER_POLL = 50  # a burst beyond this arrives over the next polls, never as one huge message


@dataclass(frozen=True)
class Poll:
    notices: list[UrgentNotice]
    cursor: int


def latest_event_id(session: Session) -> int:
    return int(session.exec(select(func.max(CaseEvent.id))).one() or 0)


def still_allowed(session: Session, user_id: int, token_version: int) -> User | None:
    """The user again, if their session still stands (not deactivated, no logout, no role or
    team change since the stream began); a long-lived stream must not outlive a revocation."""
    user = session.get(User, user_id)
    if user is None or not user.is_active or user.token_version != token_version:
        return None
    return user


def new_urgent(session: Session, user: User, after: int) -> Poll:
    """The cases that became 긴급 in the events after *after*, once each, oldest first."""
    newest = latest_event_id(session)
    if newest <= after:
        return Poll([], after)
    rows = session.exec(
        select(CaseEvent, Case, Household)
        .join(Case, col(Case.id) == col(CaseEvent.case_id))
        .join(Household, col(Household.id) == col(Case.household_id))
        .where(
            col(CaseEvent.id) > after,
            col(CaseEvent.id) <= newest,
            col(CaseEvent.type).in_(BECAME_URGENT),
            col(Case.severity) == Severity.CRITICAL,
            col(Case.status).in_(ACTIVE_CASE_STATUSES),
            visible_households(user),
        )
        .order_by(col(CaseEvent.id))
        .limit(MAX_PER_POLL)
    ).all()
    notices: dict[int, UrgentNotice] = {}
    for event, case, household in rows:
        assert event.id is not None and case.id is not None and household.id is not None
        notices.setdefault(
            case.id,
            UrgentNotice(
                event_id=event.id,
                case_id=case.id,
                household_id=household.id,
                household_code=household.code,
                household_timezone=household.timezone,
                kind=case.kind,
                explanation=case.explanation,
                explanation_texts=case.explanation_texts,
                at=event.at,
            ),
        )
    # A full page: continue after its last row next time; otherwise everything up to newest is seen.
    cursor = rows[-1][0].id or after if len(rows) == MAX_PER_POLL else newest
    return Poll(list(notices.values()), cursor)
