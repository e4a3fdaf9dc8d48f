"""Field helpers shared by the table modules."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field

from core.types import UTCDateTime

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BIGINT_PK = BigInteger().with_variant(Integer(), "sqlite")


def pk() -> Any:
    return Field(default=None, primary_key=True)


def utc(*, nullable: bool = False, index: bool = False, default: datetime | None = None) -> Any:
    if nullable:
        return Field(default=default, sa_type=UTCDateTime, nullable=True, index=index)
    return Field(sa_type=UTCDateTime, nullable=False, index=index)


def json_field(*, nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_type=JSON, nullable=True)
    return Field(default_factory=dict, sa_type=JSON, nullable=False)


def enum_field(
    enum_cls: type[StrEnum], default: Any = ..., *, nullable: bool = False, index: bool = False
) -> Any:
    """Store a StrEnum by *value* as plain text (no native PG enum, no CHECK to migrate)."""
    sa_type = SAEnum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=40,
        values_callable=lambda cls: [member.value for member in cls],
        validate_strings=True,
    )
    if nullable:
        return Field(default=None, sa_type=sa_type, nullable=True, index=index)
    if default is ...:
        return Field(sa_type=sa_type, nullable=False, index=index)
    return Field(default=default, sa_type=sa_type, nullable=False, index=index)
