"""Batched, idempotent ingest: decoded MQTT messages become rows in the caller's transaction.

One call handles one batch (up to ~1000 messages) with a handful of statements: readings and
edges are inserted in bulk with ``ON CONFLICT DO NOTHING`` on their unique keys, so a broker
redelivering a message is harmless (counted as a duplicate). A reading's time is the device's
own when its clock is right, else one the gateway works out (``gateway/reading_time.py``); those
are made unique per channel and their redeliveries recognised by receipt
(``gateway/receipts.py``), so every reading is kept exactly once. The rows that carry state
(devices, channel states, watches) are read as plain Core rows and written with one executemany
per table, only where they changed: ORM objects per row cost more than the database did
(docs/benchmarks.md). Nothing here commits.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, ClassVar, cast

from sqlalchemy import func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from anomaly.household_state import activity_label, is_human_edge, load_routine
from anomaly.watch import Activity, record_activities
from core.bulk import (
    db_datetime,
    db_datetime_or_none,
    execute_many,
    fetch_all,
    from_db_bool,
    from_db_datetime,
    insert_ignore,
    select_in_sql,
    table_of,
    update_sql,
)
from core.enums import DeviceStatus, DeviceVendor, EdgeKind
from core.models import (
    ActivityEdge,
    Device,
    Household,
    Reading,
    RejectedMessage,
    RoutineModel,
)
from core.settings import Settings
from gateway.adapters import Route, decode_route, device_key, route_device, route_of, topic_device
from gateway.connectivity import learn_interval
from gateway.data_gaps import add_gaps, find_gaps, resumed_households
from gateway.edges import DeviceRule, Edge, HouseObservations, PowerReading, detect_edges
from gateway.flood import pending_refused_reason, rate_limited_reason
from gateway.house import rearm_for_plugs, update_house
from gateway.observation import DecodeError, Observation
from gateway.reading_time import TIE_BREAK, ClockSample, DeviceClock, clock_is_wrong, clock_offsets, corrected
from gateway.receipts import digest as receipt_digest
from gateway.receipts import known as known_receipts
from gateway.receipts import record as record_receipts

log = logging.getLogger(__name__)

# An estimated reading time that collides with a stored one moves 1 µs later, this many times at
# most, then past everything stored in the second after it.
COLLISION_STEPS = 32

EXCERPT_BYTES = 500
TOPIC_CHARS = 500
REASON_CHARS = 400


@dataclass(slots=True)  # one per message: not frozen, which costs more to build
class InboundMessage:
    topic: str
    payload: bytes
    received_at: datetime  # aware UTC, when the gateway got it (messages of one socket read share it)
    packet_id: int = 0  # MQTT packet id (QoS 1); 0 when there is none
    redelivered: bool = False  # the broker's DUP flag: it may have sent us this message before
    arrival: int = 0  # position within its socket read: a reading without a device time is at
    # received_at + arrival µs (the gateway's receive clock keeps those instants unique)


@dataclass
class BatchResult:
    stored: int = 0  # new reading rows
    duplicates: int = 0  # readings already stored (redelivery)
    rejected: int = 0  # messages kept in rejected_message
    edges: int = 0  # activity edges written
    clock_suspect: int = 0  # readings of a wrong device clock, placed by its learned offset
    pending_devices_created: int = 0
    ignored: int = 0  # well-formed messages about no single device (Z2M bridge topics, Shelly announce)
    pending_refused: int = 0  # messages of unknown devices past ANBU_PENDING_DEVICES_MAX (rejected)
    rate_limited: int = 0  # messages of devices over their message rate (gateway/flood.py): not stored

    def add(self, other: BatchResult) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass(slots=True)
class _Decoded:
    index: int
    message: InboundMessage
    key: tuple[DeviceVendor, str]
    observations: list[Observation]


@dataclass(slots=True)  # one per reading: slots make it cheaper to build and read
class _Row:
    """One reading row before insertion, with what edge detection needs."""

    index: int  # arrival order, the tie-break for equal timestamps
    device_id: int
    channel: str
    ts: datetime
    power_w: float | None
    energy_wh: float | None
    received_at: datetime
    clock_suspect: bool
    estimated: (
        bool  # ts made up by the gateway (arrival, or a wrong clock corrected): moved, not dropped, on a tie
    )

    def params(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "channel": self.channel,
            "ts": self.ts,
            "received_at": self.received_at,
            "power_w": self.power_w,
            "energy_wh": self.energy_wh,
            "clock_suspect": self.clock_suspect,
        }


def ingest_batch(
    session: Session,
    messages: Sequence[InboundMessage],
    *,
    now: datetime,
    settings: Settings,
    over_rate: Collection[int] = (),
) -> BatchResult:
    """Store one batch in the caller's transaction (never commits). See the module docstring.

    *over_rate*: indices of messages whose device is over its message rate (the gateway's
    ``DeviceRateLimiter`` decides, once per batch): none is stored; per device, the first is kept
    as rejected with the reason and the count.

    Order of work: decode (rejecting what cannot be used), create unknown devices as pending,
    insert readings (duplicates skipped), update device connectivity, derive activity edges in
    time order, and move the watches of households with a new ON edge.
    """
    result = BatchResult()
    # A batch holds many messages per device: route each distinct topic once (and the adapters
    # remember routes across batches).
    routes: dict[str, tuple[Route | str, tuple[DeviceVendor, str] | None]] = {}
    for m in messages:
        if m.topic not in routes:
            found = route_of(m.topic, settings)
            routes[m.topic] = (found, route_device(found))
    keys = {key for _found, key in routes.values() if key is not None}
    devices = _load_devices(session, keys)
    households = _load_households(session, (d.household_id for d in devices.values()))

    decoded: list[_Decoded] = []
    rejections: list[tuple[InboundMessage, str]] = []
    if over_rate:
        rejections, result.rate_limited = _rate_limited(messages, over_rate, routes, settings)
    bridge_offline_at: int | None = None
    for index, message in enumerate(messages):
        if index in over_rate:
            continue
        size = len(message.payload)
        if size > settings.mqtt_max_payload_bytes:
            rejections.append(
                (message, f"payload too large ({size} bytes, limit {settings.mqtt_max_payload_bytes})")
            )
            continue
        route, key = routes[message.topic]
        if isinstance(route, str):
            rejections.append((message, route))
            continue
        tz = _device_timezone(devices.get(key) if key else None, households, settings)
        try:
            observations = decode_route(route, message.payload, settings=settings, default_tz=tz)
        except DecodeError as exc:
            rejections.append((message, exc.reason))
            continue
        if key is None:
            result.ignored += 1
            for obs in observations:
                if obs.online is not None:  # the bridge's own state: the last one in the batch counts
                    bridge_offline_at = None if obs.online else index
            continue
        decoded.append(_Decoded(index, message, key, observations))

    result.pending_devices_created = _create_pending_devices(
        session, {d.key for d in decoded}, devices, now, settings.pending_devices_max
    )
    if any(d.key not in devices for d in decoded):  # past the pending cap: no device, no reading
        refused = pending_refused_reason(settings.pending_devices_max)
        rejections += [(d.message, refused) for d in decoded if d.key not in devices]
        result.pending_refused = sum(d.key not in devices for d in decoded)
        decoded = [d for d in decoded if d.key in devices]
    _store_rejections(session, rejections, devices, settings)
    result.rejected = len(rejections)

    states = {}
    for key in {d.key for d in decoded}:
        device = devices[key]
        states[device.id] = _DeviceState.of(device)
    rows = _reading_rows(session, decoded, devices, states, result, now, settings)
    new_rows = _insert_readings(session, rows)
    result.stored = len(new_rows)
    result.duplicates += len(rows) - len(new_rows)

    by_id = {d.id: d for d in devices.values() if d.id is not None}
    # Before the devices' last_reading_at moves: did a household's readings resume after a gap?
    gaps = find_gaps(
        session,
        resumed_households(
            (d.household_id, r.ts, d.last_reading_at)
            for r in new_rows
            if (d := by_id[r.device_id]).household_id is not None and d.status is DeviceStatus.ASSIGNED
        ),
    )
    _update_devices(session, decoded, rows, devices, states, settings)
    if bridge_offline_at is not None:
        heard_after = {
            devices[d.key].id
            for d in decoded
            if d.index > bridge_offline_at and d.key[0] is DeviceVendor.ZIGBEE2MQTT
        }
        _mark_bridge_devices_offline(session, except_ids=heard_after)
    house: HouseObservations = {}
    switched: set[int] = set()
    edges = _detect_edges(session, new_rows, by_id, house, switched)
    result.edges = _insert_edges(session, edges)
    add_gaps(session, gaps, settings)  # first: a sign of life in this batch starts afresh anyway
    # Before the watches move: their deadlines follow the kind of quiet the house is in now, and
    # which plugs are on.
    update_house(session, house, settings)
    rearm_for_plugs(session, switched, settings)
    session.flush()  # before the raw watch UPDATEs, which the ORM would not see
    _update_watches(session, edges, by_id, households, now, settings)
    session.flush()
    return result


# --- devices ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _DeviceRow:
    """The device columns ingest reads, as plain values (Core rows: no ORM object per device)."""

    id: int
    vendor: DeviceVendor
    external_id: str
    household_id: int | None
    status: DeviceStatus
    appliance: str
    on_threshold_w: float
    last_seen_at: datetime | None
    report_interval_s: float | None
    online: bool | None
    last_reading_at: datetime | None
    last_power_w: float | None
    clock_offset_s: float | None
    clock_device_ts: datetime | None
    clock_lag_s: float | None


_DEVICE_COLUMNS = tuple(f.name for f in fields(_DeviceRow))


@dataclass(frozen=True, slots=True)
class _HouseholdRow:
    id: int
    timezone: str
    quiet_hours: float | None


def _load_devices(
    session: Session, keys: set[tuple[DeviceVendor, str]]
) -> dict[tuple[DeviceVendor, str], _DeviceRow]:
    if not keys:
        return {}
    # Raw DB-API rows converted here: SQLAlchemy's result processing (enums, datetimes parsed from
    # SQLite text) cost ~10 µs a device, and a batch of real traffic has a device per message.
    external_ids = sorted({external_id for _vendor, external_id in keys})
    dialect = session.get_bind().dialect.name
    sql = select_in_sql(table_of(Device), _DEVICE_COLUMNS, "external_id", len(external_ids), dialect)
    devices = {}
    for row in fetch_all(session.connection(), sql, external_ids):
        device = _device_row(row)
        key = (device.vendor, device.external_id)
        if key in keys:
            devices[key] = device
    return devices


_VENDORS = {vendor.value: vendor for vendor in DeviceVendor}
_STATUSES = {status.value: status for status in DeviceStatus}


def _device_row(row: tuple[Any, ...]) -> _DeviceRow:
    """A raw ``_DEVICE_COLUMNS`` row as UTCDateTime, the enum columns and Boolean would return it."""
    (id_, vendor, external_id, household_id, status, appliance, threshold, last_seen_at, interval) = row[:9]
    online, last_reading_at, last_power_w, clock_offset_s, clock_device_ts, clock_lag_s = row[9:]
    return _DeviceRow(
        id_,
        _VENDORS[vendor],
        external_id,
        household_id,
        _STATUSES[status],
        appliance,
        threshold,
        from_db_datetime(last_seen_at),
        interval,
        from_db_bool(online),
        from_db_datetime(last_reading_at),
        last_power_w,
        clock_offset_s,
        from_db_datetime(clock_device_ts),
        clock_lag_s,
    )


def _load_households(session: Session, ids: Iterable[int | None]) -> dict[int, _HouseholdRow]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    dialect = session.get_bind().dialect.name
    sql = select_in_sql(table_of(Household), ("id", "timezone", "quiet_hours"), "id", len(wanted), dialect)
    return {row[0]: _HouseholdRow(*row) for row in fetch_all(session.connection(), sql, wanted)}


def _device_timezone(
    device: _DeviceRow | None, households: dict[int, _HouseholdRow], settings: Settings
) -> str:
    """Devices that send local time without an offset are read in their household's zone."""
    if device is not None and device.household_id in households:
        return households[device.household_id].timezone
    return settings.default_timezone


