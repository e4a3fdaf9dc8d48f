"""The case queue and the actions staff take on a case, all through ``notifier.lifecycle``."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from sqlmodel import Session, col, select

from api import audit
from api.case_story import actor_kind
from api.deps import ClockDep, ManagerUser, SessionDep, StaffUser
from api.errors import (
    ErrorCode,
    conflict,
    error_response,
    not_found,
    unprocessable,
)
from api.queries import CaseFilters, CaseOrder, case_detail, case_item, get_visible_case, list_cases
from api.routes.pagination import DEFAULT_LIMIT, Limit, Offset, PathId, QueryId
from api.schemas import (
    AssigneeList,
    AssigneeOut,
    AssignIn,
    CaseDetail,
    CaseEventOut,
    CaseItem,
    CasePage,
    FieldVisitIn,
    HandoffOut,
    HandoffPerson,
    NoteIn,
    ResolveIn,
)
from core.enums import (
    ACTIVE_CASE_STATUSES,
    AuditAction,
    AuditObject,
    CaseEventType,
    CaseKind,
    CaseStatus,
    Role,
    Severity,
)
from core.models import Case, CaseAssignment, CaseEvent, Household, User
from notifier import assignment, handoff, lifecycle
from notifier.whom import caseworker_phone

log = logging.getLogger(__name__)
router = APIRouter(prefix="/cases", tags=["cases"])

CONFLICT_RETRY = "changed concurrently, retry"
# Family accounts may carry a team id; they never work cases.
ASSIGNABLE_ROLES = frozenset({Role.ADMIN, Role.CASEWORKER})
CaseId = PathId


@router.get("", response_model=CasePage)
def cases(
    session: SessionDep,
    user: StaffUser,
    status_: Annotated[
        list[CaseStatus] | None, Query(alias="status", description="repeat to match several")
    ] = None,
    kind: CaseKind | None = None,
    severity: Severity | None = None,
    household_id: QueryId = None,
    team_id: QueryId = None,
    assigned_user_id: QueryId = None,
    unassigned: Annotated[bool, Query(description="only cases nobody is assigned to")] = False,
    sort: Annotated[
        CaseOrder,
        Query(description="urgency (most severe, then longest-waiting), opened, newest or household"),
    ] = CaseOrder.URGENCY,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> CasePage:
    if unassigned and assigned_user_id is not None:
        raise unprocessable(
            "use either assigned_user_id or unassigned, not both",
            "query",
            "unassigned",
            code=ErrorCode.FILTER_CONFLICT,
        )
    filters = CaseFilters(
        statuses=status_ or (),
        kind=kind,
        severity=severity,
        household_id=household_id,
        team_id=team_id,
        assigned_user_id=assigned_user_id,
        unassigned=unassigned,
    )
    items, total = list_cases(session, user, filters, limit=limit, offset=offset, order=sort)
    return CasePage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{case_id}", response_model=CaseDetail)
def case(
    case_id: CaseId, request: Request, session: SessionDep, user: StaffUser, clock: ClockDep
) -> CaseDetail:
    found, household = _visible_case(session, user, case_id)
    audit.record(session, request, user, AuditAction.VIEW, AuditObject.CASE, case_id, now=clock.now())
    return case_detail(session, found, household)


@router.get("/{case_id}/handoff", response_model=HandoffOut)
def handoff_sheet(
    case_id: CaseId, request: Request, session: SessionDep, user: StaffUser, clock: ClockDep
) -> HandoffOut:
    """The 119 hand-off sheet: the resident's name, age, address and phone, their own words, the
    last sign of life; a view of personal data, audited like the case page."""
    found, household = _visible_case(session, user, case_id)
    audit.record(session, request, user, AuditAction.VIEW, AuditObject.CASE, case_id, now=clock.now())
    detail = case_detail(session, found, household)
    sheet = handoff.facts(session, found, clock.now())
    return HandoffOut(
        case_id=case_id,
        household_code=household.code,
        household_timezone=household.timezone,
        address=household.address,
        residents=[HandoffPerson(name=p.name, age=p.age, phone=p.phone) for p in sheet.residents],
        kind=found.kind,
        severity=found.severity,
        cause=detail.cause,
        resident_words=detail.resident_words,
        opened_at=found.opened_at,
        last_sign_at=sheet.last_sign_at,
        caseworker_phone=caseworker_phone(session, found),
    )


@router.post("/{case_id}/acknowledge", response_model=CaseItem)
def acknowledge(
    case_id: CaseId, request: Request, session: SessionDep, user: StaffUser, clock: ClockDep
) -> CaseItem:
    found, household = _visible_case(session, user, case_id)
    try:
        lifecycle.acknowledge(session, found, actor=_actor(user), now=clock.now())
    except lifecycle.IllegalTransition as exc:
        raise conflict(ErrorCode.CASE_STATE_CONFLICT, str(exc)) from None
    except lifecycle.CaseConflict:
        raise conflict(ErrorCode.CASE_CHANGED_RETRY, CONFLICT_RETRY) from None
    audit.record(session, request, user, AuditAction.ACKNOWLEDGE, AuditObject.CASE, case_id, now=clock.now())
    log.info("case acknowledged case_id=%s user_id=%s", case_id, user.id)
    return case_item(session, found, household)


@router.post("/{case_id}/resolve", response_model=CaseItem)
def resolve(
    case_id: CaseId,
    body: ResolveIn,
    request: Request,
    session: SessionDep,
    user: ManagerUser,
    clock: ClockDep,
) -> CaseItem:
    found, household = _visible_case(session, user, case_id)
    try:
        lifecycle.resolve(
            session,
            found,
            actor=_actor(user),
            code=body.outcome,
            note=body.note.strip() or None,
            now=clock.now(),
        )
    except lifecycle.IllegalTransition as exc:
        raise conflict(ErrorCode.CASE_STATE_CONFLICT, str(exc)) from None
    except lifecycle.CaseConflict:
        raise conflict(ErrorCode.CASE_CHANGED_RETRY, CONFLICT_RETRY) from None
    audit.record(session, request, user, AuditAction.RESOLVE, AuditObject.CASE, case_id, now=clock.now())
    log.info("case resolved case_id=%s code=%s user_id=%s", case_id, body.outcome.value, user.id)
    return case_item(session, found, household)


@router.post("/{case_id}/notes", response_model=CaseEventOut, status_code=status.HTTP_201_CREATED)
def add_note(
    case_id: CaseId,
    body: NoteIn,
    request: Request,
    session: SessionDep,
    user: StaffUser,
    clock: ClockDep,
) -> CaseEventOut:
    found, _ = _visible_case(session, user, case_id)
    event = lifecycle.add_note(session, found, actor=_actor(user), text=body.text, now=clock.now())
    audit.record(session, request, user, AuditAction.NOTE, AuditObject.CASE, case_id, now=clock.now())
    session.flush()  # for the event id; the request boundary commits
    return _event_out(event, user)


@router.get(
    "/{case_id}/assignees",
    response_model=AssigneeList,
    responses={404: error_response("no such case, or not one you may see")},
)
def assignees(case_id: CaseId, session: SessionDep, user: ManagerUser) -> AssigneeList:
    """Who may take the case (active admins and caseworkers of the household's team): id and
    display name only, for the assignment picker. Not audited, unlike ``/teams/{id}/members``:
    it shows no more than the case page itself names (who is assigned), and no contact data."""
    _, household = _visible_case(session, user, case_id)
    rows = session.exec(
        select(User)
        .where(
            col(User.team_id) == household.team_id,
            col(User.is_active),
            col(User.role).in_(ASSIGNABLE_ROLES),
        )
        .order_by(col(User.display_name), col(User.username))
    ).all()
    return AssigneeList(
        items=[
            AssigneeOut(id=u.id, display_name=u.display_name or u.username) for u in rows if u.id is not None
        ]
    )


@router.post(
    "/{case_id}/assign",
    response_model=CaseItem,
    responses={
        404: error_response("no such case, or not one you may see"),
        409: error_response("the case is closed"),
        422: {"description": "the user is not an active member of the household's team"},
    },
)
def assign(
    case_id: CaseId,
    body: AssignIn,
    request: Request,
    session: SessionDep,
    user: ManagerUser,
    clock: ClockDep,
) -> CaseItem:
    """Assign the case to an active user of the household's team (``user_id: null`` unassigns)."""
    found, household = _visible_case(session, user, case_id)
    if found.status not in ACTIVE_CASE_STATUSES:
        raise conflict(ErrorCode.CASE_CLOSED, "a closed case cannot be reassigned")
    now = clock.now()
    current = session.get(CaseAssignment, case_id)
    if body.user_id is None:
        if current is None:
            raise conflict(ErrorCode.CASE_NOT_ASSIGNED, "the case is not assigned")
        session.delete(current)
    else:
        _team_member(session, household, body.user_id, "user_id")
        if current is not None and current.user_id == body.user_id:
            raise conflict(ErrorCode.ALREADY_ASSIGNED, "already assigned to this user")
        current = current or CaseAssignment(
            case_id=case_id, user_id=body.user_id, assigned_at=now, assigned_by=""
        )
        current.user_id = body.user_id
        current.assigned_at = now
        current.assigned_by = _actor(user)
        session.add(current)
        assignee = session.get_one(User, body.user_id)
        assignment.tell_assignee(session, found, household, assignee, by=user, now=now)  # issue 17.6
    lifecycle.record_event(session, found, CaseEventType.ASSIGNED, now, _actor(user), user_id=body.user_id)
    audit.record(session, request, user, AuditAction.ASSIGN, AuditObject.CASE, case_id, now=now)
    session.flush()
    log.info("case assigned case_id=%s assignee_id=%s user_id=%s", case_id, body.user_id, user.id)
    return case_item(session, found, household)


@router.post(
    "/{case_id}/field-visits",
    response_model=CaseEventOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        404: error_response("no such case, or not one you may see"),
        422: {"description": "visited_at in the future or before the case opened; visitor not on the team"},
    },
)
def add_field_visit(
    case_id: CaseId,
    body: FieldVisitIn,
    request: Request,
    session: SessionDep,
    user: ManagerUser,
    clock: ClockDep,
) -> CaseEventOut:
    """Record that someone went to the home: who, when, and what they found (counted in reports).

    Allowed on closed cases too: the visit that resolved a case is often written up afterwards.
    """
    found, household = _visible_case(session, user, case_id)
    now = clock.now()
    if body.visited_at > now:
        raise unprocessable(
            "visited_at must not be in the future", "body", "visited_at", code=ErrorCode.VISIT_IN_FUTURE
        )
    if body.visited_at < found.opened_at:
        raise unprocessable(
            "visited_at is before the case opened", "body", "visited_at", code=ErrorCode.VISIT_BEFORE_CASE
        )
    visitor = user
    if body.visitor_user_id is not None and body.visitor_user_id != user.id:
        visitor = _team_member(session, household, body.visitor_user_id, "visitor_user_id")
    event = lifecycle.record_event(
        session,
        found,
        CaseEventType.FIELD_VISIT,
        now,
        _actor(user),
        visitor_user_id=visitor.id,
        visitor=visitor.username,
        visitor_name=visitor.display_name or visitor.username,
        visited_at=body.visited_at.isoformat(),
        note=body.note,
    )
    audit.record(session, request, user, AuditAction.FIELD_VISIT, AuditObject.CASE, case_id, now=now)
    session.flush()
    return _event_out(event, user)


def _event_out(event: CaseEvent, user: User) -> CaseEventOut:
    """A timeline entry the caller just wrote, named as the case page names people."""
    assert event.id is not None
    return CaseEventOut(
        id=event.id,
        at=event.at,
        type=event.type,
        actor=event.actor,
        data=dict(event.data),
        actor_kind=actor_kind(event.actor),
        actor_name=user.display_name or user.username,
    )


def _team_member(session: Session, household: Household, user_id: int, field: str) -> User:
    member = session.get(User, user_id)
    if (
        member is None
        or not member.is_active
        or member.team_id != household.team_id
        or member.role not in ASSIGNABLE_ROLES
    ):
        raise unprocessable(
            "not an active staff member of the household's team", "body", field, code=ErrorCode.NOT_TEAM_STAFF
        )
    return member


def _visible_case(session: Session, user: User, case_id: int) -> tuple[Case, Household]:
    found = get_visible_case(session, user, case_id)
    if found is None:  # missing and not-yours look the same: ids are not an oracle
        raise not_found(ErrorCode.CASE_NOT_FOUND, "case")
    return found


def _actor(user: User) -> str:
    return f"user:{user.username}"
