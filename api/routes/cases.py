"""The case queue and the actions staff take on a case, all through ``notifier.lifecycle``."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from sqlmodel import Session

from api import audit
from api.deps import ClockDep, ResolverUser, SessionDep, StaffUser
from api.queries import CaseFilters, case_detail, case_item, get_visible_case, list_cases
from api.routes.pagination import DEFAULT_LIMIT, Limit, Offset, PathId, QueryId
from api.schemas import CaseDetail, CaseEventOut, CaseItem, CasePage, NoteIn, ResolveIn
from core.enums import AuditAction, AuditObject, CaseKind, CaseStatus, Severity
from core.models import Case, Household, User
from notifier import lifecycle

log = logging.getLogger(__name__)
router = APIRouter(prefix="/cases", tags=["cases"])

CONFLICT_RETRY = "changed concurrently, retry"
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
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> CasePage:
    filters = CaseFilters(
        statuses=status_ or (), kind=kind, severity=severity, household_id=household_id, team_id=team_id
    )
    items, total = list_cases(session, user, filters, limit=limit, offset=offset)
    return CasePage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{case_id}", response_model=CaseDetail)
def case(
    case_id: CaseId, request: Request, session: SessionDep, user: StaffUser, clock: ClockDep
) -> CaseDetail:
    found, household = _visible_case(session, user, case_id)
    audit.record(session, request, user, AuditAction.VIEW, AuditObject.CASE, case_id, now=clock.now())
    return case_detail(session, found, household)


@router.post("/{case_id}/acknowledge", response_model=CaseItem)
def acknowledge(
    case_id: CaseId, request: Request, session: SessionDep, user: StaffUser, clock: ClockDep
) -> CaseItem:
    found, household = _visible_case(session, user, case_id)
    try:
        lifecycle.acknowledge(session, found, actor=_actor(user), now=clock.now())
    except lifecycle.IllegalTransition as exc:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(exc)) from None
    except lifecycle.CaseConflict:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=CONFLICT_RETRY) from None
    audit.record(session, request, user, AuditAction.ACKNOWLEDGE, AuditObject.CASE, case_id, now=clock.now())
    log.info("case acknowledged case_id=%s user_id=%s", case_id, user.id)
    return case_item(session, found, household)


@router.post("/{case_id}/resolve", response_model=CaseItem)
def resolve(
    case_id: CaseId,
    body: ResolveIn,
    request: Request,
    session: SessionDep,
    user: ResolverUser,
    clock: ClockDep,
) -> CaseItem:
    found, household = _visible_case(session, user, case_id)
    try:
        lifecycle.resolve(
            session,
            found,
            actor=_actor(user),
            code=body.code,
            note=body.note.strip() or None,
            now=clock.now(),
        )
    except lifecycle.IllegalTransition as exc:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(exc)) from None
    except lifecycle.CaseConflict:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=CONFLICT_RETRY) from None
    audit.record(session, request, user, AuditAction.RESOLVE, AuditObject.CASE, case_id, now=clock.now())
    log.info("case resolved case_id=%s code=%s user_id=%s", case_id, body.code.value, user.id)
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
    assert event.id is not None
    return CaseEventOut(id=event.id, at=event.at, type=event.type, actor=event.actor, data=dict(event.data))


def _visible_case(session: Session, user: User, case_id: int) -> tuple[Case, Household]:
    found = get_visible_case(session, user, case_id)
    if found is None:  # missing and not-yours look the same: ids are not an oracle
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="case not found")
    return found


def _actor(user: User) -> str:
    return f"user:{user.username}"