def _rate_limited(
    messages: Sequence[InboundMessage],
    over_rate: Collection[int],
    routes: Mapping[str, tuple[Route | str, tuple[DeviceVendor, str] | None]],
    settings: Settings,
) -> tuple[list[tuple[InboundMessage, str]], int]:
    """The first over-rate message of each device as a rejection (with its device's count), and how
    many were over: keeping every one would hand a chatty device the writes the limit spares."""
    first: dict[tuple[DeviceVendor, str] | None, int] = {}
    count: Counter[tuple[DeviceVendor, str] | None] = Counter()
    for index in sorted(over_rate):
        key = routes[messages[index].topic][1]
        first.setdefault(key, index)
        count[key] += 1
    reason = settings.device_rate_per_min, settings.device_rate_burst
    kept = [(messages[index], rate_limited_reason(count[key], *reason)) for key, index in first.items()]
    return kept, len(over_rate)


def _create_pending_devices(
    session: Session,
    keys: set[tuple[DeviceVendor, str]],
    devices: dict[tuple[DeviceVendor, str], _DeviceRow],
    now: datetime,
    limit: int,
) -> int:
    """Unknown devices are created PENDING (no household) so their readings are kept, while fewer
    than *limit* await assignment (``ANBU_PENDING_DEVICES_MAX``); the rest are not created."""
    missing = sorted(keys - devices.keys())
    if not missing:
        return 0
    waiting = session.exec(
        select(func.count()).select_from(Device).where(Device.status == DeviceStatus.PENDING)
    ).one()
    missing = missing[: max(0, limit - int(waiting))]
    if not missing:
        return 0
    rows = [
        {
            "vendor": vendor,
            "external_id": external_id,
            "household_id": None,
            "status": DeviceStatus.PENDING,
            "appliance": "",
            "on_threshold_w": Device.model_fields["on_threshold_w"].default,
            "created_at": now,
        }
        for vendor, external_id in missing
    ]
    stmt = _insert(session, Device).on_conflict_do_nothing(index_elements=["vendor", "external_id"])
    created = session.exec(stmt.returning(table_of(Device).c.id), params=rows).all()
    devices.update(_load_devices(session, set(missing)))
    for vendor, external_id in missing:
        log.info("new pending device %s", device_key(vendor, external_id))
    return len(created)


