"""Scheduled check-in calls (like CareCall's weekly calls): the schedule, and what each call heard."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from core.enums import CheckinSkip
from core.models._base import enum_field, json_field, pk, utc


class CheckinSchedule(SQLModel, table=True):
    __tablename__ = "checkin_schedule"

    household_id: int = Field(foreign_key="household.id", primary_key=True)
    # ISO weekdays in the household's time zone: 1 = Monday ... 7 = Sunday.
    weekdays: list[int] = Field(default_factory=list, sa_type=JSON, nullable=False)
    local_time: str = Field(default="10:00", max_length=5)  # HH:MM, household local time
    active: bool = True
    next_due_at: datetime | None = utc(nullable=True, index=True)
    updated_at: datetime = utc()
    # The latest check-in that was skipped or held instead of placed, for staff (issue 5's review):
    # only the latest, on the schedule itself. Staff ask "why was there no call on Tuesday?";
    # a history table would grow without bound for little more, and the log keeps every one.
    last_skip_at: datetime | None = utc(nullable=True)  # when the notifier decided
    last_skip_slot: datetime | None = utc(nullable=True)  # the scheduled moment it concerned
    last_skip_reason: CheckinSkip | None = enum_field(CheckinSkip, nullable=True)
    last_skip_until: datetime | None = utc(nullable=True)  # held calls: when they will be placed


class CheckinCall(SQLModel, table=True):
    """One scheduled call and the resident's answers, question by question."""

    __tablename__ = "checkin_call"

    id: int | None = pk()
    household_id: int = Field(foreign_key="household.id", index=True)
    call_attempt_id: int = Field(foreign_key="callattempt.id", unique=True)
    scheduled_for: datetime = utc()
    # {"meals": {"answer": "ok"|"concern"|"emergency"|"unclear", "input": "...", "excerpt": "..."}, ...}
    answers: dict[str, Any] = json_field()
    created_at: datetime = utc()
