"""gateway/incidents.py: gateway_status rows become staff-only system incidents, opened and cleared."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from core.clock import ManualClock
from core.db import session_scope
from core.enums import IncidentStatus, SystemIncidentKind
from core.models import GatewayStatus, SystemIncident
from core.settings import Settings
from gateway import incidents
from gateway.incidents import IncidentNotFound, acknowledge, active_incidents
from tests.factories import load_all

SETTINGS = Settings(_env_file=None)
DEAF = SystemIncidentKind.GATEWAY_DEAF
DOWN = SystemIncidentKind.GATEWAY_DOWN
FLAPPING = SystemIncidentKind.GATEWAY_FLAPPING
LOST = SystemIncidentKind.GATEWAY_SESSION_LOST


def _status(engine: Engine, clock: ManualClock, client_id: str = "gw-1", **values: Any) -> None:
    row = GatewayStatus(client_id=client_id, updated_at=clock.now(), connected=True, **values)
    with session_scope(engine) as s:
        s.merge(row)


def _incidents(engine: Engine) -> list[tuple[SystemIncidentKind, str, IncidentStatus, int]]:
    return [(r.kind, r.source, r.status, r.detections) for r in load_all(engine, SystemIncident)]


def test_a_deaf_gateway_opens_one_incident_that_clears_when_it_hears_again(
    engine: Engine, clock: ManualClock
) -> None:
    _status(engine, clock, last_heard_at=clock.now() - timedelta(seconds=700), deaf=True, deaf_limit_s=90.0)
    assert incidents.tick(engine, clock, SETTINGS).opened == 1
    clock.advance(timedelta(seconds=30))
    _status(engine, clock, last_heard_at=clock.now() - timedelta(seconds=730), deaf=True, deaf_limit_s=90.0)
    assert incidents.tick(engine, clock, SETTINGS).opened == 0  # still the same incident, brought up to date
    with Session(engine) as s:
        (incident,) = active_incidents(s)
    assert (incident.kind, incident.source, incident.status) == (DEAF, "gw-1", IncidentStatus.OPEN)
    assert incident.detail == {"silent_s": 730, "limit_s": 90.0, "connected": True}
    assert incident.last_seen_at == clock.now()

    _status(engine, clock, last_heard_at=clock.now(), deaf=False, deaf_limit_s=90.0)
    assert incidents.tick(engine, clock, SETTINGS).cleared == 1
    assert _incidents(engine) == [(DEAF, "gw-1", IncidentStatus.CLEARED, 1)]


def test_a_gateway_that_stops_reporting_is_down_unless_it_stopped_cleanly(
    engine: Engine, clock: ManualClock
) -> None:
    _status(engine, clock, "gw-crashed")
    _status(engine, clock, "gw-stopped", stopped_at=clock.now())
    clock.advance(timedelta(seconds=16))  # three missed 5 s status intervals
    incidents.tick(engine, clock, SETTINGS)
    assert _incidents(engine) == [(DOWN, "gw-crashed", IncidentStatus.OPEN, 1)]
    _status(engine, clock, "gw-crashed")  # it came back
    incidents.tick(engine, clock, SETTINGS)
    assert _incidents(engine) == [(DOWN, "gw-crashed", IncidentStatus.CLEARED, 1)]


def test_a_stale_row_says_nothing_about_deafness(engine: Engine, clock: ManualClock) -> None:
    _status(engine, clock, deaf=True, deaf_limit_s=90.0)
    incidents.tick(engine, clock, SETTINGS)
    clock.advance(timedelta(minutes=5))
    incidents.tick(engine, clock, SETTINGS)  # down now; the deaf incident stays as it was
    assert _incidents(engine) == [
        (DEAF, "gw-1", IncidentStatus.OPEN, 1),
        (DOWN, "gw-1", IncidentStatus.OPEN, 1),
    ]
    _status(engine, clock, stopped_at=clock.now())  # stopped cleanly: neither deaf nor down
    incidents.tick(engine, clock, SETTINGS)
    assert {status for _k, _s, status, _n in _incidents(engine)} == {IncidentStatus.CLEARED}


def test_flapping_opens_and_clears(engine: Engine, clock: ManualClock) -> None:
    _status(engine, clock, flapping=True, disconnects=7, session_takeovers=0)
    incidents.tick(engine, clock, SETTINGS)
    with Session(engine) as s:
        (incident,) = active_incidents(s)
    assert incident.kind == FLAPPING and incident.detail == {"disconnects": 7, "takeovers": 0}
    _status(engine, clock, flapping=False, disconnects=7)
    incidents.tick(engine, clock, SETTINGS)
    assert _incidents(engine) == [(FLAPPING, "gw-1", IncidentStatus.CLEARED, 1)]


def test_each_lost_session_is_a_notice_until_a_person_acknowledges_it(
    engine: Engine, clock: ManualClock
) -> None:
    first: datetime = clock.now() - timedelta(minutes=1)
    _status(engine, clock, sessions_lost=1, session_lost_at=first)
    incidents.tick(engine, clock, SETTINGS)
    incidents.tick(engine, clock, SETTINGS)  # the same loss, seen again: nothing new
    assert _incidents(engine) == [(LOST, "gw-1", IncidentStatus.OPEN, 1)]

    second = clock.now()
    _status(engine, clock, sessions_lost=2, session_lost_at=second)
    incidents.tick(engine, clock, SETTINGS)  # another loss before anyone looked: counted on the same notice
    assert _incidents(engine) == [(LOST, "gw-1", IncidentStatus.OPEN, 2)]

    with session_scope(engine) as s:
        (incident,) = active_incidents(s)
        assert incident.id is not None
        done = acknowledge(s, incident.id, actor="kim", now=clock.now())
        assert (done.status, done.acknowledged_by, done.cleared_at) == (
            IncidentStatus.CLEARED,
            "kim",
            clock.now(),
        )
    incidents.tick(engine, clock, SETTINGS)  # the acknowledged loss does not come back
    assert _incidents(engine) == [(LOST, "gw-1", IncidentStatus.CLEARED, 2)]

    clock.advance(timedelta(minutes=10))
    _status(engine, clock, sessions_lost=3, session_lost_at=clock.now())
    incidents.tick(engine, clock, SETTINGS)
    assert _incidents(engine)[-1] == (LOST, "gw-1", IncidentStatus.OPEN, 1)


def test_acknowledging_a_condition_keeps_it_listed_until_it_clears(
    engine: Engine, clock: ManualClock
) -> None:
    _status(engine, clock, deaf=True, deaf_limit_s=60.0)
    incidents.tick(engine, clock, SETTINGS)
    with session_scope(engine) as s:
        (incident,) = active_incidents(s)
        assert incident.id is not None
        acknowledge(s, incident.id, actor="lee", now=clock.now())
        acknowledge(s, incident.id, actor="park", now=clock.now())  # twice: the first stands
    with Session(engine) as s:
        (incident,) = active_incidents(s)
    assert (incident.status, incident.acknowledged_by) == (IncidentStatus.ACKNOWLEDGED, "lee")
    _status(engine, clock, deaf=False)
    incidents.tick(engine, clock, SETTINGS)
    assert _incidents(engine) == [(DEAF, "gw-1", IncidentStatus.CLEARED, 1)]
    with session_scope(engine) as s, pytest.raises(IncidentNotFound):
        acknowledge(s, 999_999, actor="lee", now=clock.now())


def test_a_worker_that_loses_the_race_to_open_re_detects_instead(
    engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _status(engine, clock, deaf=True, deaf_limit_s=60.0)
    incidents.tick(engine, clock, SETTINGS)
    real = incidents.active_incident
    calls = []

    def not_seen_yet(session: Session, kind: SystemIncidentKind, source: str) -> SystemIncident | None:
        calls.append(kind)
        return (
            None if len(calls) == 1 else real(session, kind, source)
        )  # as if read before the other's commit

    monkeypatch.setattr(incidents, "active_incident", not_seen_yet)
    with session_scope(engine) as s:
        opened = incidents._open_or_redetect(s, DEAF, "gw-1", {"silent_s": 1}, clock.now())
    assert opened == 0 and len(calls) == 2  # the unique index refused the second, it re-read
    assert _incidents(engine) == [(DEAF, "gw-1", IncidentStatus.OPEN, 1)]
