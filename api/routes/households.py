"""Households under watch, as the caller's role may see them: list, page, activity, pause/resume."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlmodel import Session

from api import audit
from api.activity_day import activity_day, local_today
from api.deps import ClockDep, ManagerUser, SessionDep, SettingsDep, StaffUser
from api.errors import (
    ErrorCode,
    conflict,
    error_response,
    not_found,
    unprocessable,
)
from api.household_queries import activity_heatmap, get_visible_household, household_detail
from api.queries import list_households
from api.routes.pagination import DEFAULT_LIMIT, Limit, Offset, PathId, QueryId
from api.schemas import (
    NO_NUL,
    ActivityDay,
    ActivityHeatmap,
    HouseholdDetail,
    HouseholdPage,
    PauseIn,
)
from core.enums import AuditAction, AuditObject, MonitoringState
from core.models import Household, User

router = APIRouter(prefix="/households", tags=["households"])

MAX_PAUSE = timedelta(days=180)  # a longer absence is a different conversation (and a re-check)
MAX_ACTIVITY_DAYS = 90
MAX_SEARCH_LENGTH = 100
MAX_DAY_VIEW_DAYS = 400  # the day view looks back at most this far (and 4 weeks before it)
HouseholdId = PathId
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: error_response("no such household, or not one you may see")
}


@router.get("", response_model=HouseholdPage)
def households(
    session: SessionDep,
    user: StaffUser,
    team_id: QueryId = None,
    code: Annotated[
        str | None, Query(max_length=40, pattern=NO_NUL, description="households whose code starts with this")
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=MAX_SEARCH_LENGTH,
            pattern=NO_NUL,
            description="any part of the code, the address, a resident's name or phone "
            "(with or without dashes, 010-… or +8210…)",
        ),
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> HouseholdPage:
    items, total = list_households(
        session, user, team_id=team_id, code_prefix=code, search=q, limit=limit, offset=offset
    )
    return HouseholdPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{household_id}", response_model=HouseholdDetail, responses=NOT_FOUND)
def get_household(
    household_id: HouseholdId,
    request: Request,
    session: SessionDep,
    user: StaffUser,
    clock: ClockDep,
    settings: SettingsDep,
) -> HouseholdDetail:
    household = _visible(session, user, household_id)
    audit.record(
        session, request, user, AuditAction.VIEW, AuditObject.HOUSEHOLD, household_id, now=clock.now()
    )
    return household_detail(session, household, now=clock.now(), settings=settings)


@router.get("/{household_id}/activity", response_model=ActivityHeatmap, responses=NOT_FOUND)
def household_activity(
    household_id: HouseholdId,
    request: Request,
    session: SessionDep,
    user: StaffUser,
    clock: ClockDep,
    days: Annotated[int, Query(ge=1, le=MAX_ACTIVITY_DAYS, description="the dashboard uses 7 or 30")] = 7,
) -> ActivityHeatmap:
    household = _visible(session, user, household_id)
    now = clock.now()
    audit.record_view_part(session, request, user, AuditObject.HOUSEHOLD, household_id, now=now)
    return activity_heatmap(session, household, days=days, now=now)


@router.get(
    "/{household_id}/activity/day",
    response_model=ActivityDay,
    responses={**NOT_FOUND, 422: {"description": "a date in the future or too far back"}},
)
def household_activity_day(
    household_id: HouseholdId,
    request: Request,
    session: SessionDep,
    user: StaffUser,
    clock: ClockDep,
    day: Annotated[
        date | None,
        Query(alias="date", description="local date YYYY-MM-DD in the household's time zone; default today"),
    ] = None,
) -> ActivityDay:
    """The day view: switch-ons per local hour against the usual for that weekday."""
    household = _visible(session, user, household_id)
    now = clock.now()
    today = local_today(now, household.timezone)
    chosen = day or today
    if chosen > today:
        raise unprocessable("date is in the future", "query", "date", code=ErrorCode.DATE_IN_FUTURE)
    if chosen < today - timedelta(days=MAX_DAY_VIEW_DAYS):
        raise unprocessable(
            f"date is more than {MAX_DAY_VIEW_DAYS} days ago",
            "query",
            "date",
            code=ErrorCode.DATE_OUT_OF_RANGE,
        )
    audit.record_view_part(session, request, user, AuditObject.HOUSEHOLD, household_id, now=now)
    return activity_day(session, household, day=chosen, now=now)


@router.post(
    "/{household_id}/pause",
    response_model=HouseholdDetail,
    responses={
        **NOT_FOUND,
        409: error_response("the household's personal data was erased"),
        422: {"description": "until is in the past or too far ahead"},
    },
)
def pause(
    household_id: HouseholdId,
    body: PauseIn,
    request: Request,
    session: SessionDep,
    user: ManagerUser,
    clock: ClockDep,
) -> HouseholdDetail:
    """Away mode: no inactivity cases until *until* (the sweeper resumes by itself then)."""
    # A pause ends by itself: an erased household would be watched again.
    household = _not_erased(_visible(session, user, household_id))
    now = clock.now()
    if body.until <= now:
        raise unprocessable("until must be in the future", "body", "until", code=ErrorCode.PAUSE_IN_PAST)
    if body.until - now > MAX_PAUSE:
        raise unprocessable(
            f"a pause may last at most {MAX_PAUSE.days} days",
            "body",
            "until",
            code=ErrorCode.PAUSE_TOO_LONG,
            ctx={"max_days": MAX_PAUSE.days},
        )
    household.monitoring = MonitoringState.PAUSED
    household.paused_until = body.until
    session.add(household)
    audit.record(session, request, user, AuditAction.PAUSE, AuditObject.HOUSEHOLD, household_id, now=now)
    session.flush()
    return household_detail(session, household)


@router.post(
    "/{household_id}/resume",
    response_model=HouseholdDetail,
    responses={**NOT_FOUND, 409: error_response("the household's personal data was erased")},
)
def resume(
    household_id: HouseholdId, request: Request, session: SessionDep, user: ManagerUser, clock: ClockDep
) -> HouseholdDetail:
    household = _not_erased(_visible(session, user, household_id))
    household.monitoring = MonitoringState.ACTIVE
    household.paused_until = None
    session.add(household)
    audit.record(
        session, request, user, AuditAction.RESUME, AuditObject.HOUSEHOLD, household_id, now=clock.now()
    )
    session.flush()
    return household_detail(session, household)


def _not_erased(household: Household) -> Household:
    """Erasure is for good: nobody to call, nothing to watch (notifier/erasure.py)."""
    if household.erased_at is not None:
        raise conflict(ErrorCode.HOUSEHOLD_ERASED, "this household's personal data was erased")
    return household


def _visible(session: Session, user: User, household_id: int) -> Household:
    household = get_visible_household(session, user, household_id)
    if household is None:  # missing and not-yours look the same: ids are not an oracle
        raise not_found(ErrorCode.HOUSEHOLD_NOT_FOUND, "household")
    return household
