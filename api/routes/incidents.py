"""System incidents (gateway/incidents.py): what is wrong with Anbu itself, for every staff role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func
from sqlmodel import col, select

from api.deps import ClockDep, SessionDep, StaffUser
from api.errors import ErrorCode, error_response, not_found
from api.routes.pagination import DEFAULT_LIMIT, Limit, Offset, PathId
from api.schemas import IncidentOut, IncidentPage
from core.models import SystemIncident
from gateway.incidents import ACTIVE, IncidentNotFound, acknowledge

router = APIRouter(tags=["incidents"])

ActiveOnly = Annotated[
    bool, Query(description="only incidents not yet cleared (default); false = all, newest first")
]


@router.get("/incidents", response_model=IncidentPage)
def list_incidents(
    session: SessionDep,
    user: StaffUser,
    active: ActiveOnly = True,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> IncidentPage:
    """Gateway incidents: deaf, flapping, down, a lost broker session. No household data in them."""
    where = [col(SystemIncident.status).in_(ACTIVE)] if active else []
    order = (
        (col(SystemIncident.opened_at), col(SystemIncident.id))
        if active
        else (col(SystemIncident.opened_at).desc(), col(SystemIncident.id).desc())
    )
    total = session.exec(select(func.count()).select_from(SystemIncident).where(*where)).one()
    rows = session.exec(
        select(SystemIncident).where(*where).order_by(*order).offset(offset).limit(limit)
    ).all()
    return IncidentPage(
        items=[IncidentOut.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.post(
    "/incidents/{incident_id}/acknowledge",
    response_model=IncidentOut,
    responses={404: error_response("no such incident")},
)
def acknowledge_incident(
    incident_id: PathId, session: SessionDep, user: StaffUser, clock: ClockDep
) -> IncidentOut:
    """Seen by a person: a lost session is then done; a deaf or flapping gateway stays listed,
    marked acknowledged, until it recovers."""
    try:
        incident = acknowledge(session, incident_id, actor=user.username, now=clock.now())
    except IncidentNotFound:
        raise not_found(ErrorCode.INCIDENT_NOT_FOUND, "incident") from None
    return IncidentOut.model_validate(incident)