def _update_devices(
    session: Session,
    decoded: list[_Decoded],
    rows: list[_Row],
    devices: dict[tuple[DeviceVendor, str], _DeviceRow],
    states: dict[int, _DeviceState],
    settings: Settings,
) -> None:
    """Connectivity (last_seen_at, online, usual interval) and the latest reading, keeping the later value.

    ``states`` already hold the devices' clocks as this batch left them (:func:`_reading_rows`).

    Any message from the plug itself proves it is connected (online again after silence); an
    ``Offline`` will is published by the broker, not the plug, so it moves neither ``last_seen_at``
    nor the learned interval. In arrival order, the last availability message wins.

    Worked out on plain values and written with one executemany UPDATE: dirtying ORM objects and
    flushing them cost more per batch than everything else a device needs (docs/benchmarks.md).
    The loaded device rows are left as they were read.
    """
    for item in decoded:
        state = states[devices[item.key].id]
        received = item.message.received_at
        if any(obs.online is not False for obs in item.observations):
            if state.last_seen_at is not None and received > state.last_seen_at:
                gap = (received - state.last_seen_at).total_seconds()
                state.report_interval_s = learn_interval(state.report_interval_s, gap, settings)
            state.last_seen_at = _later(state.last_seen_at, received)
            state.online = True
        for obs in item.observations:
            if obs.online is not None:
                state.online = obs.online

    latest: dict[int, tuple[datetime, float | None]] = {}
    for row in rows:
        ts, power = latest.get(row.device_id, (row.ts, None))
        if row.ts > ts:
            ts, power = row.ts, None
        if row.ts == ts and row.power_w is not None:
            power = (power or 0.0) + row.power_w  # several channels in one message: the device total
        latest[row.device_id] = (ts, power)
    for device_id, (ts, power) in latest.items():
        state = states[device_id]
        if state.last_reading_at is None or ts >= state.last_reading_at:
            state.last_reading_at = ts
            if power is not None:
                state.last_power_w = power

    dialect = session.get_bind().dialect.name
    changed = [
        (*state.values(dialect), device_id)
        for device_id, state in states.items()
        if state != _DeviceState.of(devices[(state.vendor, state.external_id)])
    ]
    # Plain tuples through the DB-API: SQLAlchemy's per-row parameter processing cost ~10 µs a device.
    execute_many(
        session.connection(), update_sql(table_of(Device), _DeviceState.COLUMNS, "id", dialect), changed
    )


