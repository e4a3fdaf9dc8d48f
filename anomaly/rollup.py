"""The worker's ``rollup`` tick: raw readings rolled up per household and UTC hour into
``reading_hour`` (what anomaly/reading_hours.py reads; issue 15.3).

- **Idempotent**: a roll-up replaces the hours it covers; rolling up again gives the same rows.
- **Catches up**: a household is due while it has closed hours not rolled up (``rolled_until``),
  however many; at most :data:`CHUNK` a transaction, from its first reading on.
- **Late readings** (a broker's backlog after a gateway outage, a plug's clock): each tick reads
  the readings stored since the last (``reading_rollup_cursor``, by id) whose time lies in hours
  already rolled up, and moves those households' ``rolled_until`` back before them; the next
  roll-up redoes those hours. A roll-up that a move back overtook is rolled back (its update is
  conditional on the ``rolled_until`` it started from).
- **Claims**: a household's roll-up is leased (:data:`LEASE`, the database's clock) so several
  workers share them.
- **Retention** removes raw rows only: ``reading_hour`` keeps the hours (no move back reaches
  hours whose raw readings retention may have removed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, func, or_, update
from sqlmodel import Session, col, select

from anomaly.detector import DetectorParams
from anomaly.reading_hours import credit, floor_hour, reading_times
from core.clock import Clock
from core.db import claim_lease, claim_row, database_now, session_scope
from core.models import Device, Reading, ReadingHour, ReadingRollup, ReadingRollupCursor
from core.settings import Settings

log = logging.getLogger(__name__)

# An hour is rolled up once it ended this long ago (plus the coverage gap): readings come in
# within seconds, and what comes later is caught by the move back.
SETTLE = timedelta(minutes=10)
# Most hours one roll-up transaction covers: a household's first roll-up reads its whole raw
# history, a day at a time, so no transaction holds SQLite's write lock for long (~4,300 readings).
CHUNK = timedelta(days=1)
# A worker's lease on one household's roll-up.
LEASE = timedelta(minutes=10)
# Households read per tick (more than a tick's budget can roll up).
DUE_BATCH = 2000
BUDGET_S = 30.0


class _Overtaken(Exception):
    """The household's ``rolled_until`` moved (a late reading) while we rolled up: start again."""


def roll_up(session: Session, household_id: int, horizon: datetime, gap_s: int) -> bool:
    """Roll up the household's next closed hours before ``horizon`` (at most :data:`CHUNK`);
    True if more remain. Raises :class:`_Overtaken` if a late reading moved it back meanwhile."""
    state = session.get(ReadingRollup, household_id)
    if state is None:
        return False
    device_ids = session.exec(select(Device.id).where(Device.household_id == household_id)).all()
    was = state.rolled_until
    first = state.first_reading_at
    start = was
    if start is None:
        first = session.exec(select(func.min(Reading.ts)).where(col(Reading.device_id).in_(device_ids))).one()
        start = horizon if first is None else floor_hour(first)
    stop = max(start, min(horizon, start + CHUNK))
    if stop > start:
        gap = timedelta(seconds=gap_s)
        times = reading_times(session, device_ids, start - gap, stop + gap)
        coverage = credit(times, gap_s)
        start_s, stop_s = int(start.timestamp()), int(stop.timestamp())
        session.execute(
            delete(ReadingHour)
            .where(
                col(ReadingHour.household_id) == household_id,
                col(ReadingHour.hour) >= start,
                col(ReadingHour.hour) < stop,
            )
            .execution_options(synchronize_session=False)
        )
        session.add_all(
            ReadingHour(
                household_id=household_id,
                hour=datetime.fromtimestamp(hour, UTC),
                covered_s=min(3600, seconds),
            )
            for hour, seconds in sorted(coverage.items())
            if start_s <= hour < stop_s and seconds > 0
        )
        seen = [t for t in times if start_s <= t < stop_s]
        if seen and (first is None or seen[0] < first.timestamp()):
            first = datetime.fromtimestamp(seen[0], UTC)
    same = (
        col(ReadingRollup.rolled_until).is_(None) if was is None else col(ReadingRollup.rolled_until) == was
    )
    if not claim_row(
        session,
        update(ReadingRollup)
        .where(col(ReadingRollup.household_id) == household_id, same)
        .values(rolled_until=stop, first_reading_at=first),
    ):
        raise _Overtaken
    return stop < horizon


