"""The ticks as they were before they became set-based: one transaction per household, over every
household. Kept only as the oracle the set-based ticks are compared with (the equivalence tests,
``benchmarks/ticks.py``'s old-vs-new timings); production never runs them.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine
from sqlmodel import col, select

from anomaly import away_end, sweeper, training
from anomaly.detector import DetectorParams
from core.clock import Clock
from core.db import session_scope
from core.enums import DeviceStatus, WatchStatus
from core.models import Device, Watch
from core.settings import Settings
from gateway import connectivity

log = logging.getLogger(__name__)


def connectivity_tick(engine: Engine, clock: Clock, settings: Settings) -> connectivity.ConnectivityResult:
    """``gateway.connectivity.tick`` as it was: every household with an assigned plug, one by one."""
    now = clock.now()
    result = connectivity.ConnectivityResult()
    with session_scope(engine) as session:
        candidates = session.exec(
            select(Device).where(
                col(Device.online).is_not(False),
                col(Device.last_seen_at).is_not(None),
                Device.status != DeviceStatus.RETIRED,
            )
        ).all()
        silent = [d for d in candidates if connectivity.is_silent(d, now, settings)]
        result.went_silent = connectivity.mark_offline(session, silent)
    with session_scope(engine) as session:
        household_ids = session.exec(
            select(Device.household_id)
            .where(col(Device.household_id).is_not(None), Device.status == DeviceStatus.ASSIGNED)
            .distinct()
        ).all()
    for household_id in household_ids:
        if household_id is None:
            continue
        with session_scope(engine) as session:
            connectivity.check_household(session, household_id, now, result)
    return result


def training_tick(engine: Engine, clock: Clock, settings: Settings) -> int:
    """``anomaly.training.tick`` as it was: every watched household asked "due?" one by one."""
    now = clock.now()
    with session_scope(engine) as session:
        ids = session.exec(select(Watch.household_id).order_by(col(Watch.household_id))).all()
    fitted = 0
    for household_id in ids:
        with session_scope(engine) as session:
            fitted += training.retrain_household(session, household_id, now, settings, DetectorParams())
    return fitted


def sweeper_tick(
    engine: Engine, clock: Clock, settings: Settings, *, limit: int = 500
) -> sweeper.SweepResult:
    """``anomaly.sweeper.tick`` as it was: one transaction per due and per overdue household."""
    now = clock.now()
    result = sweeper.SweepResult()
    result.pauses_ended, result.away_reminders = away_end.end_pauses(engine, now, settings)
    result.away_cleared = away_end.clear_away_reminders(engine, now)
    with session_scope(engine) as session:
        due = sweeper._due_households(session, now, limit, result)
        overdue = session.exec(select(Watch.household_id).where(Watch.status == WatchStatus.OVERDUE)).all()
    for household_id in due:
        with session_scope(engine) as session:
            sweeper._check_due(session, household_id, now, settings, result)
    for household_id in overdue:
        with session_scope(engine) as session:
            sweeper._check_recovered(session, household_id, now, settings, result)
    return result