@dataclass
class _DeviceState:
    """The columns a batch moves on a device, as plain values."""

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "last_seen_at",
        "report_interval_s",
        "online",
        "last_reading_at",
        "last_power_w",
        "clock_offset_s",
        "clock_device_ts",
        "clock_lag_s",
    )
    vendor: DeviceVendor
    external_id: str
    last_seen_at: datetime | None
    report_interval_s: float | None
    online: bool | None
    last_reading_at: datetime | None
    last_power_w: float | None
    clock: DeviceClock

    @classmethod
    def of(cls, device: _DeviceRow) -> _DeviceState:
        return cls(
            device.vendor,
            device.external_id,
            device.last_seen_at,
            device.report_interval_s,
            device.online,
            device.last_reading_at,
            device.last_power_w,
            DeviceClock(device.clock_offset_s, device.clock_device_ts, device.clock_lag_s),
        )

    def values(self, dialect: str) -> tuple[Any, ...]:
        """The COLUMNS' values as the driver binds them."""
        return (
            db_datetime_or_none(self.last_seen_at, dialect),
            self.report_interval_s,
            self.online,
            db_datetime_or_none(self.last_reading_at, dialect),
            self.last_power_w,
            self.clock.offset_s,
            db_datetime_or_none(self.clock.device_ts, dialect),
            self.clock.lag_s,
        )


