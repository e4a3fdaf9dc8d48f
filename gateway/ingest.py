"""Batched, idempotent ingest: decoded MQTT messages become rows in the caller's transaction.

One call handles one batch (up to ~1000 messages) with a handful of statements: readings and
edges are inserted in bulk with ``ON CONFLICT DO NOTHING`` on their unique keys, so a broker
redelivering a message is harmless (counted as a duplicate). Only the few rows that carry
state (devices, channel states, watches) are touched one by one. Nothing here commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, case, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from anomaly.deadlines import compute_deadline, latest_sign_of_life
from anomaly.routine import Routine
from anomaly.training import activity_label, is_human_edge, load_routine
from core.enums import DeviceStatus, DeviceVendor, EdgeKind, WatchStatus
from core.models import ActivityEdge, ChannelState, Device, Household, Reading, RejectedMessage, Watch
from core.settings import Settings
from gateway.adapters import decode, device_key, topic_device
from gateway.connectivity import learn_interval
from gateway.observation import DecodeError, Observation

log = logging.getLogger(__name__)

# Device clock sanity: outside these bounds the device's own timestamp is not believed.
MAX_CLOCK_AHEAD = timedelta(minutes=5)
MAX_CLOCK_BEHIND = timedelta(days=2)
EARLIEST_PLAUSIBLE = datetime(2020, 1, 1, tzinfo=UTC)

EXCERPT_BYTES = 500
TOPIC_CHARS = 500
REASON_CHARS = 400


@dataclass(frozen=True)
class InboundMessage:
    topic: str
    payload: bytes
    received_at: datetime  # aware UTC, when the gateway got it


@dataclass
class BatchResult:
    stored: int = 0  # new reading rows
    duplicates: int = 0  # readings already stored (redelivery)
    rejected: int = 0  # messages kept in rejected_message
    edges: int = 0  # activity edges written
    clock_suspect: int = 0  # readings stamped with received_at because the device clock was implausible
    pending_devices_created: int = 0
    ignored: int = 0  # well-formed messages about no single device (Z2M bridge topics, Shelly announce)

    def add(self, other: BatchResult) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def sanitise_ts(device_ts: datetime | None, received_at: datetime) -> tuple[datetime, bool]:
    """The timestamp to store and whether the device clock was suspect (pure)."""
    if device_ts is None:
        return received_at, False
    if (
        device_ts > received_at + MAX_CLOCK_AHEAD
        or device_ts < EARLIEST_PLAUSIBLE
        or device_ts < received_at - MAX_CLOCK_BEHIND
    ):
        return received_at, True
    return device_ts, False


def is_on(power_w: float, threshold_w: float) -> bool:
    return power_w > threshold_w


@dataclass
class _Decoded:
    index: int
    message: InboundMessage
    key: tuple[DeviceVendor, str]
    observations: list[Observation]


@dataclass
class _Row:
    """One reading row before insertion, with what edge detection needs."""

    index: int  # arrival order, the tie-break for equal timestamps
    device_id: int
    channel: str
    ts: datetime
    power_w: float | None
    values: dict[str, Any] = field(repr=False)


def ingest_batch(
    session: Session, messages: Sequence[InboundMessage], *, now: datetime, settings: Settings
) -> BatchResult:
    """Store one batch in the caller's transaction (never commits). See the module docstring.

    Order of work: decode (rejecting what cannot be used), create unknown devices as pending,
    insert readings (duplicates skipped), update device connectivity, derive activity edges in
    time order, and move the watches of households with a new ON edge.
    """
    result = BatchResult()
    keys = {key for m in messages if (key := topic_device(m.topic, settings)) is not None}
    devices = _load_devices(session, keys)
    households = _load_households(session, devices.values())

    decoded: list[_Decoded] = []
    rejections: list[tuple[InboundMessage, str]] = []
    bridge_offline_at: int | None = None
    for index, message in enumerate(messages):
        size = len(message.payload)
        if size > settings.mqtt_max_payload_bytes:
            rejections.append(
                (message, f"payload too large ({size} bytes, limit {settings.mqtt_max_payload_bytes})")
            )
            continue
        key = topic_device(message.topic, settings)
        tz = _device_timezone(devices.get(key) if key else None, households, settings)
        try:
            observations = decode(message.topic, message.payload, settings=settings, default_tz=tz)
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

    result.pending_devices_created = _create_pending_devices(session, {d.key for d in decoded}, devices, now)
    _store_rejections(session, rejections, devices, settings)
    result.rejected = len(rejections)

    rows = _reading_rows(decoded, devices, result)
    new_rows = _insert_readings(session, rows)
    result.stored = len(new_rows)
    result.duplicates = len(rows) - len(new_rows)

    by_id = {d.id: d for d in devices.values() if d.id is not None}
    _update_devices(decoded, rows, devices, settings)
    if bridge_offline_at is not None:
        heard_after = {
            devices[d.key].id
            for d in decoded
            if d.index > bridge_offline_at and d.key[0] is DeviceVendor.ZIGBEE2MQTT
        }
        _mark_bridge_devices_offline(session, except_ids=heard_after)
    edges = _detect_edges(session, new_rows, by_id)
    result.edges = _insert_edges(session, edges)
    _update_watches(session, edges, by_id, households, now, settings)
    session.flush()
    return result


# --- devices ---------------------------------------------------------------------------------


def _load_devices(
    session: Session, keys: set[tuple[DeviceVendor, str]]
) -> dict[tuple[DeviceVendor, str], Device]:
    if not keys:
        return {}
    external_ids = sorted({external_id for _vendor, external_id in keys})
    found = session.exec(select(Device).where(col(Device.external_id).in_(external_ids)))
    return {(d.vendor, d.external_id): d for d in found if (d.vendor, d.external_id) in keys}


def _load_households(session: Session, devices: Iterable[Device]) -> dict[int, Household]:
    ids = sorted({d.household_id for d in devices if d.household_id is not None})
    if not ids:
        return {}
    found = session.exec(select(Household).where(col(Household.id).in_(ids)))
    return {h.id: h for h in found if h.id is not None}


def _device_timezone(device: Device | None, households: dict[int, Household], settings: Settings) -> str:
    """Devices that send local time without an offset are read in their household's zone."""
    if device is not None and device.household_id in households:
        return households[device.household_id].timezone
    return settings.default_timezone


