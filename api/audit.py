"""The audit log: who viewed or changed which household or case, when, and from where.

Routes call :func:`record`; the entries are written by the request's session dependency
(:func:`api.deps.get_session`) at the request boundary: with the change itself for a
mutating request (both commit or neither does), and on their own for a read, whose other
work is rolled back. A request that fails writes nothing, so the log lists what happened,
except entries recorded with ``even_if_refused`` (a failed or refused login): the refusal is
what they are about.

An entry names a user when someone was signed in; a family status-page view has none, only
the status link (its id, never its token).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from fastapi import Request
from sqlmodel import Session, col, select

from core.enums import AuditAction, AuditObject
from core.models import AuditEntry, User

_PENDING_KEY = "anbu.audit.pending"
_REFUSED_KEY = "anbu.audit.even_if_refused"
MAX_CLIENT_LENGTH = 64


def client_address(request: Request) -> str:
    return (request.client.host if request.client else "")[:MAX_CLIENT_LENGTH]


def entry(
    request: Request,
    user: User | None,
    action: AuditAction,
    object_type: AuditObject,
    object_id: int | None,
    *,
    now: datetime,
    status_link_id: int | None = None,
) -> AuditEntry:
    """One audit entry (not yet on any session)."""
    assert user is None or user.id is not None
    return AuditEntry(
        at=now,
        user_id=user.id if user else None,
        role=user.role if user else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        status_link_id=status_link_id,
        client=client_address(request),
    )


def record(
    session: Session,
    request: Request,
    user: User | None,
    action: AuditAction,
    object_type: AuditObject,
    object_id: int | None,
    *,
    now: datetime,
    status_link_id: int | None = None,
    even_if_refused: bool = False,
) -> AuditEntry:
    """Queue one audit entry on *session*; :func:`take_pending` hands it to the request boundary."""
    new = entry(request, user, action, object_type, object_id, now=now, status_link_id=status_link_id)
    pending: list[AuditEntry] = session.info.setdefault(_REFUSED_KEY if even_if_refused else _PENDING_KEY, [])
    pending.append(new)
    return new


# A page is read in several requests: the household page asks for the household, its activity
# heatmap, the day view, the check-in calls and the family links, and each used to write its own
# identical ``view`` entry (4-5 per look). The page's main request records the view; the others
# (:func:`record_view_part`) record one only when this user has no view of the same thing on
# record within VIEW_COVERS, so a direct API read, or a page left open and used much later, is
# still on the record.
VIEW_COVERS = timedelta(minutes=10)


def record_view_part(
    session: Session,
    request: Request,
    user: User,
    object_type: AuditObject,
    object_id: int,
    *,
    now: datetime,
) -> None:
    """A ``view`` of part of a page: recorded unless the same user's view of the same object is
    already on record (or queued) within :data:`VIEW_COVERS`."""
    queued: list[AuditEntry] = session.info.get(_PENDING_KEY, [])
    if any(
        e.action == AuditAction.VIEW and e.object_type == object_type and e.object_id == object_id
        for e in queued
    ):
        return
    recent = session.exec(
        select(AuditEntry.id)
        .where(
            col(AuditEntry.user_id) == user.id,
            col(AuditEntry.action) == AuditAction.VIEW,
            col(AuditEntry.object_type) == object_type,
            col(AuditEntry.object_id) == object_id,
            col(AuditEntry.at) > now - VIEW_COVERS,
        )
        .limit(1)
    ).first()
    if recent is None:
        record(session, request, user, AuditAction.VIEW, object_type, object_id, now=now)


def record_each(
    session: Session,
    request: Request,
    user: User,
    action: AuditAction,
    object_type: AuditObject,
    object_ids: Iterable[int | None],
    *,
    now: datetime,
) -> None:
    """One entry per distinct subject an action touched (a move: where from and where to)."""
    for object_id in dict.fromkeys(i for i in object_ids if i is not None):
        record(session, request, user, action, object_type, object_id, now=now)


def record_team_move(
    session: Session, request: Request, user: User, before: int | None, after: int | None, *, now: datetime
) -> None:
    """A household or user moved between teams: an ``update`` entry for each team (none if it stayed)."""
    if before != after:
        record_each(session, request, user, AuditAction.UPDATE, AuditObject.TEAM, (before, after), now=now)


def take_pending(session: Session) -> list[AuditEntry]:
    """The entries queued on *session* (and forget them, so they are written once)."""
    pending: list[AuditEntry] = session.info.pop(_PENDING_KEY, [])
    refused: list[AuditEntry] = session.info.pop(_REFUSED_KEY, [])
    return refused + pending


def take_refused(session: Session) -> list[AuditEntry]:
    """Only the entries to keep when the request fails (and forget every queued entry)."""
    session.info.pop(_PENDING_KEY, None)
    refused: list[AuditEntry] = session.info.pop(_REFUSED_KEY, [])
    return refused