def _mark_bridge_devices_offline(session: Session, *, except_ids: set[int]) -> None:
    """Zigbee2MQTT's bridge went offline: none of its devices can reach us until it is back.

    Devices heard after the bridge message in this batch (``except_ids``) stay as they are.
    Bridge ``online`` changes nothing: each device's retained availability follows it.
    """
    session.flush()
    session.exec(
        update(Device)
        .where(col(Device.vendor) == DeviceVendor.ZIGBEE2MQTT, col(Device.id).not_in(except_ids))
        .values(online=False)
        .execution_options(synchronize_session="fetch")
    )
    log.warning("Zigbee2MQTT bridge is offline: its devices are marked offline")


def _later(old: datetime | None, new: datetime) -> datetime:
    return new if old is None or new > old else old


# --- readings --------------------------------------------------------------------------------


def _reading_rows(
    session: Session,
    decoded: list[_Decoded],
    devices: dict[tuple[DeviceVendor, str], _DeviceRow],
    states: dict[int, _DeviceState],
    result: BatchResult,
    now: datetime,
    settings: Settings,
) -> list[_Row]:
    """Each reading's row at its time (``gateway/reading_time.py``), without known redeliveries.

    Device clocks are learned first, per device over the whole batch (the freshest message of a
    backlog dates the rest), and left in ``states``. Messages whose readings get a time the
    gateway worked out leave a receipt, and when the broker flags one as possibly sent before,
    a matching receipt makes its readings duplicates (``gateway/receipts.py``).
    """
    # 1. Each message's device time, as clock samples per device.
    times: list[datetime | None] = []
    samples: dict[int, list[ClockSample]] = {}
    for item in decoded:
        ts = None
        for obs in item.observations:
            if obs.ts is not None:
                ts = obs.ts
                break
        times.append(ts)
        if ts is not None:
            message = item.message
            sample = (ts, (message.received_at - ts).total_seconds(), not message.redelivered)
            device_samples = samples.get(devices[item.key].id)
            if device_samples is None:
                samples[devices[item.key].id] = [sample]
            else:
                device_samples.append(sample)
    # 2. Each device's clock over the batch: the offset of each of its messages, in order.
    offsets: dict[int, Iterator[float]] = {}
    for device_id, device_samples in samples.items():
        state = states[device_id]
        was_wrong = clock_is_wrong(state.clock.offset_s)
        placed, state.clock = clock_offsets(state.clock, device_samples)
        offsets[device_id] = iter(placed)
        if clock_is_wrong(state.clock.offset_s) != was_wrong:
            _log_clock(state)
    # 3. Where each message's readings go; which of those at a made-up time were seen before.
    # (item, device, correction: the offset of a wrong clock or None, digest: for a receipt or None)
    plan: list[tuple[_Decoded, int, float | None, int | None]] = []
    wanted: dict[int, int] = {}
    for item, ts in zip(decoded, times, strict=True):
        device_id = devices[item.key].id
        correction = None
        if ts is not None:
            offset = next(offsets[device_id])
            if clock_is_wrong(offset):
                correction = offset
        for obs in item.observations:
            if obs.power_w is not None or obs.energy_wh is not None:
                break
        else:
            continue  # no reading: a heartbeat or availability, connectivity only
        value = None
        message = item.message
        if message.packet_id and (ts is None or correction is not None):
            value = receipt_digest(message.topic, message.payload)
            if message.redelivered:
                wanted[message.packet_id] = value
        plan.append((item, device_id, correction, value))
    seen_before = known_receipts(session, settings.mqtt_client_id, wanted, now=now, settings=settings)
    # 4. The rows: device time, a wrong clock's corrected time, or arrival; made-up times unique.
    rows: list[_Row] = []
    receipts: dict[int, tuple[int, int, datetime]] = {}
    last_estimated: dict[tuple[int, str], datetime] = {}
    for item, device_id, correction, value in plan:
        message = item.message
        received = message.received_at
        if value is not None:
            pid = message.packet_id
            if message.redelivered and (pid in seen_before or receipts.get(pid, (0, None))[1] == value):
                result.duplicates += sum(obs.is_reading for obs in item.observations)
                continue  # the same message again: stored already
            receipts[pid] = (pid, value, received)
        for obs in item.observations:
            if not obs.is_reading:
                continue
            if obs.ts is None:
                ts = received + timedelta(microseconds=message.arrival) if message.arrival else received
            elif correction is not None:
                ts = corrected(obs.ts, correction, received)
            else:
                rows.append(
                    _Row(
                        item.index,
                        device_id,
                        obs.channel,
                        obs.ts,
                        obs.power_w,
                        obs.energy_wh,
                        received,
                        False,
                        False,
                    )
                )
                continue
            key = (device_id, obs.channel)
            before = last_estimated.get(key)
            if before is not None and ts <= before:
                ts = before + TIE_BREAK  # two made-up times of one channel never tie
            last_estimated[key] = ts
            wrong = correction is not None
            result.clock_suspect += wrong
            rows.append(
                _Row(
                    item.index, device_id, obs.channel, ts, obs.power_w, obs.energy_wh, received, wrong, True
                )
            )
    record_receipts(session, settings.mqtt_client_id, list(receipts.values()))
    return rows


