"""The per-household dead-man's switch: every timer is a column (principle 2)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from core.enums import WatchStatus
from core.models._base import enum_field, utc


class Watch(SQLModel, table=True):
    household_id: int = Field(foreign_key="household.id", primary_key=True)
    status: WatchStatus = enum_field(WatchStatus, WatchStatus.NEW)
    last_activity_at: datetime | None = utc(nullable=True)
    last_activity_device_id: int | None = Field(default=None, foreign_key="device.id")
    # A check-in that is not appliance use: the resident said "I'm fine" on a call or by SMS.
    last_checkin_at: datetime | None = utc(nullable=True)
    # When the sweeper should consider the household overdue; None = nothing to watch yet.
    alert_after: datetime | None = utc(nullable=True, index=True)
    # Data gaps (no reading from any of the household's devices for > 2 h) since the sign of life
    # at ``data_gap_after``: no data is not inactivity, so the quiet clock stops for them, as in
    # ``anbu replay`` (anomaly.deadlines.data_gap_pause). A newer sign of life makes them moot.
    # (A server default too: the gateway creates watch rows with a raw INSERT of a few columns.)
    data_gap_s: float = Field(default=0.0, sa_column_kwargs={"server_default": "0"})
    data_gap_after: datetime | None = utc(nullable=True)
    data_gap_until: datetime | None = utc(nullable=True)  # where the last counted gap ended
    # Why alert_after is what it is, in words a caseworker understands.
    explanation: str = Field(default="", max_length=1000)
    # While overdue (anomaly/recheck.py): a digest of everything the sweeper's re-check read last
    # time, and when the ladder's next stage (or the periodic re-check) comes. The sweeper looks at
    # an overdue household again only when the digest differs or that time has come.
    checked_inputs: str | None = Field(default=None, max_length=32)
    next_recheck_at: datetime | None = utc(nullable=True)
    updated_at: datetime = utc()