def _create_pending_devices(
    session: Session,
    keys: set[tuple[DeviceVendor, str]],
    devices: dict[tuple[DeviceVendor, str], Device],
    now: datetime,
) -> int:
    """Unknown devices are created PENDING (no household) so their readings are kept."""
    missing = sorted(keys - devices.keys())
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
    created = session.exec(stmt.returning(_table(Device).c.id), params=rows).all()
    devices.update(_load_devices(session, set(missing)))
    for vendor, external_id in missing:
        log.info("new pending device %s", device_key(vendor, external_id))
    return len(created)


def _update_devices(
    decoded: list[_Decoded],
    rows: list[_Row],
    devices: dict[tuple[DeviceVendor, str], Device],
    settings: Settings,
) -> None:
    """Connectivity (last_seen_at, online, usual interval) and the latest reading, keeping the later value.

    Any message from the plug itself proves it is connected (online again after silence); an
    ``Offline`` will is published by the broker, not the plug, so it moves neither ``last_seen_at``
    nor the learned interval. In arrival order, the last availability message wins.
    """
    for item in decoded:
        device = devices[item.key]
        received = item.message.received_at
        if any(obs.online is not False for obs in item.observations):
            if device.last_seen_at is not None and received > device.last_seen_at:
                gap = (received - device.last_seen_at).total_seconds()
                device.report_interval_s = learn_interval(device.report_interval_s, gap, settings)
            device.last_seen_at = _later(device.last_seen_at, received)
            device.online = True
        for obs in item.observations:
            if obs.online is not None:
                device.online = obs.online

    latest: dict[int, tuple[datetime, float | None]] = {}
    for row in rows:
        ts, power = latest.get(row.device_id, (row.ts, None))
        if row.ts > ts:
            ts, power = row.ts, None
        if row.ts == ts and row.power_w is not None:
            power = (power or 0.0) + row.power_w  # several channels in one message: the device total
        latest[row.device_id] = (ts, power)
    by_id = {d.id: d for d in devices.values()}
    for device_id, (ts, power) in latest.items():
        device = by_id[device_id]
        if device.last_reading_at is None or ts >= device.last_reading_at:
            device.last_reading_at = ts
            if power is not None:
                device.last_power_w = power


