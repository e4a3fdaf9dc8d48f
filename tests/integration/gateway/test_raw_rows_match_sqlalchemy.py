"""Ingest reads and writes device and channel-state rows through the raw DB-API (core/bulk.py).

What it reads must equal what SQLAlchemy's column types return, and what it writes must read back
through the ORM as the same values, on both dialects.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from anomaly.activity import StepState
from core.db import session_scope
from core.enums import DeviceStatus, DeviceVendor
from core.models import ChannelState, Device
from gateway import edges, ingest
from tests.factories import make_device, make_household

T0 = datetime(2026, 3, 2, 1, 2, 3, 456789, tzinfo=UTC)


def _devices(engine: Engine) -> set[tuple[DeviceVendor, str]]:
    with session_scope(engine) as s:
        h = make_household(s, quiet_hours=7.5)
        plain = make_device(s, household=h, vendor=DeviceVendor.TASMOTA, external_id="p1")
        seen = make_device(
            s, household=h, vendor=DeviceVendor.SHELLY, external_id="p1"
        )  # same id, other vendor
        seen.online, seen.last_seen_at, seen.report_interval_s = False, T0, 29.5
        seen.last_reading_at, seen.last_power_w = T0 - timedelta(seconds=1), 12.25
        pending = make_device(s, household=None, external_id="p2")
        pending.status = DeviceStatus.PENDING
        pending.online = True
        s.add_all([seen, pending])
        s.add(ChannelState(device_id=plain.id, channel="0", is_on=True, last_ts=T0))  # type: ignore[arg-type]
        s.add(ChannelState(device_id=plain.id, channel="2", is_on=False, last_ts=T0 + timedelta(hours=1)))  # type: ignore[arg-type]
    return {(DeviceVendor.TASMOTA, "p1"), (DeviceVendor.SHELLY, "p1"), (DeviceVendor.NATIVE, "p2")}


def test_device_rows_read_raw_equal_the_orm_values(engine: Engine) -> None:
    keys = _devices(engine)
    with Session(engine) as s:
        raw = ingest._load_devices(s, keys | {(DeviceVendor.ESPHOME, "p1")})  # unknown: absent
        households = ingest._load_households(s, [d.household_id for d in raw.values()])
    with Session(engine) as s:
        orm = {(d.vendor, d.external_id): d for d in s.exec(select(Device)).all()}
        assert raw.keys() == keys
        for key, row in raw.items():
            device = orm[key]
            for name in ingest._DEVICE_COLUMNS:
                value, expected = getattr(row, name), getattr(device, name)
                assert value == expected and type(value) is type(expected), (key, name, value, expected)
            if row.last_seen_at is not None:
                assert row.last_seen_at.tzinfo is UTC
        household_id = orm[(DeviceVendor.TASMOTA, "p1")].household_id
        assert household_id is not None
        assert households[household_id].quiet_hours == 7.5
        assert households[household_id].timezone == "Asia/Seoul"


def test_channel_states_round_trip(engine: Engine) -> None:
    _devices(engine)
    with Session(engine) as s:
        device_id = s.exec(select(Device.id).where(Device.vendor == DeviceVendor.TASMOTA)).one()
    assert device_id is not None
    t0 = int(T0.timestamp())  # detector state is kept in whole seconds
    with session_scope(engine) as s:
        states = edges.load_states(s, {device_id})
        assert states == {
            (device_id, "0"): StepState(last_ts=t0, on=True),
            (device_id, "2"): StepState(last_ts=t0 + 3600),
        }
        later = t0 + 86400
        edges.save_states(
            s,
            [
                ((device_id, "0"), StepState(later, 3.5, False, later - 60, t0)),
                ((device_id, "5"), StepState(later, 1200.0, True, None, later)),
            ],
        )
    with Session(engine) as s:
        rows = {
            (c.channel, c.is_on, c.last_ts, c.last_w, c.off_since, c.last_event_ts)
            for c in s.exec(select(ChannelState)).all()
        }

    def at(ts: int) -> datetime:
        return datetime.fromtimestamp(ts, UTC)

    assert rows == {
        ("0", False, at(later), 3.5, at(later - 60), at(t0)),
        ("2", False, T0 + timedelta(hours=1), None, None, None),
        ("5", True, at(later), 1200.0, None, at(later)),
    }
    with Session(engine) as s:  # and what was written loads back as the same state
        assert edges.load_states(s, {device_id})[(device_id, "0")] == StepState(
            later, 3.5, False, later - 60, t0
        )
