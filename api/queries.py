"""Read side of the API: who may see which households and cases, and the rows behind each page.

Visibility is one rule applied everywhere: admin and control room see every household; a
caseworker sees the households of their own team. Routes turn "not visible" into 404, so a
caseworker cannot probe another team's case ids.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, false, func, or_, true
from sqlalchemy import case as sql_case
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select, SelectOfScalar

from api.case_story import (
    Words,
    actor_kind,
    actor_names,
    call_outcome_events,
    case_cause,
    resident_call_ids,
    resident_words,
)
from api.next_step import next_actions
from api.phone_numbers import search_fragments
from api.schemas import (
    CallAttemptOut,
    CallSummary,
    CaseBase,
    CaseDetail,
    CaseEventOut,
    CaseItem,
    CasePerson,
    HouseholdItem,
    NotificationOut,
    NotificationSummary,
    ResidentWordsOut,
)
from core.enums import ACTIVE_CASE_STATUSES, CaseKind, CaseStatus, Role, Severity
from core.models import (
    CallAttempt,
    Case,
    CaseAssignment,
    CaseEvent,
    Household,
    Notification,
    Resident,
    User,
    Watch,
)
from notifier.transports.base import mask_phone

SEE_ALL_ROLES = frozenset({Role.ADMIN, Role.CONTROL_ROOM})
_Row = TypeVar("_Row", CallAttempt, Notification)


def visible_households(user: User) -> ColumnElement[bool]:
    """SQL condition on ``Household`` for what *user* may see."""
    if user.role in SEE_ALL_ROLES:
        return true()
    if user.role == Role.CASEWORKER and user.team_id is not None:
        return col(Household.team_id) == user.team_id
    return false()


# ------------------------------------------------------------------ households


def _literal(text: str) -> str:
    """*text* for LIKE: its wildcards are literal characters, not patterns (escape "\\")."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def household_search(text: str) -> ColumnElement[bool]:
    """Households where *text* is any part of the code, the address, a resident's name or a
    resident's phone — the phone with or without dashes, and in the domestic form people say
    ("010-1234-5678") although it is stored as E.164 (+821012345678)."""
    like = "%" + _literal(text.strip()) + "%"
    named = select(Resident.household_id).where(col(Resident.name).ilike(like, escape="\\"))
    found = [
        col(Household.code).ilike(like, escape="\\"),
        col(Household.address).ilike(like, escape="\\"),
        col(Household.id).in_(named),
    ]
    for digits in sorted(search_fragments(text)):
        phoned = select(Resident.household_id).where(col(Resident.phone).like("%" + digits + "%"))
        found.append(col(Household.id).in_(phoned))
    return or_(*found)


def list_households(
    session: Session,
    user: User,
    *,
    team_id: int | None = None,
    code_prefix: str | None = None,
    search: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[HouseholdItem], int]:
    where = visible_households(user)
    if team_id is not None:
        where = and_(where, col(Household.team_id) == team_id)
    if code_prefix:
        where = and_(where, col(Household.code).ilike(_literal(code_prefix) + "%", escape="\\"))
    if search and search.strip():
        where = and_(where, household_search(search))
    total = session.exec(select(func.count()).select_from(Household).where(where)).one()
    active = (
        select(col(Case.household_id), func.count().label("n"))
        .where(col(Case.status).in_(ACTIVE_CASE_STATUSES))
        .group_by(col(Case.household_id))
        .subquery()
    )
    stmt = (
        select(Household, Watch, func.coalesce(active.c.n, 0))
        .outerjoin(Watch, col(Watch.household_id) == col(Household.id))
        .outerjoin(active, active.c.household_id == col(Household.id))
        .where(where)
        .order_by(col(Household.code), col(Household.id))
        .limit(limit)
        .offset(offset)
    )
    rows = session.exec(stmt).all()
    names = _resident_names(session, [_id(household.id) for household, _, _ in rows])
    items = [
        HouseholdItem(
            id=_id(household.id),
            code=household.code,
            timezone=household.timezone,
            team_id=household.team_id,
            address=household.address,
            resident_names=names.get(_id(household.id), []),
            monitoring=household.monitoring,
            paused_until=household.paused_until,
            watch_status=watch.status if watch else None,
            last_activity_at=watch.last_activity_at if watch else None,
            alert_after=watch.alert_after if watch else None,
            open_cases=int(open_cases),
        )
        for household, watch, open_cases in rows
    ]
    return items, int(total)


