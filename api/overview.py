"""The district overview (issue 17): per team and per 동, how many households are in each state,
and the households behind each number.

Set-based: one grouped query counts every state for up to thousands of households, and the list
behind a number filters the same joined rows by the same condition (``CONDITIONS``), so a number
and its list cannot drift apart. What each state means:

- ``households``: every household not erased; ``watched`` / ``paused``: its monitoring;
- ``quiet``: watched and its watch overdue (quiet for longer than its usual);
- ``stage_<severity>``: the severity of its most severe open or acknowledged case (관찰, 주의,
  경보, 긴급), whatever its monitoring — a help call can come while it is paused;
- ``offline``: watched, with assigned plugs, every one of them offline (as gateway/connectivity);
- ``quiet_after_closing``: quiet with no case open — the queue's "still quiet after closing".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, get_args

from sqlalchemy import ColumnElement, and_, func, literal
from sqlalchemy import case as sql_case
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from api.queries import visible_households
from api.schemas import (
    OverviewCounts,
    OverviewDong,
    OverviewHousehold,
    OverviewMeasure,
    OverviewOut,
    OverviewTeam,
)
from core.enums import ACTIVE_CASE_STATUSES, DeviceStatus, MonitoringState, Severity, WatchStatus
from core.models import Case, Device, Household, Team, User, Watch

MEASURES: tuple[str, ...] = get_args(OverviewMeasure)
_RANK_OF = {severity: severity.rank for severity in Severity}
_SEVERITY_AT = {rank: severity for severity, rank in _RANK_OF.items()}

# Per household: the rank of its most severe active case, and its assigned plugs (all, offline).
_top_case = (
    select(
        col(Case.household_id).label("household_id"),
        func.max(sql_case(_RANK_OF, value=col(Case.severity), else_=-1)).label("top"),
    )
    .where(col(Case.status).in_(ACTIVE_CASE_STATUSES))
    .group_by(col(Case.household_id))
    .subquery("top_case")
)
_plugs = (
    select(
        col(Device.household_id).label("household_id"),
        func.count().label("plugs"),
        func.sum(sql_case((col(Device.online).is_(False), 1), else_=0)).label("offline"),
    )
    .where(col(Device.household_id).is_not(None), col(Device.status) == DeviceStatus.ASSIGNED)
    .group_by(col(Device.household_id))
    .subquery("plugs")
)

_watched = col(Household.monitoring) == MonitoringState.ACTIVE
_quiet = and_(_watched, col(Watch.status) == WatchStatus.OVERDUE)
CONDITIONS: Mapping[str, ColumnElement[bool]] = {
    "households": literal(True),
    "watched": _watched,
    "paused": col(Household.monitoring) == MonitoringState.PAUSED,
    "quiet": _quiet,
    **{f"stage_{s.value}": _top_case.c.top == s.rank for s in Severity},
    "offline": and_(_watched, _plugs.c.plugs > 0, _plugs.c.offline == _plugs.c.plugs),
    "quiet_after_closing": and_(_quiet, _top_case.c.top.is_(None)),
}
assert set(CONDITIONS) == set(MEASURES), "every measure of the API has its condition"


def _scope(user: User, team_id: int | None, dong: str | None) -> ColumnElement[bool]:
    where = and_(visible_households(user), col(Household.erased_at).is_(None))
    if team_id is not None:
        where = and_(where, col(Household.team_id) == team_id)
    if dong is not None:
        where = and_(where, col(Household.dong) == dong)
    return where


def _joined(stmt: Any) -> Any:
    return (
        stmt.select_from(Household)
        .outerjoin(Watch, col(Watch.household_id) == col(Household.id))
        .outerjoin(_top_case, _top_case.c.household_id == col(Household.id))
        .outerjoin(_plugs, _plugs.c.household_id == col(Household.id))
    )


def overview(session: Session, user: User, now: datetime, team_id: int | None = None) -> OverviewOut:
    """Counts per team and 동 in one grouped query; a team's and the grand totals are their sums."""
    sums = [func.sum(sql_case((CONDITIONS[m], 1), else_=0)).label(m) for m in MEASURES]
    rows = session.execute(
        _joined(sql_select(col(Household.team_id), col(Household.dong), *sums))
        .where(_scope(user, team_id, None))
        .group_by(col(Household.team_id), col(Household.dong))
    ).all()
    by_team: dict[int, list[OverviewDong]] = {}
    for row in rows:
        counts = OverviewCounts(**{m: int(getattr(row, m) or 0) for m in MEASURES})
        by_team.setdefault(row.team_id, []).append(OverviewDong(dong=row.dong, counts=counts))
    names = dict(session.exec(select(Team.id, Team.name).where(col(Team.id).in_(list(by_team)))).all())
    teams = [
        OverviewTeam(
            team_id=tid,
            team_name=names.get(tid, ""),
            counts=_total(d.counts for d in dongs),
            # Named neighbourhoods in Korean order; the households without one last.
            dongs=sorted(dongs, key=lambda d: (d.dong == "", d.dong)),
        )
        for tid, dongs in by_team.items()
    ]
    teams.sort(key=lambda t: (t.team_name, t.team_id))
    return OverviewOut(generated_at=now, counts=_total(t.counts for t in teams), teams=teams)


def _total(parts: Any) -> OverviewCounts:
    total = OverviewCounts()
    for part in parts:
        for m in MEASURES:
            setattr(total, m, getattr(total, m) + getattr(part, m))
    return total


def households_in(
    session: Session,
    user: User,
    measure: str,
    *,
    team_id: int | None,
    dong: str | None,
    limit: int,
    offset: int,
) -> tuple[list[OverviewHousehold], int]:
    """The households behind one number of the overview (same rows, same condition), by code."""
    where = and_(_scope(user, team_id, dong), CONDITIONS[measure])
    total = session.exec(_joined(select(func.count())).where(where)).one()
    rows = session.execute(
        _joined(
            sql_select(
                Household,
                col(Team.name).label("team_name"),
                col(Watch.last_activity_at),
                col(Watch.last_checkin_at),
                _top_case.c.top,
            )
        )
        .join(Team, col(Team.id) == col(Household.team_id))
        .where(where)
        .order_by(col(Household.code))
        .limit(limit)
        .offset(offset)
    ).all()
    items = []
    for household, team_name, last_activity, last_checkin, top in rows:
        assert household.id is not None
        signs = [t for t in (last_activity, last_checkin) if t is not None]
        items.append(
            OverviewHousehold(
                household_id=household.id,
                household_code=household.code,
                household_timezone=household.timezone,
                team_id=household.team_id,
                team_name=team_name,
                dong=household.dong,
                monitoring=household.monitoring,
                last_sign_at=max(signs) if signs else None,
                stage=_SEVERITY_AT.get(top) if top is not None else None,
            )
        )
    return items, int(total)
