"""Managing households: create and edit them, their residents, and their check-in schedule;
read the scheduled check-in calls (issue 5) for the household page.

Team scope as everywhere: a caseworker works in their own team only (another team's household
answers 404; creating into another team is a 422 on ``team_id``), and only admins move a
household between teams.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request, status
from sqlalchemy import func
from sqlmodel import Session, col, select

from api import audit
from api.deps import ClockDep, ManagerUser, SessionDep, StaffUser
from api.errors import (
    ErrorCode,
    conflict,
    error_response,
    not_found,
    sent_changes,
    unprocessable,
)
from api.household_queries import get_visible_household, household_detail, insert_household
from api.routes.pagination import DEFAULT_LIMIT, Limit, Offset, PathId
from api.schemas import (
    CheckinOut,
    CheckinPage,
    CheckinScheduleIn,
    CheckinScheduleOut,
    CheckinSkipOut,
    HouseholdDetail,
    HouseholdIn,
    HouseholdPatch,
    ResidentIn,
    ResidentOut,
    ResidentPatch,
)
from core.enums import AuditAction, AuditObject, Language, Role
from core.models import CheckinCall, CheckinSchedule, Household, Resident, Team, User
from notifier.checkins import QuietHoursError, recent_checkins, set_schedule

log = logging.getLogger(__name__)
router = APIRouter(tags=["households"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: error_response("no such household, or not one you may see")
}
DEFAULT_CHECKIN_TIME = "10:00"


def _visible(session: Session, user: User, household_id: int) -> Household:
    household = get_visible_household(session, user, household_id)
    if household is None:
        raise not_found(ErrorCode.HOUSEHOLD_NOT_FOUND, "household")
    return household


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise unprocessable(
            f"unknown time zone {name!r} (use an IANA name like Asia/Seoul)",
            "body",
            "timezone",
            code=ErrorCode.UNKNOWN_TIMEZONE,
        ) from None
    return name


def _check_team(session: Session, user: User, team_id: int) -> None:
    if session.get(Team, team_id) is None:
        raise unprocessable("no such team", "body", "team_id", code=ErrorCode.NO_SUCH_TEAM)
    if user.role != Role.ADMIN and team_id != user.team_id:
        raise unprocessable(
            "you may work only in your own team", "body", "team_id", code=ErrorCode.OWN_TEAM_ONLY
        )


def _check_code_free(session: Session, code: str, *, except_id: int | None = None) -> None:
    existing = session.exec(select(Household.id).where(col(Household.code) == code)).first()
    if existing is not None and existing != except_id:
        raise conflict(ErrorCode.HOUSEHOLD_CODE_TAKEN, "a household with this code already exists")


@router.post(
    "/households",
    response_model=HouseholdDetail,
    status_code=status.HTTP_201_CREATED,
    responses={409: error_response("code taken"), 422: {"description": "bad team or time zone"}},
)
def create_household(
    body: HouseholdIn, request: Request, session: SessionDep, user: ManagerUser, clock: ClockDep
) -> HouseholdDetail:
    _check_team(session, user, body.team_id)
    _check_timezone(body.timezone)
    _check_code_free(session, body.code)
    now = clock.now()
    household = insert_household(
        session,
        team_id=body.team_id,
        code=body.code,
        address=body.address,
        timezone=body.timezone,
        quiet_hours=body.quiet_hours,
        resident=body.resident.model_dump() if body.resident is not None else None,
        now=now,
    )
    audit.record(session, request, user, AuditAction.CREATE, AuditObject.HOUSEHOLD, household.id, now=now)
    log.info("household created household_id=%s user_id=%s", household.id, user.id)
    return household_detail(session, household)


@router.patch(
    "/households/{household_id}",
    response_model=HouseholdDetail,
    responses={**NOT_FOUND, 409: error_response("code taken"), 422: {}},
)
def edit_household(
    household_id: PathId,
    body: HouseholdPatch,
    request: Request,
    session: SessionDep,
    user: ManagerUser,
    clock: ClockDep,
) -> HouseholdDetail:
    household = _visible(session, user, household_id)
    previous_team = household.team_id
    changes = sent_changes(body)
    for required in ("code", "team_id", "timezone", "address"):
        if required in changes and changes[required] is None:
            raise unprocessable(f"{required} cannot be empty", "body", required, code=ErrorCode.FIELD_EMPTY)
    if "team_id" in changes and changes["team_id"] != household.team_id:
        if user.role != Role.ADMIN:
            raise unprocessable(
                "only an admin moves a household to another team",
                "body",
                "team_id",
                code=ErrorCode.ADMIN_MOVES_TEAMS,
            )
        _check_team(session, user, changes["team_id"])
    if "timezone" in changes:
        _check_timezone(changes["timezone"])
    if "code" in changes:
        _check_code_free(session, changes["code"], except_id=household_id)
    for name, value in changes.items():
        setattr(household, name, value)
    session.add(household)
    session.flush()
    now = clock.now()
    audit.record(session, request, user, AuditAction.UPDATE, AuditObject.HOUSEHOLD, household_id, now=now)
    # A move changes both teams' caseloads: both on the record.
    audit.record_team_move(session, request, user, previous_team, household.team_id, now=now)
    return household_detail(session, household)


# ------------------------------------------------------------------ residents


def _resident_out(r: Resident) -> ResidentOut:
    return ResidentOut.model_validate(r)


@router.post(
    "/households/{household_id}/residents",
    response_model=ResidentOut,
    status_code=status.HTTP_201_CREATED,
    responses=NOT_FOUND,
)
def add_resident(
    household_id: PathId,
    body: ResidentIn,
    request: Request,
    session: SessionDep,
    user: ManagerUser,
    clock: ClockDep,
) -> ResidentOut:
    _visible(session, user, household_id)
    resident = Resident(household_id=household_id, **body.model_dump())
    session.add(resident)
    session.flush()
    audit.record(
        session, request, user, AuditAction.UPDATE, AuditObject.HOUSEHOLD, household_id, now=clock.now()
    )
    return _resident_out(resident)


@router.patch(
    "/residents/{resident_id}",
    response_model=ResidentOut,
    responses={404: error_response("no such resident, or not one you may see"), 422: {}},
)
def edit_resident(
    resident_id: PathId,
    body: ResidentPatch,
    request: Request,
    session: SessionDep,
    user: ManagerUser,
    clock: ClockDep,
) -> ResidentOut:
    resident = session.get(Resident, resident_id)
    if resident is None or get_visible_household(session, user, resident.household_id) is None:
        raise not_found(ErrorCode.RESIDENT_NOT_FOUND, "resident")
    changes = sent_changes(body)
    for required in ("name", "language"):
        if required in changes and changes[required] is None:
            raise unprocessable(f"{required} cannot be empty", "body", required, code=ErrorCode.FIELD_EMPTY)
    for name, value in changes.items():
        setattr(resident, name, value)
    session.add(resident)
    session.flush()
    audit.record(
        session,
        request,
        user,
        AuditAction.UPDATE,
        AuditObject.HOUSEHOLD,
        resident.household_id,
        now=clock.now(),
    )
    return _resident_out(resident)


# ------------------------------------------------------------------ scheduled check-ins


def _schedule_out(household_id: int, schedule: CheckinSchedule | None) -> CheckinScheduleOut:
    if schedule is None:
        return CheckinScheduleOut(
            household_id=household_id,
            configured=False,
            weekdays=[],
            local_time=DEFAULT_CHECKIN_TIME,
            active=False,
            next_due_at=None,
        )
    return CheckinScheduleOut(
        household_id=household_id,
        configured=True,
        weekdays=list(schedule.weekdays),
        local_time=schedule.local_time,
        active=schedule.active,
        next_due_at=schedule.next_due_at,
        last_skip=_last_skip(schedule),
    )


def _last_skip(schedule: CheckinSchedule) -> CheckinSkipOut | None:
    if schedule.last_skip_reason is None or schedule.last_skip_at is None or schedule.last_skip_slot is None:
        return None
    return CheckinSkipOut(
        at=schedule.last_skip_at,
        slot=schedule.last_skip_slot,
        reason=schedule.last_skip_reason,
        until=schedule.last_skip_until,
    )


@router.get(
    "/households/{household_id}/checkin-schedule", response_model=CheckinScheduleOut, responses=NOT_FOUND
)
def get_checkin_schedule(household_id: PathId, session: SessionDep, user: StaffUser) -> CheckinScheduleOut:
    _visible(session, user, household_id)
    return _schedule_out(household_id, session.get(CheckinSchedule, household_id))


@router.put(
    "/households/{household_id}/checkin-schedule",
    response_model=CheckinScheduleOut,
    responses={**NOT_FOUND, 422: {}},
)
def put_checkin_schedule(
    household_id: PathId,
    body: CheckinScheduleIn,
    request: Request,
    session: SessionDep,
    user: ManagerUser,
    clock: ClockDep,
) -> CheckinScheduleOut:
    """Weekly check-in calls (weekdays and time in the household's time zone); ``active: false`` stops them."""
    _visible(session, user, household_id)
    now = clock.now()
    # notifier.checkins validates again and computes the next call; the schema has already
    # turned bad input into a precise 422, so a ScheduleError here would be a bug (500), except
    # a time inside the organisation's quiet hours (a check-in call is never made at night).
    try:
        schedule = set_schedule(
            session,
            household_id,
            weekdays=body.weekdays,
            local_time=body.local_time,
            now=now,
            active=body.active,
        )
    except QuietHoursError as exc:
        raise unprocessable(
            str(exc),
            "body",
            "local_time",
            code=ErrorCode.CHECKIN_IN_QUIET_HOURS,
            ctx={"start": exc.start, "end": exc.end},
        ) from None
    audit.record(session, request, user, AuditAction.UPDATE, AuditObject.HOUSEHOLD, household_id, now=now)
    return _schedule_out(household_id, schedule)


@router.get("/households/{household_id}/checkins", response_model=CheckinPage, responses=NOT_FOUND)
def list_checkins(
    household_id: PathId,
    request: Request,
    session: SessionDep,
    user: StaffUser,
    clock: ClockDep,
    lang: Language = Language.KO,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> CheckinPage:
    """The household's scheduled check-in calls, newest first: answers about meals, sleep and health,
    flags for worrying answers, and a one-line summary in ``lang``. A view of personal data: audited."""
    _visible(session, user, household_id)
    total = session.exec(
        select(func.count()).select_from(CheckinCall).where(col(CheckinCall.household_id) == household_id)
    ).one()
    items = [
        CheckinOut.model_validate(asdict(c))
        for c in recent_checkins(session, household_id, language=lang, limit=limit, offset=offset)
    ]
    audit.record_view_part(session, request, user, AuditObject.HOUSEHOLD, household_id, now=clock.now())
    return CheckinPage(items=items, total=int(total), limit=limit, offset=offset)
