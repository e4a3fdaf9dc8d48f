"""Gateway incidents for staff: a deaf, flapping or vanished gateway, a session the broker lost.

Each gateway process writes its figures to ``gateway_status`` every few seconds
(gateway/status.py); this tick (every ``ANBU_CONNECTIVITY_INTERVAL_S``, in ``anbu up`` and
``anbu worker``) turns them into ``system_incident`` rows, one active per kind and gateway:

| kind | opens when | clears when |
|---|---|---|
| ``gateway_deaf`` | the row says deaf (gateway/hearing.py) | it hears plugs again, or stopped cleanly |
| ``gateway_flapping`` | the connection keeps dropping (gateway/link.py) | stable again, or stopped |
| ``gateway_down`` | the row went stale without a clean stop (crashed, hung, lost its database) | fresh again |
| ``gateway_session_lost`` | a newer ``session_lost_at`` than any incident has recorded | a person acknowledges it |

Incidents belong to no household and ring no one: they are listed on the dashboard (every staff
role), in ``/healthz`` and in ``/metrics``. A case (``alert_case``) is a household's and rings its
people; a broken gateway holds back *every* household's alarms, which is why it must be seen by
whoever is on duty, not routed to one team. Opening is protected by the partial unique index
(a second worker's insert fails and re-detects instead), clearing by a conditional UPDATE.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from core.clock import Clock
from core.db import insert_or_find, session_scope
from core.enums import IncidentStatus, SystemIncidentKind
from core.models import GatewayStatus, SystemIncident
from core.settings import Settings
from gateway.status import is_stale

log = logging.getLogger(__name__)

ACTIVE = (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED)
# Conditions clear by themselves; a lost session is an event: it stays until a person has seen it.
EVENT_KINDS = frozenset({SystemIncidentKind.GATEWAY_SESSION_LOST})


class IncidentNotFound(LookupError):
    pass


@dataclass
class IncidentResult:
    opened: int = 0
    cleared: int = 0


def conditions(row: GatewayStatus, now: datetime) -> dict[SystemIncidentKind, dict[str, Any] | None]:
    """What each condition kind says about one gateway (pure): its figures when present, None when
    absent. A kind left out is unknown now (a stale row says nothing about deafness)."""
    if row.stopped_at is not None:
        return {kind: None for kind in SystemIncidentKind if kind not in EVENT_KINDS}
    if is_stale(row.updated_at, now):
        return {SystemIncidentKind.GATEWAY_DOWN: {"last_update": row.updated_at.isoformat()}}
    silent_s = None if row.last_heard_at is None else round((now - row.last_heard_at).total_seconds())
    return {
        SystemIncidentKind.GATEWAY_DOWN: None,
        SystemIncidentKind.GATEWAY_DEAF: (
            {"silent_s": silent_s, "limit_s": row.deaf_limit_s, "connected": row.connected}
            if row.deaf
            else None
        ),
        SystemIncidentKind.GATEWAY_FLAPPING: (
            {"disconnects": row.disconnects, "takeovers": row.session_takeovers} if row.flapping else None
        ),
    }


def tick(engine: Engine, clock: Clock, settings: Settings) -> IncidentResult:
    now = clock.now()
    result = IncidentResult()
    with Session(engine) as session:
        rows = session.exec(select(GatewayStatus)).all()
    for row in rows:
        try:
            with session_scope(engine) as session:
                _check_gateway(session, row, now, result)
        except Exception:  # one gateway's rows must not stop the others' incidents
            log.exception("incident check failed for gateway %s", row.client_id)
    return result


def _check_gateway(session: Session, row: GatewayStatus, now: datetime, result: IncidentResult) -> None:
    for kind, detail in conditions(row, now).items():
        if detail is not None:
            result.opened += _open_or_redetect(session, kind, row.client_id, detail, now)
        else:
            result.cleared += _clear(session, kind, row.client_id, now)
    lost_at = row.session_lost_at
    if lost_at is not None and _newer_session_loss(session, row.client_id, lost_at):
        detail = {"lost_at": lost_at.isoformat(), "sessions_lost": row.sessions_lost}
        result.opened += _open_or_redetect(
            session, SystemIncidentKind.GATEWAY_SESSION_LOST, row.client_id, detail, now
        )


def _newer_session_loss(session: Session, source: str, lost_at: datetime) -> bool:
    """Has no incident recorded this loss yet (every one stores the loss it was about)?"""
    recorded = session.exec(
        select(SystemIncident.detail).where(
            SystemIncident.kind == SystemIncidentKind.GATEWAY_SESSION_LOST, SystemIncident.source == source
        )
    ).all()
    return all(str(detail.get("lost_at", "")) < lost_at.isoformat() for detail in recorded)


def active_incident(session: Session, kind: SystemIncidentKind, source: str) -> SystemIncident | None:
    return session.exec(
        select(SystemIncident).where(
            SystemIncident.kind == kind,
            SystemIncident.source == source,
            col(SystemIncident.status).in_(ACTIVE),
        )
    ).first()


def _open_or_redetect(
    session: Session, kind: SystemIncidentKind, source: str, detail: dict[str, Any], now: datetime
) -> int:
    """1 when an incident was opened, 0 when the active one was brought up to date."""
    existing = active_incident(session, kind, source)
    if existing is None:
        incident = SystemIncident(
            kind=kind, source=source, opened_at=now, last_seen_at=now, detail=detail, detections=1
        )
        # Another worker may have opened it a moment ago: then that one is brought up to date.
        existing, opened = insert_or_find(session, incident, lambda: active_incident(session, kind, source))
        if opened:
            log.log(
                logging.WARNING if kind in EVENT_KINDS else logging.ERROR,
                "system incident %s opened for gateway %s: %s",
                kind.value,
                source,
                detail,
            )
            return 1
    session.execute(
        update(SystemIncident)
        .where(col(SystemIncident.id) == existing.id, col(SystemIncident.status).in_(ACTIVE))
        .values(
            last_seen_at=now,
            detail=detail,
            detections=SystemIncident.detections + (1 if kind in EVENT_KINDS else 0),
        )
        .execution_options(synchronize_session=False)
    )
    return 0


def _clear(session: Session, kind: SystemIncidentKind, source: str, now: datetime) -> int:
    res = session.execute(
        update(SystemIncident)
        .where(
            col(SystemIncident.kind) == kind,
            col(SystemIncident.source) == source,
            col(SystemIncident.status).in_(ACTIVE),
        )
        .values(status=IncidentStatus.CLEARED, cleared_at=now)
        .execution_options(synchronize_session=False)
    )
    cleared: int = res.rowcount  # type: ignore[attr-defined]
    if cleared:
        log.warning("system incident %s cleared for gateway %s", kind.value, source)
    return cleared


def active_incidents(session: Session) -> list[SystemIncident]:
    """What staff should see now, oldest first."""
    return list(
        session.exec(
            select(SystemIncident)
            .where(col(SystemIncident.status).in_(ACTIVE))
            .order_by(col(SystemIncident.opened_at), col(SystemIncident.id))
        ).all()
    )


def acknowledge(session: Session, incident_id: int, *, actor: str, now: datetime) -> SystemIncident:
    """A person has seen it. An event (a lost session) is then done; a condition stays active,
    marked acknowledged, until it clears. Acknowledging twice changes nothing."""
    incident = session.get(SystemIncident, incident_id)
    if incident is None:
        raise IncidentNotFound(incident_id)
    if incident.status == IncidentStatus.OPEN:
        values: dict[str, Any] = {
            "status": IncidentStatus.CLEARED if incident.kind in EVENT_KINDS else IncidentStatus.ACKNOWLEDGED,
            "acknowledged_at": now,
            "acknowledged_by": actor,
        }
        if incident.kind in EVENT_KINDS:
            values["cleared_at"] = now
        session.execute(
            update(SystemIncident)
            .where(col(SystemIncident.id) == incident_id, col(SystemIncident.status) == IncidentStatus.OPEN)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        session.refresh(incident)
    return incident