def _resident_names(session: Session, household_ids: Sequence[int]) -> dict[int, list[str]]:
    """household id -> its residents' names (erased ones left out), in the order they were added."""
    if not household_ids:
        return {}
    names: dict[int, list[str]] = defaultdict(list)
    for household_id, name in session.exec(
        select(Resident.household_id, Resident.name)
        .where(col(Resident.household_id).in_(list(household_ids)), col(Resident.erased_at).is_(None))
        .order_by(col(Resident.id))
    ).all():
        names[household_id].append(name)
    return names


# ------------------------------------------------------------------ cases


@dataclass(frozen=True)
class CaseFilters:
    statuses: Sequence[CaseStatus] = ()
    kind: CaseKind | None = None
    severity: Severity | None = None
    household_id: int | None = None
    team_id: int | None = None
    assigned_user_id: int | None = None
    unassigned: bool = False


class CaseOrder(StrEnum):
    """How the queue is sorted (``GET /cases?sort=``)."""

    URGENCY = "urgency"  # most severe first, then the longest-waiting (the default)
    OPENED = "opened"  # the longest-waiting first, whatever the severity
    NEWEST = "newest"  # the most recently opened first
    HOUSEHOLD = "household"  # by household code, then by urgency


def _severity_rank() -> ColumnElement[int]:
    return sql_case({s: s.rank for s in Severity}, value=col(Case.severity), else_=-1)


def _filtered_cases(user: User, filters: CaseFilters) -> Select[Case, Household]:
    stmt = select(Case, Household).join(Household, col(Household.id) == col(Case.household_id))
    stmt = stmt.where(visible_households(user))
    if filters.statuses:
        stmt = stmt.where(col(Case.status).in_(filters.statuses))
    if filters.kind is not None:
        stmt = stmt.where(col(Case.kind) == filters.kind)
    if filters.severity is not None:
        stmt = stmt.where(col(Case.severity) == filters.severity)
    if filters.household_id is not None:
        stmt = stmt.where(col(Case.household_id) == filters.household_id)
    if filters.team_id is not None:
        stmt = stmt.where(col(Household.team_id) == filters.team_id)
    if filters.assigned_user_id is not None:
        assigned = select(CaseAssignment.case_id).where(
            col(CaseAssignment.user_id) == filters.assigned_user_id
        )
        stmt = stmt.where(col(Case.id).in_(assigned))
    if filters.unassigned:
        stmt = stmt.where(col(Case.id).not_in(select(CaseAssignment.case_id)))
    return stmt


def assignees(session: Session, case_ids: Sequence[int]) -> dict[int, tuple[int, str, str]]:
    """case id -> (user id, username, display name) of whoever the case is assigned to."""
    if not case_ids:
        return {}
    rows = session.exec(
        select(CaseAssignment.case_id, User.id, User.username, User.display_name)
        .join(User, col(User.id) == col(CaseAssignment.user_id))
        .where(col(CaseAssignment.case_id).in_(list(case_ids)))
    ).all()
    return {case_id: (_id(user_id), username, name or username) for case_id, user_id, username, name in rows}


@dataclass(frozen=True)
class _Story:
    """What the case page and the queue say about the person (api.case_story)."""

    assignee: tuple[int, str, str] | None = None
    names: dict[str, str] = field(default_factory=dict)
    words: Words | None = None


def _stories(
    session: Session, cases: Sequence[Case], calls: dict[int, list[CallAttempt]]
) -> dict[int, _Story]:
    ids = [_id(c.id) for c in cases]
    assigned = assignees(session, ids)
    outcomes = call_outcome_events(session, ids)
    names = actor_names(session, [a for c in cases for a in (c.acknowledged_by, c.resolved_by) if a])
    return {
        case_id: _Story(
            assigned.get(case_id),
            names,
            resident_words(outcomes[case_id], resident_call_ids(calls.get(case_id, []))),
        )
        for case_id in ids
    }


