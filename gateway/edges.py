"""Activity edges from new readings: the same switch-on rule as ``anbu replay``, across batches.

Each channel runs :class:`anomaly.activity.StepDetector` (plugs: on above the device's
``on_threshold_w``, off below half of it, back on within 30 min = the same programme; whole-house
``aggregate`` meters: a step of ≥ 200 W). Its state is kept per channel in ``channel_state``, so a
batch boundary or a gateway restart changes nothing (tests: a detector restored from its state
continues exactly). A whole-house meter's steps are looked for in what the household's
sub-metered channels do not explain: the aggregate minus each of their latest readings (at most
``max_gap_s`` old), as replay does per minute. Smart plugs report a change at once while
whole-house meters report on a period, so the sub-meter's step is normally known first; a
sub-meter that reports later than the aggregate can still make one "step" of its own size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from anomaly.activity import AGGREGATE, StepDetector, StepParams, StepState, residual_w
from anomaly.house_level import ON_APPLIANCES
from core.bulk import (
    db_datetime,
    db_datetime_or_none,
    execute_many,
    fetch_all,
    from_db_datetime,
    select_in_sql,
    table_of,
    upsert_sql,
)
from core.enums import DeviceStatus, EdgeKind
from core.models import ChannelState, Device

ChannelKey = tuple[int, str]  # (device id, channel)
# Per household, per reading time: the unmetered level (None: no whole-house reading then) and
# whether a lamp/TV/heater/blanket plug is on (None: it has none), as replay feeds
# anomaly.house_level.HouseLevel once per minute after all channels.
HouseObservations = dict[int, list[tuple[int, float | None, bool | None]]]


@dataclass(frozen=True, slots=True)
class PowerReading:
    """A new power reading, as edge detection needs it."""

    index: int  # arrival order, the tie-break for equal timestamps
    device_id: int
    channel: str
    ts: datetime
    power_w: float


@dataclass(frozen=True, slots=True)
class DeviceRule:
    """How a device's channels are judged: its appliance label, threshold and household."""

    appliance: str
    on_threshold_w: float
    household_id: int | None  # None while not assigned: state is kept, no edges are made

    def label(self, channel: str) -> str:
        """The name a channel's events are learned under (``anomaly.training.activity_label``)."""
        return self.appliance or channel


@dataclass(slots=True)
class Edge:
    household_id: int
    device_id: int
    channel: str
    ts: datetime
    kind: EdgeKind
    power_w: float  # plugs: the power reached (ON) or fallen to (OFF); aggregate: the step's size


def detect_edges(
    session: Session,
    readings: Iterable[PowerReading],
    rules: Mapping[int, DeviceRule],
    house: HouseObservations | None = None,
    switched: set[int] | None = None,
) -> list[Edge]:
    """Feed new readings in time order to each channel's restored detector; store the states.

    ``house``: filled with each household's observations for the house level (the last state at
    each reading time, as replay's minute). ``switched``: filled with the households one of whose
    plugs went on or off (back on within its programme too, which makes no edge)."""
    ordered = sorted(
        readings,
        # At equal times the plugs go first, so the whole-house meter's residual has their reading.
        key=lambda r: (r.ts, rules[r.device_id].label(r.channel) == AGGREGATE, r.index),
    )
    if not ordered:
        return []
    stored = load_states(session, {r.device_id for r in ordered})
    sub_meters, sibling_rules = _sub_meters(
        session, ordered, rules, stored, every_household=house is not None
    )
    if sibling_rules:
        rules = {**sibling_rules, **rules}
    base = StepParams()
    detectors: dict[ChannelKey, StepDetector] = {}

    def detector(key: ChannelKey, rule: DeviceRule) -> StepDetector:
        found = detectors.get(key)
        if found is None:
            label = rule.label(key[1])
            params = base if label == AGGREGATE else base.with_threshold(rule.on_threshold_w)
            found = detectors[key] = StepDetector(label, params, stored.get(key))
        return found

    lamps = {
        h: [k for k in keys if rules[k[0]].label(k[1]) in ON_APPLIANCES] for h, keys in sub_meters.items()
    }
    edges: list[Edge] = []
    for r in ordered:
        key = (r.device_id, r.channel)
        rule = rules[r.device_id]
        d = detector(key, rule)
        ts = int(r.ts.timestamp())
        power = r.power_w
        if d.is_aggregate and rule.household_id is not None:
            power = residual_w(
                power,
                [detector(k, rules[k[0]]).latest(ts) for k in sub_meters.get(rule.household_id, ())],
            )
        was_on = d.is_on
        event = d.feed(ts, power)
        if rule.household_id is None:
            continue
        if house is not None:
            on = [detector(k, rules[k[0]]).is_on for k in lamps.get(rule.household_id, ())]
            _observe(house.setdefault(rule.household_id, []), ts, power if d.is_aggregate else None, on)
        if event is not None:
            edges.append(Edge(rule.household_id, r.device_id, r.channel, r.ts, EdgeKind.ON, event.level_w))
        elif was_on and not d.is_on:
            edges.append(Edge(rule.household_id, r.device_id, r.channel, r.ts, EdgeKind.OFF, r.power_w))
        if switched is not None and was_on != d.is_on and not d.is_aggregate:
            switched.add(rule.household_id)
    save_states(session, [(k, d.state) for k, d in detectors.items() if d.state != stored.get(k)])
    return edges