_READING_COLUMNS = ("device_id", "channel", "ts", "received_at", "power_w", "energy_wh", "clock_suspect")
_EDGE_COLUMNS = ("household_id", "device_id", "channel", "ts", "kind", "power_w")


def _insert_readings(session: Session, rows: list[_Row]) -> list[_Row]:
    """Insert in bulk; return the rows that were new (redelivered ones hit the unique key).

    Fast path: a plain executemany inside a SAVEPOINT; when the database reports every row
    inserted, all are new. Only when some were not (a redelivery, or a key twice in one batch) is
    the insert redone with RETURNING to learn which: RETURNING makes every row a result row to
    build and compare, which cost more than the insert itself.
    """
    if not rows:
        return []
    conflict = ["device_id", "channel", "ts"]
    table = table_of(Reading)
    dialect = session.get_bind().dialect.name
    # Messages from one socket read share their received_at (gateway/service.py): convert each once.
    received: dict[datetime, Any] = {}
    tuples = []
    for r in rows:
        received_at = received.get(r.received_at)
        if received_at is None:
            received_at = received[r.received_at] = db_datetime(r.received_at, dialect)
        tuples.append(
            (
                r.device_id,
                r.channel,
                db_datetime(r.ts, dialect),
                received_at,
                r.power_w,
                r.energy_wh,
                r.clock_suspect,
            )
        )
    savepoint = session.begin_nested()
    if insert_ignore(session.connection(), table, _READING_COLUMNS, conflict, tuples) == len(rows):
        savepoint.commit()
        return rows
    savepoint.rollback()
    stmt = (
        _insert(session, Reading)
        .on_conflict_do_nothing(index_elements=conflict)
        .returning(table.c.device_id, table.c.channel, table.c.ts)
    )
    new_rows: list[_Row] = []
    pending = rows
    for step in range(COLLISION_STEPS + 2):
        inserted = {tuple(r) for r in session.exec(stmt, params=[r.params() for r in pending])}
        collided = []
        for row in pending:
            key = (row.device_id, row.channel, row.ts)
            if key in inserted:
                inserted.discard(key)  # the same key twice in one batch: only the first is new
                new_rows.append(row)
            elif row.estimated:
                collided.append(row)  # a time the gateway made up met a stored one: not a duplicate
        if not collided:
            break
        if step < COLLISION_STEPS:
            for row in collided:
                row.ts += TIE_BREAK  # keeps the channel's order with its neighbours
        else:
            _move_past_stored(session, collided)
        pending = collided
    else:
        raise RuntimeError(f"{len(pending)} estimated reading times kept colliding")
    new_rows.sort(key=_arrival)
    return new_rows