def _case_order(order: CaseOrder) -> list[Any]:
    urgency = [_severity_rank().desc(), col(Case.opened_at), col(Case.id)]
    if order == CaseOrder.OPENED:
        return [col(Case.opened_at), col(Case.id)]
    if order == CaseOrder.NEWEST:
        return [col(Case.opened_at).desc(), col(Case.id).desc()]
    if order == CaseOrder.HOUSEHOLD:
        return [col(Household.code), *urgency]
    return urgency


def list_cases(
    session: Session,
    user: User,
    filters: CaseFilters,
    *,
    limit: int,
    offset: int,
    order: CaseOrder = CaseOrder.URGENCY,
) -> tuple[list[CaseItem], int]:
    """By default most severe first, then the longest-waiting: the order a caseworker should
    work in; *order* sorts otherwise (by time or household) when asked."""
    base = _filtered_cases(user, filters)
    total = session.exec(select(func.count()).select_from(base.subquery())).one()
    stmt = base.order_by(*_case_order(order)).limit(limit).offset(offset)
    rows = session.exec(stmt).all()
    ids = [_id(case.id) for case, _ in rows]
    calls = _by_case(session.exec(_calls_for(ids)).all())
    notes = _by_case(session.exec(_notifications_for(ids)).all())
    stories = _stories(session, [case for case, _ in rows], calls)
    items = [
        CaseItem(
            **_case_fields(case, household, stories[_id(case.id)]),
            calls=[_call_summary(c) for c in calls.get(_id(case.id), [])],
            notifications=[_notification_summary(n) for n in notes.get(_id(case.id), [])],
        )
        for case, household in rows
    ]
    return items, int(total)


def get_visible_case(session: Session, user: User, case_id: int) -> tuple[Case, Household] | None:
    stmt = _filtered_cases(user, CaseFilters()).where(col(Case.id) == case_id)
    row = session.exec(stmt).first()
    return (row[0], row[1]) if row else None


def case_detail(session: Session, case: Case, household: Household) -> CaseDetail:
    case_id = _id(case.id)
    events = session.exec(
        select(CaseEvent)
        .where(col(CaseEvent.case_id) == case_id)
        .order_by(col(CaseEvent.at), col(CaseEvent.id))
    ).all()
    calls = session.exec(_calls_for([case_id])).all()
    notifications = session.exec(_notifications_for([case_id])).all()
    story = _stories(session, [case], {case_id: list(calls)})[case_id]
    names = actor_names(session, {e.actor for e in events})
    residents = session.exec(
        select(Resident)
        .where(col(Resident.household_id) == household.id, col(Resident.erased_at).is_(None))
        .order_by(col(Resident.id))
    ).all()
    return CaseDetail(
        residents=[CasePerson(name=r.name, phone=r.phone, birth_year=r.birth_year) for r in residents],
        household_address=household.address,
        **_case_fields(case, household, story),
        events=[
            CaseEventOut(
                id=_id(e.id),
                at=e.at,
                type=e.type,
                actor=e.actor,
                data=dict(e.data or {}),
                actor_kind=actor_kind(e.actor),
                actor_name=names.get(e.actor),
            )
            for e in events
        ],
        calls=[_call_out(c) for c in calls],
        notifications=[_notification_out(n) for n in notifications],
    )


def case_item(session: Session, case: Case, household: Household) -> CaseItem:
    """One queue row (after an action), with the same shape as the list."""
    case_id = _id(case.id)
    calls = session.exec(_calls_for([case_id])).all()
    notifications = session.exec(_notifications_for([case_id])).all()
    return CaseItem(
        **_case_fields(case, household, _stories(session, [case], {case_id: list(calls)})[case_id]),
        calls=[_call_summary(c) for c in calls],
        notifications=[_notification_summary(n) for n in notifications],
    )


