"""Incidents of Anbu itself, not of a household: a deaf gateway, a lost broker session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from core.enums import IncidentStatus, SystemIncidentKind
from core.models._base import enum_field, json_field, pk, utc

_ACTIVE = "status IN ('open', 'acknowledged')"


class SystemIncident(SQLModel, table=True):
    """Staff-only, shown on the dashboard; opened and cleared by ``gateway.incidents.tick``.

    A household's cases (``alert_case``) belong to its team and ring its people; an incident
    of the platform belongs to nobody's household and rings no one: operators see it on the
    dashboard, in ``/healthz`` and ``/metrics``. Counts and client ids only, no personal data.
    """

    __tablename__ = "system_incident"
    __table_args__ = (
        # One active incident per kind and source (e.g. per gateway client id).
        Index(
            "uq_system_incident_active",
            "kind",
            "source",
            unique=True,
            sqlite_where=text(_ACTIVE),
            postgresql_where=text(_ACTIVE),
        ),
    )

    id: int | None = pk()
    kind: SystemIncidentKind = enum_field(SystemIncidentKind)
    source: str = Field(max_length=200)  # what it is about: a gateway's MQTT client id
    status: IncidentStatus = enum_field(IncidentStatus, IncidentStatus.OPEN)
    opened_at: datetime = utc()
    last_seen_at: datetime = utc()
    detections: int = 1  # ticks (or lost sessions) that saw it while it stayed active
    acknowledged_at: datetime | None = utc(nullable=True)
    acknowledged_by: str | None = Field(default=None, max_length=120)
    cleared_at: datetime | None = utc(nullable=True)
    # Figures the explanation is written from, in the reader's language (seconds, counts).
    detail: dict[str, Any] = json_field()
