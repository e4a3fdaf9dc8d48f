"""The audit log, for admins: newest first, paginated, filterable."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import ColumnElement, and_, func, true
from sqlmodel import col, select

from api import audit
from api.deps import AdminUser, ClockDep, SessionDep
from api.routes.pagination import DEFAULT_LIMIT, Limit, Offset, QueryId, require_offsets
from api.schemas import AuditEntryOut, AuditPage
from core.enums import AuditAction, AuditObject
from core.models import AuditEntry, User

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=AuditPage)
def audit_entries(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    clock: ClockDep,
    user_id: QueryId = None,
    action: AuditAction | None = None,
    object_type: AuditObject | None = None,
    object_id: QueryId = None,
    since: Annotated[datetime | None, Query(description="inclusive, with a timezone offset")] = None,
    until: Annotated[datetime | None, Query(description="exclusive, with a timezone offset")] = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> AuditPage:
    require_offsets(since, until)
    conditions: list[ColumnElement[bool]] = [true()]
    if user_id is not None:
        conditions.append(col(AuditEntry.user_id) == user_id)
    if action is not None:
        conditions.append(col(AuditEntry.action) == action)
    if object_type is not None:
        conditions.append(col(AuditEntry.object_type) == object_type)
    if object_id is not None:
        conditions.append(col(AuditEntry.object_id) == object_id)
    if since is not None:
        conditions.append(col(AuditEntry.at) >= since)
    if until is not None:
        conditions.append(col(AuditEntry.at) < until)
    where = and_(*conditions)
    total = session.exec(select(func.count()).select_from(AuditEntry).where(where)).one()
    # The record holds the id; the name is looked up for display (and stays the current one).
    rows = session.exec(
        select(AuditEntry, User.username)
        .outerjoin(User, col(User.id) == col(AuditEntry.user_id))
        .where(where)
        .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    # Reading the log is itself on the record: who looked at whom is what the log is for.
    audit.record(session, request, user, AuditAction.VIEW, AuditObject.AUDIT_LOG, None, now=clock.now())
    items = [
        AuditEntryOut(
            id=_id(e.id),
            at=e.at,
            user_id=e.user_id,
            username=username,
            role=e.role,
            action=e.action,
            object_type=e.object_type,
            object_id=e.object_id,
            status_link_id=e.status_link_id,
            client=e.client,
        )
        for e, username in rows
    ]
    return AuditPage(items=items, total=int(total), limit=limit, offset=offset)


def _id(value: int | None) -> int:
    assert value is not None
    return value
