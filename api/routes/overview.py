"""The district overview (issue 17): counts per team and 동, and the households behind each.

Not audited, like the queue and the still-quiet list: counts, and household codes with their
neighbourhood and last sign of life — no names, addresses or numbers. Opening a household from
the list is a household view, and audited as one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ClockDep, SessionDep, StaffUser
from api.overview import households_in, overview
from api.routes.pagination import DEFAULT_LIMIT, Limit, Offset, QueryId
from api.schemas import OverviewHouseholdList, OverviewMeasure, OverviewOut

router = APIRouter(prefix="/overview", tags=["overview"])

Dong = Annotated[
    str | None,
    Query(max_length=40, pattern=r"^[^\x00]*$", description='one neighbourhood; "" = households without one'),
]


@router.get("", response_model=OverviewOut)
def district_overview(
    session: SessionDep, user: StaffUser, clock: ClockDep, team_id: QueryId = None
) -> OverviewOut:
    """Per team (a caseworker: their own) and per 동: households watched, paused, quiet now, in
    each severity of their most severe open case, offline, and still quiet after closing."""
    return overview(session, user, clock.now(), team_id)


@router.get("/households", response_model=OverviewHouseholdList)
def overview_households(
    session: SessionDep,
    user: StaffUser,
    measure: Annotated[OverviewMeasure, Query(description="which number of the overview")],
    team_id: QueryId = None,
    dong: Dong = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> OverviewHouseholdList:
    """The households behind one number of the overview, by code."""
    items, total = households_in(
        session, user, measure, team_id=team_id, dong=dong, limit=limit, offset=offset
    )
    return OverviewHouseholdList(items=items, total=total, limit=limit, offset=offset)
