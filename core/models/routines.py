"""Learned routines, stored as readable JSON (never a pickle) so every alert can be explained."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from core.models._base import json_field, utc


class RoutineModel(SQLModel, table=True):
    __tablename__ = "routine_model"

    household_id: int = Field(foreign_key="household.id", primary_key=True)
    fitted_at: datetime = utc()
    days_used: int = 0
    # anomaly.routine.Routine.to_json(): p_active and quiet_gap_h per local hour-of-week, ...
    model: dict[str, Any] = json_field()


class RoutineRefit(SQLModel, table=True):
    """When a household's routine was last refitted (whatever came of it) and who is refitting it.

    ``as_of``: the local midnight the last finished refit was as of; a household with too little
    data gets no routine, and without this it was refitted again every tick all day.
    ``claimed_until``: a worker's lease while it refits (the database's clock), so workers share
    the night's refits instead of all doing the same ones (``anomaly.training.tick``).
    """

    __tablename__ = "routine_refit"

    household_id: int = Field(foreign_key="household.id", primary_key=True)
    as_of: datetime | None = utc(nullable=True)
    claimed_until: datetime | None = utc(nullable=True)
