"""Households under watch, the people in them, and whom to tell."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, event
from sqlmodel import Field, SQLModel

from core.enums import Channel, Language, MonitoringState
from core.models._base import enum_field, pk, utc
from core.neighbourhood import neighbourhood


class Household(SQLModel, table=True):
    # The district overview groups by team and neighbourhood (api/overview.py).
    __table_args__ = (Index("ix_household_team_dong", "team_id", "dong"),)

    id: int | None = pk()
    team_id: int = Field(foreign_key="team.id", index=True)
    # A non-personal reference staff and logs use instead of names or addresses.
    code: str = Field(max_length=40, unique=True, index=True)
    address: str = Field(default="", max_length=400)
    # The 동 (읍, 면) named in the address, "" when none is: derived, never typed (see below).
    dong: str = Field(default="", max_length=40, sa_column_kwargs={"server_default": ""})
    timezone: str = Field(default="Asia/Seoul", max_length=64)
    monitoring: MonitoringState = enum_field(MonitoringState, MonitoringState.ACTIVE)
    paused_until: datetime | None = utc(nullable=True)
    # First-cut inactivity rule: quiet hours before a case opens (None = ANBU_INACTIVITY_DEFAULT_HOURS).
    quiet_hours: float | None = Field(default=None, gt=0, le=72)
    created_at: datetime = utc()
    # Personal data erased (notifier/erasure.py): never watched again; statistics only.
    erased_at: datetime | None = utc(nullable=True)


@event.listens_for(Household, "before_insert")
@event.listens_for(Household, "before_update")
def _derive_dong(_mapper: Any, _connection: Any, household: Household) -> None:
    # Every writer of an address (the form, the CSV import, the demo, erasure) keeps the
    # neighbourhood in step without having to remember it.
    household.dong = neighbourhood(household.address or "")


class Resident(SQLModel, table=True):
    id: int | None = pk()
    household_id: int = Field(foreign_key="household.id", index=True)
    name: str = Field(max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    language: Language = enum_field(Language, Language.KO)
    birth_year: int | None = None
    erased_at: datetime | None = utc(nullable=True)  # name, phone and birth year erased


class Contact(SQLModel, table=True):
    """Family member, neighbour or carer to tell when the resident does not answer."""

    id: int | None = pk()
    household_id: int = Field(foreign_key="household.id", index=True)
    name: str = Field(max_length=200)
    relation: str = Field(default="", max_length=100)
    # How this family member calls the resident ("어머니", "Mum"): their texts name her so, not
    # "어르신 댁(code)" (issue 17). Empty: the catalogue's neutral form.
    address_as: str = Field(default="", max_length=50, sa_column_kwargs={"server_default": ""})
    phone: str = Field(max_length=32)
    tier: int = Field(default=1, ge=1, le=9)
    language: Language = enum_field(Language, Language.KO)
    preferred_channel: Channel = enum_field(Channel, Channel.SMS)
    opted_out: bool = False