def _log_clock(state: _DeviceState) -> None:
    name = device_key(state.vendor, state.external_id)
    offset = state.clock.offset_s
    if clock_is_wrong(offset):
        assert offset is not None
        log.warning(
            "device %s: its clock is %s %s: readings are placed by that offset until it is set right",
            name,
            timedelta(seconds=round(abs(offset))),
            "behind" if offset > 0 else "ahead",
        )
    else:
        log.info("device %s: its clock is right again", name)


def _arrival(row: _Row) -> int:
    return row.index


def _move_past_stored(session: Session, rows: list[_Row]) -> None:
    """Place colliding estimated rows after everything their channel has stored within a second."""
    for row in rows:
        later = session.exec(
            select(func.max(Reading.ts)).where(
                Reading.device_id == row.device_id,
                Reading.channel == row.channel,
                col(Reading.ts) >= row.ts,
                col(Reading.ts) < row.ts + timedelta(seconds=1),
            )
        ).one()
        if later is not None:
            row.ts = max(row.ts, later + TIE_BREAK)


# --- activity edges (gateway/edges.py) -------------------------------------------------------


def _detect_edges(
    session: Session,
    rows: list[_Row],
    devices: dict[int, _DeviceRow],
    house: HouseObservations,
    switched: set[int],
) -> list[Edge]:
    powered = [
        PowerReading(r.index, r.device_id, r.channel, r.ts, r.power_w) for r in rows if r.power_w is not None
    ]
    if not powered:
        return []
    rules = {}
    for device_id in {r.device_id for r in powered}:  # per device once: attribute access is not free
        d = devices[device_id]
        assigned = d.household_id if d.status == DeviceStatus.ASSIGNED else None
        rules[device_id] = DeviceRule(d.appliance, d.on_threshold_w, assigned)
    return detect_edges(session, powered, rules, house, switched)


def _insert_edges(session: Session, edges: list[Edge]) -> int:
    if not edges:
        return 0
    table = table_of(ActivityEdge)
    dialect = session.get_bind().dialect.name
    conflict = ["device_id", "channel", "ts", "kind"]
    tuples = [
        (e.household_id, e.device_id, e.channel, db_datetime(e.ts, dialect), e.kind.value, e.power_w)
        for e in edges
    ]
    inserted = insert_ignore(session.connection(), table, _EDGE_COLUMNS, conflict, tuples)
    if inserted < 0:  # a driver that cannot count: the edges are stored, the metric is an upper bound
        return len(edges)
    return inserted