# ------------------------------------------------------------------ helpers


def _id(value: int | None) -> int:
    assert value is not None, "row without id (not flushed?)"
    return value


def _calls_for(case_ids: Iterable[int]) -> SelectOfScalar[CallAttempt]:
    return (
        select(CallAttempt)
        .where(col(CallAttempt.case_id).in_(list(case_ids)))
        .order_by(col(CallAttempt.created_at), col(CallAttempt.id))
    )


def _notifications_for(case_ids: Iterable[int]) -> SelectOfScalar[Notification]:
    return (
        select(Notification)
        .where(col(Notification.case_id).in_(list(case_ids)))
        .order_by(col(Notification.created_at), col(Notification.id))
    )


def _by_case(rows: Sequence[_Row]) -> dict[int, list[_Row]]:
    grouped: dict[int, list[_Row]] = defaultdict(list)
    for row in rows:
        if row.case_id is not None:
            grouped[row.case_id].append(row)
    return grouped


def _case_fields(case: Case, household: Household, story: _Story) -> dict[str, Any]:
    assignee, words = story.assignee, story.words
    base = CaseBase(
        id=_id(case.id),
        household_id=case.household_id,
        household_code=household.code,
        household_timezone=household.timezone,
        household_team_id=household.team_id,
        kind=case.kind,
        status=case.status,
        severity=case.severity,
        explanation=case.explanation,
        explanation_texts=case.explanation_texts,
        opened_at=case.opened_at,
        last_seen_at=case.last_seen_at,
        next_action_at=case.next_action_at,
        next_actions=next_actions(case),
        acknowledged_at=case.acknowledged_at,
        acknowledged_by=case.acknowledged_by,
        cleared_at=case.cleared_at,
        clear_reason=case.clear_reason,
        resolved_at=case.resolved_at,
        resolved_by=case.resolved_by,
        resolution_code=case.resolution_code,
        resolution_note=case.resolution_note,
        step_index=case.step_index,
        repeat_count=case.repeat_count,
        assigned_user_id=assignee[0] if assignee else None,
        assigned_username=assignee[1] if assignee else None,
        assigned_display_name=assignee[2] if assignee else None,
        acknowledged_by_name=story.names.get(case.acknowledged_by or ""),
        resolved_by_name=story.names.get(case.resolved_by or ""),
        cause=case_cause(case, words),
        resident_words=ResidentWordsOut(text=words.text, at=words.at, cause=words.cause) if words else None,
        follow_up_visits=case.follow_up_visits,
    )
    return dict(base)


def _call_summary(call: CallAttempt) -> CallSummary:
    return CallSummary(
        id=_id(call.id),
        recipient_kind=call.recipient_kind,
        status=call.status,
        outcome=call.outcome,
        created_at=call.created_at,
    )


def _notification_summary(n: Notification) -> NotificationSummary:
    return NotificationSummary(
        id=_id(n.id),
        recipient_kind=n.recipient_kind,
        channel=n.channel,
        status=n.status,
        template=n.template,
        created_at=n.created_at,
    )


def _call_out(call: CallAttempt) -> CallAttemptOut:
    return CallAttemptOut(
        id=_id(call.id),
        recipient_kind=call.recipient_kind,
        to=mask_phone(call.to_address),
        language=call.language.value,
        status=call.status,
        attempts=call.attempts,
        answered_by=call.answered_by,
        outcome=call.outcome,
        intent=call.intent,
        confidence=call.confidence,
        transcript=call.transcript,
        error=call.error,
        created_at=call.created_at,
        updated_at=call.updated_at,
    )


def _notification_out(n: Notification) -> NotificationOut:
    return NotificationOut(
        id=_id(n.id),
        recipient_kind=n.recipient_kind,
        to=mask_phone(n.to_address),
        channel=n.channel,
        language=n.language.value,
        template=n.template,
        status=n.status,
        attempts=n.attempts,
        error=n.error,
        permanent_failure=n.permanent_failure,
        created_at=n.created_at,
        sent_at=n.sent_at,
    )
