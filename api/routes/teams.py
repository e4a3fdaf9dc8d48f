"""Teams the caller may filter by (admin and control room: all; a caseworker: their own)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import col, select

from api.deps import SessionDep, StaffUser
from api.queries import SEE_ALL_ROLES
from api.schemas import TeamList, TeamOut
from core.models import Team

router = APIRouter(prefix="/teams", tags=["teams"])


@router.get("", response_model=TeamList)
def teams(session: SessionDep, user: StaffUser) -> TeamList:
    stmt = select(Team).order_by(col(Team.name), col(Team.id))
    if user.role not in SEE_ALL_ROLES:
        stmt = stmt.where(col(Team.id) == user.team_id)
    return TeamList(
        items=[TeamOut(id=t.id, name=t.name) for t in session.exec(stmt).all() if t.id is not None]
    )
