"""Cases and their append-only event log. Only notifier.lifecycle writes case state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from core.enums import CaseEventType, CaseKind, CaseStatus, ResolutionCode, Severity
from core.models._base import enum_field, json_field, pk, utc

_ACTIVE = "status IN ('open', 'acknowledged')"


class Case(SQLModel, table=True):
    __tablename__ = "alert_case"  # "case" is an SQL keyword
    __table_args__ = (
        # One active case per household and kind, enforced by the database.
        Index(
            "uq_alert_case_active",
            "household_id",
            "kind",
            unique=True,
            sqlite_where=text(_ACTIVE),
            postgresql_where=text(_ACTIVE),
        ),
        Index("ix_alert_case_due", "status", "next_action_at"),
    )

    id: int | None = pk()
    household_id: int = Field(foreign_key="household.id", index=True)
    kind: CaseKind = enum_field(CaseKind)
    status: CaseStatus = enum_field(CaseStatus, CaseStatus.OPEN)
    severity: Severity = enum_field(Severity, Severity.ALERT)
    explanation: str = Field(default="", max_length=2000)  # in the default language (Korean)
    # The same explanation in every language (core.i18n.in_every_language), so the dashboard shows
    # the user's; None on rows written before it was kept (migration 0019) and on free text.
    explanation_texts: dict[str, str] | None = json_field(nullable=True)
    opened_at: datetime = utc()
    last_seen_at: datetime = utc()
    acknowledged_at: datetime | None = utc(nullable=True)
    acknowledged_by: str | None = Field(default=None, max_length=120)
    cleared_at: datetime | None = utc(nullable=True)
    clear_reason: str | None = Field(default=None, max_length=120)
    resolved_at: datetime | None = utc(nullable=True)
    resolved_by: str | None = Field(default=None, max_length=120)
    resolution_code: ResolutionCode | None = enum_field(ResolutionCode, nullable=True)
    resolution_note: str | None = Field(default=None, max_length=2000)
    # Escalation: the policy as it was when the case opened, and where we are in it.
    policy_snapshot: dict[str, Any] = json_field()
    step_index: int = 0
    repeat_count: int = 0
    next_action_at: datetime | None = utc(nullable=True)
    # Fencing token: changes on ack/clear/resolve so stale steps and sends do nothing.
    escalation_token: str = Field(max_length=64)
    # Optimistic concurrency: every write is "UPDATE ... WHERE version = :seen".
    version: int = 1
    # The case calls for follow-up visits whatever its outcome (a resident who spoke of wanting
    # to die: docs/calls.md, "Self-harm protocol"); set when it opens, kept after it closes.
    follow_up_visits: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    # When retention removed what the resident said on this case (notifier/retention.py);
    # set by retention and erasure only, never by the lifecycle (so no version bump).
    transcripts_removed_at: datetime | None = utc(nullable=True)


class CaseEvent(SQLModel, table=True):
    id: int | None = pk()
    case_id: int = Field(foreign_key="alert_case.id", index=True)
    at: datetime = utc()
    type: CaseEventType = enum_field(CaseEventType)
    actor: str = Field(default="system", max_length=120)
    data: dict[str, Any] = json_field()


class CaseAssignment(SQLModel, table=True):
    """Who on the household's team is working the case (at most one; no row = unassigned).

    Kept beside ``Case`` rather than on it: assigning is a staff arrangement, not case state,
    so it never races the escalation engine's versioned writes to ``alert_case``.
    """

    __tablename__ = "case_assignment"

    case_id: int = Field(foreign_key="alert_case.id", primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    assigned_at: datetime = utc()
    assigned_by: str = Field(max_length=120)


class AckCode(SQLModel, table=True):
    """The code a family member's reply must carry to acknowledge a case (notifier.ack_codes):
    one per case and contact, the same in every alert text of that case to them.

    The code is random (``secrets``), not derived from anything guessable. It is kept as it is
    rather than hashed: every later text of the case repeats it, and the text itself
    (``Notification.body``) holds it anyway. It is worth nothing once the case is no longer open.
    """

    __tablename__ = "ack_code"
    __table_args__ = (UniqueConstraint("case_id", "contact_id", name="uq_ack_code_case_contact"),)

    id: int | None = pk()
    case_id: int = Field(foreign_key="alert_case.id", index=True)
    # Like Notification.recipient_id: no foreign key, so removing a contact is never blocked.
    contact_id: int = Field(index=True)
    code: str = Field(max_length=8)
    wrong_attempts: int = 0  # wrong codes sent from this contact's number for this case
    created_at: datetime = utc()
