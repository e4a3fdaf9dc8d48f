"""Who works with Anbu: organisations, their teams, and users of the dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import true as sa_true
from sqlmodel import Field, SQLModel

from core.enums import Language, Role
from core.models._base import enum_field, json_field, pk, utc


class Organisation(SQLModel, table=True):
    id: int | None = pk()
    name: str = Field(max_length=200)
    # Escalation policy as data (see notifier.policy); None = the built-in default.
    escalation_policy: dict[str, Any] | None = json_field(nullable=True)


class Team(SQLModel, table=True):
    id: int | None = pk()
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    name: str = Field(max_length=200)
    # The centre's number for families to ring when the case's caseworker has none on file.
    phone: str | None = Field(default=None, max_length=32)


class User(SQLModel, table=True):
    __tablename__ = "app_user"  # "user" is reserved on PostgreSQL

    id: int | None = pk()
    username: str = Field(max_length=100, unique=True, index=True)
    password_hash: str
    role: Role = enum_field(Role)
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    display_name: str = Field(default="", max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    language: Language = enum_field(Language, Language.KO)
    on_duty: bool = True
    is_active: bool = True
    # Part of every access token; bumped on password, role or team change, logout and deactivation,
    # so every token issued before stops working at once (api.users.revoke_tokens).
    token_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # The dashboard's live notice of a new 긴급 case (a line on every screen, the count in the
    # tab's title) and its sound: each user's own choice, kept here so it follows them to any device.
    urgent_notice: bool = Field(default=True, sa_column_kwargs={"server_default": sa_true()})
    urgent_sound: bool = Field(default=True, sa_column_kwargs={"server_default": sa_true()})
    created_at: datetime = utc()
