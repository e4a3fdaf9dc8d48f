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