def _mark_bridge_devices_offline(session: Session, *, except_ids: set[int | None]) -> None:
    """Zigbee2MQTT's bridge went offline: none of its devices can reach us until it is back.

    Devices heard after the bridge message in this batch (``except_ids``) stay as they are.
    Bridge ``online`` changes nothing: each device's retained availability follows it.
    """
    session.flush()
    session.exec(
        update(Device)
        .where(col(Device.vendor) == DeviceVendor.ZIGBEE2MQTT, col(Device.id).not_in(except_ids - {None}))
        .values(online=False)
        .execution_options(synchronize_session="fetch")
    )
    log.warning("Zigbee2MQTT bridge is offline: its devices are marked offline")


def _later(old: datetime | None, new: datetime) -> datetime:
    return new if old is None or new > old else old


# --- readings --------------------------------------------------------------------------------


def _reading_rows(
    decoded: list[_Decoded], devices: dict[tuple[DeviceVendor, str], Device], result: BatchResult
) -> list[_Row]:
    rows: list[_Row] = []
    for item in decoded:
        device_id = devices[item.key].id
        assert device_id is not None
        for obs in item.observations:
            if not obs.is_reading:
                continue  # heartbeat or availability: connectivity only
            ts, suspect = sanitise_ts(obs.ts, item.message.received_at)
            result.clock_suspect += suspect
            values = {
                "device_id": device_id,
                "channel": obs.channel,
                "ts": ts,
                "received_at": item.message.received_at,
                "power_w": obs.power_w,
                "energy_wh": obs.energy_wh,
                "clock_suspect": suspect,
            }
            rows.append(_Row(item.index, device_id, obs.channel, ts, obs.power_w, values))
    return rows


def _insert_readings(session: Session, rows: list[_Row]) -> list[_Row]:
    """Insert in bulk; return the rows that were new (redelivered ones hit the unique key)."""
    if not rows:
        return []
    table = _table(Reading)
    stmt = (
        _insert(session, Reading)
        .on_conflict_do_nothing(index_elements=["device_id", "channel", "ts"])
        .returning(table.c.device_id, table.c.channel, table.c.ts)
    )
    inserted = {tuple(r) for r in session.exec(stmt, params=[r.values for r in rows])}
    new_rows = []
    for row in rows:
        key = (row.device_id, row.channel, row.ts)
        if key in inserted:
            inserted.discard(key)  # the same key twice in one batch: only the first is new
            new_rows.append(row)
    return new_rows


# --- activity edges --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Edge:
    household_id: int
    device_id: int
    channel: str
    ts: datetime
    kind: EdgeKind
    power_w: float


def _detect_edges(session: Session, rows: list[_Row], devices: dict[int, Device]) -> list[_Edge]:
    """Walk new power readings in time order against each channel's last known on/off state."""
    powered = sorted((r for r in rows if r.power_w is not None), key=lambda r: (r.ts, r.index))
    if not powered:
        return []
    states = _load_channel_states(session, {r.device_id for r in powered})
    edges: list[_Edge] = []
    for row in powered:
        assert row.power_w is not None
        device = devices[row.device_id]
        state = states.get((row.device_id, row.channel))
        if state is None:
            # First reading of this channel: start from "off", so a plug first seen in use is activity.
            state = ChannelState(device_id=row.device_id, channel=row.channel, is_on=False, last_ts=row.ts)
            session.add(state)
            states[(row.device_id, row.channel)] = state
        elif row.ts <= state.last_ts:
            continue  # older than what we already know (late delivery): no edge from the past
        on = is_on(row.power_w, device.on_threshold_w)
        if on != state.is_on and device.status == DeviceStatus.ASSIGNED and device.household_id is not None:
            kind = EdgeKind.ON if on else EdgeKind.OFF
            edges.append(_Edge(device.household_id, row.device_id, row.channel, row.ts, kind, row.power_w))
        state.is_on = on
        state.last_ts = row.ts
    return edges


