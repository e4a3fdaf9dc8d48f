"""The audit log: who viewed or changed which household or case, when, and from where.

Routes call :func:`record`; the entries are written by the request's session dependency
(:func:`api.deps.get_session`) at the request boundary: with the change itself for a
mutating request (both commit or neither does), and on their own for a read, whose other
work is rolled back. A request that fails writes nothing, so the log lists what happened.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import Request
from sqlmodel import Session

from core.enums import AuditAction, AuditObject
from core.models import AuditEntry, User

_PENDING_KEY = "anbu.audit.pending"
MAX_CLIENT_LENGTH = 64


def client_address(request: Request) -> str:
    return (request.client.host if request.client else "")[:MAX_CLIENT_LENGTH]


def record(
    session: Session,
    request: Request,
    user: User,
    action: AuditAction,
    object_type: AuditObject,
    object_id: int | None,
    *,
    now: datetime,
) -> AuditEntry:
    """Queue one audit entry on *session*; :func:`take_pending` hands it to the request boundary."""
    assert user.id is not None
    entry = AuditEntry(
        at=now,
        user_id=user.id,
        role=user.role,
        action=action,
        object_type=object_type,
        object_id=object_id,
        client=client_address(request),
    )
    pending: list[AuditEntry] = session.info.setdefault(_PENDING_KEY, [])
    pending.append(entry)
    return entry


def take_pending(session: Session) -> list[AuditEntry]:
    """The entries queued on *session* (and forget them, so they are written once)."""
    pending: list[AuditEntry] = session.info.pop(_PENDING_KEY, [])
    return pending
