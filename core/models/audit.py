"""Who viewed or changed what, and from where: ids only, never personal data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from core.enums import AuditAction, AuditObject, Role
from core.models._base import BIGINT_PK, enum_field, utc


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_object", "object_type", "object_id"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BIGINT_PK)
    at: datetime = utc(index=True)
    # No foreign key: the log must outlive (and never block deleting) the user it names.
    # None when nobody was signed in: a family status-page view, a failed or refused login.
    user_id: int | None = Field(default=None, index=True)
    role: Role | None = enum_field(Role, nullable=True)
    action: AuditAction = enum_field(AuditAction, index=True)
    object_type: AuditObject = enum_field(AuditObject)
    object_id: int | None = None
    # The family status link made, revoked or looked through (status_link.id; never the token).
    status_link_id: int | None = None
    # The client address as the app saw it (behind a proxy: the proxy, unless configured).
    client: str = Field(default="", max_length=64)