def _load_channel_states(session: Session, device_ids: set[int]) -> dict[tuple[int, str], ChannelState]:
    found = session.exec(select(ChannelState).where(col(ChannelState.device_id).in_(sorted(device_ids))))
    return {(s.device_id, s.channel): s for s in found}


def _insert_edges(session: Session, edges: list[_Edge]) -> int:
    if not edges:
        return 0
    table = _table(ActivityEdge)
    stmt = (
        _insert(session, ActivityEdge)
        .on_conflict_do_nothing(index_elements=["device_id", "channel", "ts", "kind"])
        .returning(table.c.id)
    )
    rows = [
        {
            "household_id": e.household_id,
            "device_id": e.device_id,
            "channel": e.channel,
            "ts": e.ts,
            "kind": e.kind,
            "power_w": e.power_w,
        }
        for e in edges
    ]
    return len(session.exec(stmt, params=rows).all())


# --- watches (contract "Gateway -> watch" in docs/architecture.md) ---------------------------


def _update_watches(
    session: Session,
    edges: list[_Edge],
    devices: dict[int, Device],
    households: dict[int, Household],
    now: datetime,
    settings: Settings,
) -> None:
    # Automatic loads the household's routine model learned (fridge cycles, timers) are not signs of life.
    routines = {
        h: load_routine(session, h) for h in sorted({e.household_id for e in edges if e.kind is EdgeKind.ON})
    }
    latest: dict[int, _Edge] = {}
    for edge in edges:
        label = activity_label(devices[edge.device_id], edge.channel)
        if (
            edge.kind is EdgeKind.ON
            and is_human_edge(routines.get(edge.household_id), label, edge.power_w)
            and (edge.household_id not in latest or edge.ts > latest[edge.household_id].ts)
        ):
            latest[edge.household_id] = edge
    for household_id, edge in sorted(latest.items()):
        household = households.get(household_id) or session.get(Household, household_id)
        if household is None:
            continue  # the FK makes this impossible; never fail a batch over it
        appliance = devices[edge.device_id].appliance
        _record_activity(session, household, edge, appliance, now, settings, routines.get(household_id))


def _record_activity(
    session: Session,
    household: Household,
    edge: _Edge,
    appliance: str,
    now: datetime,
    settings: Settings,
    routine: Routine | None = None,
) -> None:
    table = _table(Watch)
    session.exec(
        _insert(session, Watch).on_conflict_do_nothing(index_elements=["household_id"]),
        params=[
            {"household_id": household.id, "status": WatchStatus.NEW, "explanation": "", "updated_at": now}
        ],
    )
    last_checkin_at = session.exec(
        select(Watch.last_checkin_at).where(Watch.household_id == household.id)
    ).one()
    sign = latest_sign_of_life(edge.ts, last_checkin_at, appliance or None)
    assert sign is not None
    deadline = compute_deadline(
        sign,
        quiet_hours=household.quiet_hours or settings.inactivity_default_hours,
        timezone=household.timezone,
        routine=routine,
    )
    # Conditional: last_activity_at only moves forward, even with another gateway racing us.
    session.exec(
        update(table)
        .where(
            table.c.household_id == household.id,
            or_(table.c.last_activity_at.is_(None), table.c.last_activity_at < edge.ts),
        )
        .values(
            last_activity_at=edge.ts,
            last_activity_device_id=edge.device_id,
            alert_after=deadline.alert_after,
            explanation=deadline.explanation,
            updated_at=now,
            status=case((table.c.status == WatchStatus.NEW, WatchStatus.UP), else_=table.c.status),
        )
    )


# --- rejected messages -----------------------------------------------------------------------


def _store_rejections(
    session: Session,
    rejections: list[tuple[InboundMessage, str]],
    devices: dict[tuple[DeviceVendor, str], Device],
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
    devices: dict[tuple[DeviceVendor, str], Device],
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


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def _insert(session: Session, model: type[Any]) -> Any:
    """INSERT with ON CONFLICT support for the session's dialect (SQLite and PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(_table(model))
    if dialect == "sqlite":
        return sqlite.insert(_table(model))
    raise NotImplementedError(f"ingest supports sqlite and postgresql, not {dialect}")