def rewind_late(session: Session, now: datetime, horizon: datetime, gap_s: int, settings: Settings) -> int:
    """Move back the households with readings stored since the last tick for hours already
    rolled up; return how many. Only readings received :data:`SETTLE` ago or more move the
    cursor on (one still being committed with a lower id is not skipped)."""
    cursor = session.get(ReadingRollupCursor, 1)
    if cursor is None:  # the migration makes it; a database without it starts from now
        top_now = session.exec(select(func.max(Reading.id))).one()
        session.add(ReadingRollupCursor(id=1, last_reading_id=top_now or 0))
        return 0
    last = cursor.last_reading_id
    top = session.exec(
        select(func.max(Reading.id)).where(col(Reading.id) > last, col(Reading.received_at) <= now - SETTLE)
    ).one()
    if top is None:
        return 0
    gap = timedelta(seconds=gap_s)
    late = session.exec(
        select(Device.household_id, func.min(Reading.ts))
        .join(Device, col(Device.id) == Reading.device_id)
        .where(col(Reading.id) > last, col(Reading.id) <= top, col(Reading.ts) < horizon + gap)
        .group_by(col(Device.household_id))
    ).all()
    # Raw readings older than this may be gone: rolling such hours up again would lose them.
    oldest = now - timedelta(days=settings.retention_readings_days - 1)
    moved = 0
    for household_id, ts in late:
        state = None if household_id is None else session.get(ReadingRollup, household_id)
        if state is None or state.rolled_until is None or ts >= state.rolled_until + gap:
            continue
        back = floor_hour(ts - gap)
        if back < oldest:
            log.warning("a reading of household %s came too late to be summarised", household_id)
            continue
        session.execute(
            update(ReadingRollup)
            .where(col(ReadingRollup.household_id) == household_id, col(ReadingRollup.rolled_until) > back)
            .values(rolled_until=back)
            .execution_options(synchronize_session=False)
        )
        moved += 1
    cursor.last_reading_id = top
    return moved


def due_rollups(session: Session, horizon: datetime) -> list[int]:
    """Households with a device and closed hours not rolled up, not claimed; one query."""
    db_now = database_now(session)
    rows = session.exec(
        select(Device.household_id)
        .outerjoin(ReadingRollup, col(ReadingRollup.household_id) == Device.household_id)
        .where(
            col(Device.household_id).is_not(None),
            or_(col(ReadingRollup.rolled_until).is_(None), col(ReadingRollup.rolled_until) < horizon),
            or_(col(ReadingRollup.claimed_until).is_(None), col(ReadingRollup.claimed_until) <= db_now),
        )
        .distinct()
        .order_by(col(Device.household_id))
        .limit(DUE_BATCH)
    ).all()
    return [household_id for household_id in rows if household_id is not None]


def claim_rollup(session: Session, household_id: int) -> bool:
    """Take the household's roll-up for :data:`LEASE`; False if another worker holds it."""
    return claim_lease(session, ReadingRollup, household_id, LEASE)


def _release(session: Session, household_id: int) -> None:
    session.execute(
        update(ReadingRollup)
        .where(col(ReadingRollup.household_id) == household_id)
        .values(claimed_until=None)
        .execution_options(synchronize_session=False)
    )


def tick(
    engine: Engine,
    clock: Clock,
    settings: Settings,
    *,
    params: DetectorParams | None = None,
    budget_s: float = BUDGET_S,
    monotonic: Callable[[], float] = time.monotonic,
) -> int:
    """Move back households with late readings, then roll up the closed hours of those due,
    for about ``budget_s``; return how many households were brought up to date."""
    gap_s = (params or DetectorParams()).coverage_gap_s
    now = clock.now()
    horizon = floor_hour(now - SETTLE - timedelta(seconds=gap_s))
    started = monotonic()
    with session_scope(engine) as session:
        rewind_late(session, now, horizon, gap_s, settings)
    with session_scope(engine) as session:
        due = due_rollups(session, horizon)
    done = 0
    for household_id in due:
        if monotonic() - started >= budget_s:
            break
        with session_scope(engine) as session:
            if not claim_rollup(session, household_id):
                continue
        try:
            more = True
            while more and monotonic() - started < budget_s:
                with session_scope(engine) as session:
                    more = roll_up(session, household_id, horizon, gap_s)
            done += not more
        except _Overtaken:
            pass  # a late reading moved it back: the next tick rolls up again
        except Exception:  # one household's bad data must not stop the others
            log.exception("rolling up the readings of household %s failed", household_id)
        finally:
            with session_scope(engine) as session:
                _release(session, household_id)
    return done
