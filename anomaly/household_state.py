"""What the database knows of a household that its watch's deadline reads, live.

Its learned routine (``routine_model``), which switch-ons are a person (the routine's automatic
loads are not), whether the house is on (``house_state``, ``house_bucket``), and which plugs are
on now since their switch-on (``channel_state`` with its ON edge). Read-only; used by the gateway,
the ticks (refit, sweeper, patterns) and the API alike, so none of them imports another's tick
module for it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from anomaly.activity import PowerEvent, is_human
from anomaly.house_level import Bucket
from anomaly.long_on import Run
from anomaly.routine import Routine
from core.enums import DeviceStatus, EdgeKind
from core.models import ActivityEdge, ChannelState, Device, HouseBucket, HouseState, RoutineModel

log = logging.getLogger(__name__)


def activity_label(device: Device, channel: str) -> str:
    """The name a channel's events are learned under (the same as a replayed CSV channel)."""
    return label(device.appliance, channel)


def label(appliance: str | None, channel: str) -> str:
    """:func:`activity_label` from the device's ``appliance`` column alone."""
    return appliance or channel


def is_human_edge(routine: Routine | None, label: str, power_w: float) -> bool:
    if routine is None:
        return True  # nothing learned yet: every switch-on counts (the conservative side)
    automatic = {k: set(v) for k, v in routine.automatic.items()}
    return is_human(PowerEvent(0, label, power_w), automatic)


def load_routine(session: Session, household_id: int) -> Routine | None:
    if household_id in session.info.get(_PRIMED_NO_ROUTINE, ()):
        return None  # :func:`prime_routines` found none
    row = session.get(RoutineModel, household_id)
    if row is None:
        return None
    try:
        return Routine.from_json(row.model)
    except (KeyError, TypeError, ValueError) as exc:
        # A bad row must not stop alerts: fall back to the fixed rule and say why.
        log.warning("routine model of household %s unusable (%s); using the fixed rule", household_id, exc)
        return None


# session.info key: the house_state rows (None: no row) :func:`prime_house_states` read.
_PRIMED_HOUSE_STATES = "anbu.house_states"
# session.info key: households :func:`prime_routines` found without a routine.
_PRIMED_NO_ROUTINE = "anbu.no_routine"


def prime_routines(session: Session, household_ids: Collection[int]) -> list[RoutineModel]:
    """Read the routines of many households in one query. The rows are returned for the caller to
    hold (the session keeps only weak references); which households have none is kept in the
    session, so that :func:`load_routine` asks nothing more for them (a household without a
    routine cost a query each time). Nothing that holds such a session writes routines."""
    rows = list(
        session.exec(select(RoutineModel).where(col(RoutineModel.household_id).in_(household_ids))).all()
    )
    found = {row.household_id for row in rows}
    session.info.setdefault(_PRIMED_NO_ROUTINE, set()).update(set(household_ids) - found)
    return rows


def prime_house_states(session: Session, household_ids: Collection[int]) -> None:
    """Read the ``house_state`` rows of many households in one query and keep them (and which
    households have none) in the session, so that :func:`house_on_since` asks the database nothing
    more for them (a tick's batch: otherwise a query a household, two when a case opens). The
    session lives one short transaction; nothing in it writes ``house_state``."""
    rows = session.exec(select(HouseState).where(col(HouseState.household_id).in_(household_ids))).all()
    found = {row.household_id: row for row in rows}
    primed = session.info.setdefault(_PRIMED_HOUSE_STATES, {})
    for household_id in household_ids:
        primed[household_id] = found.get(household_id)


def house_on_since(
    session: Session, household_id: int, *, sticky_after: datetime | None = None
) -> datetime | None:
    """Since when the house has been on without a break (``house_state``; None = at base load).

    ``sticky_after``: a sign of life; an on-run that ended after it still counts (an inactivity
    case the house-on rule opened stays open when the lights go off, until a real sign of life,
    as replay's does).
    """
    primed = session.info.get(_PRIMED_HOUSE_STATES)
    row = primed[household_id] if primed and household_id in primed else session.get(HouseState, household_id)
    if row is None:
        return None
    if row.on_since is not None:
        return row.on_since
    if sticky_after is not None and row.last_on_end is not None and row.last_on_end > sticky_after:
        return row.last_on_since
    return None


def house_buckets(
    session: Session, household_id: int, start: datetime, end: datetime, bucket_s: int
) -> list[Bucket]:
    """The household's closed half hours that lie wholly in ``[start, end)``."""
    rows = session.exec(
        # Columns, not ORM objects: a refit reads 1,344 half hours, and an object a row was most of
        # its time (issue 15.3).
        select(HouseBucket.start, HouseBucket.level_w, HouseBucket.plug_on)
        .where(
            HouseBucket.household_id == household_id,
            HouseBucket.start >= start,
            HouseBucket.start <= end - timedelta(seconds=bucket_s),
        )
        .order_by(col(HouseBucket.start))
    ).all()
    return [Bucket(int(at.timestamp()), level_w, plug_on) for at, level_w, plug_on in rows]


def plug_runs(
    session: Session, household_id: int, routine: Routine | None, *, sticky_after: datetime | None = None
) -> list[Run]:
    """The plugs on now, each since its switch-on (replay: ``HouseholdDetector.runs``), for the
    long-on rule; only plugs it has learned (none without a routine: no query).

    ``sticky_after``: a sign of life; a plug switched off after it still counts (an inactivity case
    the long-on rule opened stays open when the TV goes off, until a real sign of life, as replay's).
    """
    if routine is None or not routine.long_on:
        return []
    rows = session.exec(
        select(ChannelState, Device)
        .join(Device, col(Device.id) == ChannelState.device_id)
        .where(
            Device.household_id == household_id,
            Device.status == DeviceStatus.ASSIGNED,
            col(ChannelState.last_event_ts).is_not(None),
        )
    ).all()
    runs = []
    for state, device in rows:
        label = activity_label(device, state.channel)
        start = state.last_event_ts
        if label not in routine.long_on or start is None:
            continue
        off = state.off_since
        ended_after = sticky_after is not None and off is not None and off > sticky_after and off > start
        if not state.is_on and not ended_after:
            continue
        # The switch-on's power (its band tells an automatic load): the ON edge of that second.
        power = session.exec(
            select(ActivityEdge.power_w).where(
                ActivityEdge.device_id == device.id,
                ActivityEdge.channel == state.channel,
                ActivityEdge.kind == EdgeKind.ON,
                col(ActivityEdge.ts) >= start,
                col(ActivityEdge.ts) < start + timedelta(seconds=1),
            )
        ).first()
        if power is not None:
            runs.append(Run(label, int(start.timestamp()), power))
    return sorted(runs, key=lambda r: (r.start, r.channel))