# --- watches (contract "Gateway -> watch" in docs/architecture.md) ---------------------------


def _update_watches(
    session: Session,
    edges: list[Edge],
    devices: dict[int, _DeviceRow],
    households: dict[int, _HouseholdRow],
    now: datetime,
    settings: Settings,
) -> None:
    on_households = sorted({e.household_id for e in edges if e.kind is EdgeKind.ON})
    if not on_households:
        return
    # One SELECT puts every routine row in the identity map, so load_routine's get() needs no query
    # (and households without a routine need no get() at all).
    fitted = session.exec(
        select(RoutineModel.household_id).where(col(RoutineModel.household_id).in_(on_households))
    ).all()
    if fitted:
        session.exec(select(RoutineModel).where(col(RoutineModel.household_id).in_(fitted))).all()
    # Automatic loads the household's routine model learned (fridge cycles, timers) are not signs of life.
    routines = {h: load_routine(session, h) for h in fitted}
    latest: dict[int, Edge] = {}
    for edge in edges:
        # activity_label reads only ``appliance``, which the plain device row has too.
        label = activity_label(cast(Device, devices[edge.device_id]), edge.channel)
        if (
            edge.kind is EdgeKind.ON
            and is_human_edge(routines.get(edge.household_id), label, edge.power_w)
            and (edge.household_id not in latest or edge.ts > latest[edge.household_id].ts)
        ):
            latest[edge.household_id] = edge
    activities = []
    for household_id, edge in sorted(latest.items()):
        household = households.get(household_id) or _load_households(session, [household_id]).get(
            household_id
        )
        if household is None:
            continue  # the FK makes this impossible; never fail a batch over it
        activities.append(
            Activity(
                household.id,
                household.timezone,
                household.quiet_hours,
                edge.ts,
                edge.device_id,
                devices[edge.device_id].appliance,
                routines.get(household_id),
            )
        )
    record_activities(session, activities, now, settings)


# --- rejected messages -----------------------------------------------------------------------


def _store_rejections(
    session: Session,
    rejections: list[tuple[InboundMessage, str]],
    devices: dict[tuple[DeviceVendor, str], _DeviceRow],
    settings: Settings,
) -> None:
    if not rejections:
        return
    rows = [rejection_row(m, reason, devices, settings) for m, reason in rejections]
    session.exec(_insert(session, RejectedMessage), params=rows)
    for row in rows:
        log.info("rejected message from %s: %s", row["device_key"] or "unknown topic", row["reason"])


def rejection_row(
    message: InboundMessage,
    reason: str,
    devices: Mapping[tuple[DeviceVendor, str], _DeviceRow],
    settings: Settings,
) -> dict[str, Any]:
    """Column values of a RejectedMessage for *message* (truncated; device named when the topic names one)."""
    key = topic_device(message.topic, settings)
    device = devices.get(key) if key else None
    return {
        "received_at": message.received_at,
        "topic": message.topic[:TOPIC_CHARS],
        "payload_excerpt": message.payload[:EXCERPT_BYTES].decode("utf-8", errors="backslashreplace"),
        "payload_size": len(message.payload),
        "reason": reason[:REASON_CHARS],
        "device_key": device_key(*key) if key else None,
        "device_id": device.id if device else None,
    }


def reject_unprocessable(
    session: Session, message: InboundMessage, reason: str, *, settings: Settings
) -> None:
    """Keep a message that made ingest fail (a bug, not bad input) so it cannot stall the gateway."""
    key = topic_device(message.topic, settings)
    devices = _load_devices(session, {key}) if key else {}
    session.exec(
        _insert(session, RejectedMessage), params=[rejection_row(message, reason, devices, settings)]
    )


# --- dialect helpers -------------------------------------------------------------------------


def _insert(session: Session, model: type[Any]) -> Any:
    """INSERT with ON CONFLICT support for the session's dialect (SQLite and PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table_of(model))
    if dialect == "sqlite":
        return sqlite.insert(table_of(model))
    raise NotImplementedError(f"ingest supports sqlite and postgresql, not {dialect}")
