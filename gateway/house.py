"""Quiet with the house on, live: the same half hours and on-clock as ``anbu replay`` (issue 18).

Each batch's observations (:func:`gateway.edges.detect_edges`) go through the household's
:class:`anomaly.house_level.HouseLevel`, restored from ``house_state``; closed half hours are
stored in ``house_bucket`` (the routine fit learns from them how long quiet with the house on
usually lasts); when the on-clock (``house_state.on_since``) starts or stops, the watch of a
household with a learned house model is re-armed, so its deadline follows the kind of quiet the
house is in now, as the replay detector's does; and when a plug the long-on rule judges goes off
or back on (:func:`rearm_for_plugs`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from anomaly.house_level import Bucket, HouseLevel, HouseParams, LevelState, on_since
from anomaly.household_state import load_routine
from anomaly.routine import Routine
from anomaly.watch import rearm
from core.bulk import db_datetime, insert_ignore, table_of
from core.models import HouseBucket, Household, HouseState, Watch
from core.settings import Settings
from gateway.edges import HouseObservations


def _unix(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def _dt(ts: int | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def update_house(
    session: Session, observations: HouseObservations, settings: Settings, params: HouseParams | None = None
) -> None:
    if not observations:
        return
    p = params or HouseParams()
    ids = sorted(observations)
    states = {
        s.household_id: s
        for s in session.exec(select(HouseState).where(col(HouseState.household_id).in_(ids)))
    }
    for household_id in ids:
        row = states.get(household_id) or HouseState(household_id=household_id)
        level = HouseLevel(p, LevelState(_unix(row.bucket), row.level_w, row.plug_on, row.seen))
        closed = [
            b for ts, w, plug in observations[household_id] if (b := level.feed(ts, w, plug)) is not None
        ]
        before = row.on_since
        if closed:
            routine = load_routine(session, household_id)
            base = routine.house.base_w if routine is not None and routine.house is not None else None
            since = _unix(row.on_since)
            last = None if row.last_bucket is None else Bucket(_unix(row.last_bucket) or 0, None, False)
            for bucket in closed:
                was, since = since, on_since(since, last, bucket, base, p)
                if was is not None and since != was:
                    row.last_on_since, row.last_on_end = _dt(was), _dt(bucket.start)
                last = bucket
            # Ignore one already stored: two gateways may close the same half hour.
            dialect = session.get_bind().dialect.name
            insert_ignore(
                session.connection(),
                table_of(HouseBucket),
                ("household_id", "start", "level_w", "plug_on"),
                ["household_id", "start"],
                [
                    (
                        household_id,
                        db_datetime(datetime.fromtimestamp(b.start, UTC), dialect),
                        b.level_w,
                        b.plug_on,
                    )
                    for b in closed
                ],
            )
            row.on_since, row.last_bucket = _dt(since), _dt(closed[-1].start)
        state = level.state
        row.bucket, row.level_w, row.plug_on, row.seen = (
            _dt(state.bucket),
            state.level_w,
            state.plug_on,
            state.seen,
        )
        session.add(row)
        if row.on_since != before:
            session.flush()
            routine = load_routine(session, household_id)
            if routine is not None and routine.house is not None:
                _rearm(session, household_id, routine, settings)


def rearm_for_plugs(session: Session, household_ids: Iterable[int], settings: Settings) -> None:
    """A plug went off or back on: where the long-on rule judges the household's plugs
    (anomaly/long_on.py), its deadline follows, as replay's detector re-arms on each switch."""
    for household_id in sorted(household_ids):
        routine = load_routine(session, household_id)
        if routine is not None and routine.long_on:
            _rearm(session, household_id, routine, settings)


def _rearm(session: Session, household_id: int, routine: Routine, settings: Settings) -> None:
    watch = session.get(Watch, household_id)
    household = session.get(Household, household_id)
    if watch is not None and household is not None:
        rearm(session, watch, household, settings, routine=routine)
