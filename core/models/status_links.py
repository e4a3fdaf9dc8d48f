"""Family status links: one row per link a caseworker made, holding only a hash of its token."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from core.models._base import BIGINT_PK, utc


class StatusLink(SQLModel, table=True):
    """A link to the family status page (``/status/<token>``) for one contact of one household.

    The token is 256 random bits, shown once when the link is made; only its SHA-256 is kept
    (a fast hash is right for a high-entropy secret: there is nothing to guess). The link dies
    with its contact or household (the rows are deleted with them, by the database), so a
    reused contact id can never bring it back; ids are never reused either (AUTOINCREMENT on
    SQLite), so the audit log's ``status_link_id`` always names this one link.
    """

    __tablename__ = "status_link"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True, sa_type=BIGINT_PK)
    token_hash: str = Field(max_length=64, unique=True)  # hex SHA-256 of the token
    household_id: int = Field(foreign_key="household.id", ondelete="CASCADE", index=True)
    contact_id: int = Field(foreign_key="contact.id", ondelete="CASCADE", index=True)
    # No foreign key, as in the audit log: a link outlives (and never blocks deleting) its maker.
    created_by: int
    created_at: datetime = utc()
    expires_at: datetime = utc()
    revoked_at: datetime | None = utc(nullable=True)
    last_used_at: datetime | None = utc(nullable=True)
