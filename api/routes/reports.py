"""Programme reports per team: JSON, or CSV for the spreadsheet the programme reports in."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import func
from sqlmodel import Session, col, select

from api import audit
from api.deps import ClockDep, SessionDep, StaffUser
from api.errors import (
    ErrorCode,
    unprocessable,
)
from api.queries import SEE_ALL_ROLES, visible_households
from api.reports import team_report, time_to_acknowledge, to_csv, weeks
from api.routes.pagination import QueryId, require_offsets
from api.schemas import ReportOut
from core.enums import AuditAction, AuditObject, CaseEventType
from core.models import Case, CaseEvent, Household, Team, User

router = APIRouter(prefix="/reports", tags=["reports"])
DEFAULT_PERIOD = timedelta(days=30)
MAX_PERIOD = timedelta(days=366)
Since = Annotated[
    datetime | None, Query(description="inclusive, with a timezone offset; default 30 days ago")
]
Until = Annotated[datetime | None, Query(description="exclusive, with a timezone offset; default now")]


@dataclass(frozen=True)
class ReportQuery:
    """What a report is asked for (its query parameters): the period, and one team or (None) all."""

    since: datetime | None
    until: datetime | None
    team_id: int | None


def _report_query(since: Since = None, until: Until = None, team_id: QueryId = None) -> ReportQuery:
    return ReportQuery(since, until, team_id)


ReportQueryDep = Annotated[ReportQuery, Depends(_report_query)]


def _report(session: Session, user: User, now: datetime, query: ReportQuery) -> ReportOut:
    since, until, team_id = query.since, query.until, query.team_id
    require_offsets(since, until)
    end = until or now
    try:
        start = since or end - DEFAULT_PERIOD
    except OverflowError:  # until near year 1 (found by schemathesis): no 30 days before it
        raise unprocessable(
            "until is out of range", "query", "until", code=ErrorCode.DATE_OUT_OF_RANGE
        ) from None
    if start >= end:
        raise unprocessable("since must be before until", "query", "since", code=ErrorCode.PERIOD_ORDER)
    if end - start > MAX_PERIOD:
        raise unprocessable(
            "a report covers at most 366 days", "query", "since", code=ErrorCode.PERIOD_TOO_LONG
        )
    stmt = (
        select(Case, Household.team_id)
        .join(Household, col(Household.id) == col(Case.household_id))
        .where(visible_households(user))
        .where(col(Case.opened_at) >= start)
    )
    # An explicit until is exclusive; the default ("now") includes a case opened this instant.
    stmt = (
        stmt.where(col(Case.opened_at) < end) if until is not None else stmt.where(col(Case.opened_at) <= end)
    )
    if team_id is not None:
        stmt = stmt.where(col(Household.team_id) == team_id)
    by_team: dict[int, list[Case]] = defaultdict(list)
    for case, case_team in session.exec(stmt).all():
        by_team[case_team].append(case)
    case_ids = [c.id for cases in by_team.values() for c in cases if c.id is not None]
    visits: dict[int, int] = {}
    for chunk_start in range(0, len(case_ids), 1000):  # keep IN lists well under driver limits
        chunk = case_ids[chunk_start : chunk_start + 1000]
        visits.update(
            session.exec(
                select(CaseEvent.case_id, func.count())
                .where(col(CaseEvent.case_id).in_(chunk), col(CaseEvent.type) == CaseEventType.FIELD_VISIT)
                .group_by(col(CaseEvent.case_id))
            ).all()
        )
    teams_stmt = select(Team).order_by(col(Team.name), col(Team.id))
    teams = [
        t
        for t in session.exec(teams_stmt).all()
        if t.id is not None
        and (team_id is None or t.id == team_id)
        and (user.role in SEE_ALL_ROLES or t.id == user.team_id)  # a caseworker: their team only
    ]
    shown = [c for t in teams if t.id is not None for c in by_team.get(t.id, [])]
    return ReportOut(
        since=start,
        until=end,
        teams=[team_report(t.id, t.name, by_team.get(t.id, []), visits) for t in teams if t.id is not None],
        weeks=weeks(shown, start, end),
        time_to_acknowledge=time_to_acknowledge(shown),
    )


@router.get("", response_model=ReportOut)
def report(session: SessionDep, user: StaffUser, clock: ClockDep, query: ReportQueryDep) -> ReportOut:
    return _report(session, user, clock.now(), query)


@router.get("/export.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def report_csv(
    request: Request, session: SessionDep, user: StaffUser, clock: ClockDep, query: ReportQueryDep
) -> Response:
    now = clock.now()
    result = _report(session, user, now, query)
    # A file leaves the system: on the record, once per team it covers (counts only, but the
    # log says whose figures went where).
    if result.teams:
        teams = [team.team_id for team in result.teams]
        audit.record_each(session, request, user, AuditAction.EXPORT, AuditObject.TEAM, teams, now=now)
    else:  # an empty file is still a download
        audit.record(session, request, user, AuditAction.EXPORT, AuditObject.TEAM, None, now=now)
    filename = f"anbu-report-{result.since:%Y%m%d}-{result.until:%Y%m%d}.csv"
    return Response(
        content="\ufeff" + to_csv(result.teams),  # the BOM makes Excel read UTF-8 (Korean names)
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