def _observe(
    seen: list[tuple[int, float | None, bool | None]], ts: int, level: float | None, on: list[bool]
) -> None:
    plug_on = any(on) if on else None
    if seen and seen[-1][0] == ts:  # the same instant again: its last state counts
        level = level if level is not None else seen[-1][1]
        seen[-1] = (ts, level, plug_on)
    else:
        seen.append((ts, level, plug_on))


def _sub_meters(
    session: Session,
    readings: list[PowerReading],
    rules: Mapping[int, DeviceRule],
    stored: dict[ChannelKey, StepState],
    *,
    every_household: bool = False,
) -> tuple[dict[int, list[ChannelKey]], dict[int, DeviceRule]]:
    """The sub-metered channels of each household whose whole-house meter reported in this batch
    (``every_household``: of every household in it, for its lamp/TV plugs).

    Channels that reported in this batch and those stored for the household's other assigned
    devices (their states are added to ``stored``; their rules are returned). Empty, without a
    query, for a batch without whole-house readings.
    """
    households = {
        rule.household_id
        for r in readings
        if (rule := rules[r.device_id]).household_id is not None
        and (every_household or rule.label(r.channel) == AGGREGATE)
    }
    if not households:
        return {}, {}
    found: dict[int, set[ChannelKey]] = {h: set() for h in households}
    rows = session.exec(
        select(ChannelState, Device)
        .join(Device, col(Device.id) == ChannelState.device_id)
        .where(col(Device.household_id).in_(households), Device.status == DeviceStatus.ASSIGNED)
    ).all()
    siblings: dict[int, DeviceRule] = {}
    for state, device in rows:
        assert device.id is not None and device.household_id is not None
        key = (device.id, state.channel)
        siblings[device.id] = DeviceRule(device.appliance, device.on_threshold_w, device.household_id)
        stored.setdefault(
            key, _step_state(state.is_on, state.last_ts, state.last_w, state.off_since, state.last_event_ts)
        )
        found[device.household_id].add(key)
    for r in readings:
        rule = rules[r.device_id]
        if rule.household_id in found:
            found[rule.household_id].add((r.device_id, r.channel))
    everyone = {**siblings, **rules}
    sub_meters = {
        h: sorted(k for k in keys if everyone[k[0]].label(k[1]) != AGGREGATE) for h, keys in found.items()
    }
    return sub_meters, siblings


# --- channel_state rows ------------------------------------------------------------------------

_COLUMNS = ("device_id", "channel", "is_on", "last_ts", "last_w", "off_since", "last_event_ts")


def _step_state(
    is_on: Any, last_ts: Any, last_w: float | None, off_since: Any, last_event_ts: Any
) -> StepState:
    return StepState(_unix(last_ts), last_w, bool(is_on), _unix(off_since), _unix(last_event_ts))


def _unix(value: Any) -> int | None:
    ts = value if isinstance(value, datetime) else from_db_datetime(value)
    return None if ts is None else int(ts.timestamp())


def _datetime(ts: int | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def load_states(session: Session, device_ids: set[int]) -> dict[ChannelKey, StepState]:
    """Each channel's detector state (Core rows: no ORM objects to build on the hot path)."""
    dialect = session.get_bind().dialect.name
    wanted = sorted(device_ids)
    sql = select_in_sql(table_of(ChannelState), _COLUMNS, "device_id", len(wanted), dialect)
    return {
        (device_id, channel): _step_state(*values)
        for device_id, channel, *values in fetch_all(session.connection(), sql, wanted)
    }


def save_states(session: Session, changed: list[tuple[ChannelKey, StepState]]) -> None:
    """Upsert the channels whose state moved, in one executemany."""
    if not changed:
        return
    dialect = session.get_bind().dialect.name
    sql = upsert_sql(table_of(ChannelState), _COLUMNS, ("device_id", "channel"), dialect)
    rows = []
    for (device_id, channel), s in changed:
        last_ts = _datetime(s.last_ts)
        assert last_ts is not None  # a state that moved has seen a reading
        rows.append(
            (
                device_id,
                channel,
                s.on,
                db_datetime(last_ts, dialect),
                s.last_w,
                db_datetime_or_none(_datetime(s.off_since), dialect),
                db_datetime_or_none(_datetime(s.last_event_ts), dialect),
            )
        )
    execute_many(session.connection(), sql, rows)
