"""Quiet with the house on (issue 18, anomaly/house_level.py): each household's half hours, live."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from core.models._base import utc
from core.types import UTCDateTime


class HouseState(SQLModel, table=True):
    """The streaming state of ``anomaly.house_level.HouseLevel`` and the on-clock, per household."""

    __tablename__ = "house_state"

    household_id: int = Field(foreign_key="household.id", primary_key=True)
    bucket: datetime | None = utc(nullable=True)  # the half hour being read
    level_w: float | None = None  # its lowest unmetered reading so far
    plug_on: bool = True  # a lamp/TV/heater plug on at each reading of it so far
    seen: bool = False
    last_bucket: datetime | None = utc(nullable=True)  # the last closed half hour
    # Since when the house has been on (not at its base load) without a break; None = at base.
    on_since: datetime | None = utc(nullable=True)
    # The last on-run that ended (the house went back to base): an inactivity case it opened stays
    # open until a real sign of life, as in replay (anomaly.watch.current_deadline).
    last_on_since: datetime | None = utc(nullable=True)
    last_on_end: datetime | None = utc(nullable=True)


class HouseBucket(SQLModel, table=True):
    """One closed half hour: the routine fit learns from them how long quiet with the house on lasts."""

    __tablename__ = "house_bucket"

    household_id: int = Field(foreign_key="household.id", primary_key=True)
    start: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    level_w: float | None = None
    plug_on: bool = False
