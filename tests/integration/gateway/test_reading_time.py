"""Every reading kept exactly once, whatever its clock (issue 14, items 1 and 2), on both dialects.

The faults reproduced here: readings without a usable device time were stamped with the receive
time, which one socket read shares, so the ``(device, channel, ts)`` key kept one of a backlog and
counted the rest as duplicates; and a plug clock that fell back was believed, so its readings
landed in the past (no activity) and the sweeper, seeing "no newer reading", held the alarm.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from anomaly import sweeper
from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseKind, DeviceVendor, EdgeKind
from core.models import ActivityEdge, Case, Device, Reading, Watch
from core.settings import Settings
from gateway.ingest import BatchResult, InboundMessage, ingest_batch
from tests.factories import load, make_device, make_household

SETTINGS = Settings(_env_file=None, inactivity_default_hours=12)
SEOUL = ZoneInfo("Asia/Seoul")
MIN = timedelta(minutes=1)
BOOT = datetime(1970, 1, 1, 0, 0)  # a Tasmota that never synced NTP counts from here (local time)


def run(engine: Engine, messages: list[InboundMessage], now: datetime | None = None) -> BatchResult:
    with session_scope(engine) as session:
        return ingest_batch(
            session, messages, now=now or max(m.received_at for m in messages), settings=SETTINGS
        )


def kettle(
    engine: Engine, vendor: DeviceVendor, external_id: str, *, quiet_hours: float | None = None
) -> int:
    with session_scope(engine) as s:
        h = make_household(s, quiet_hours=quiet_hours)
        make_device(s, household=h, vendor=vendor, external_id=external_id, appliance="kettle")
        assert h.id is not None
        return h.id


def tasmota(
    device: str, local_time: datetime, power_w: float, received: datetime, **delivery: int
) -> InboundMessage:
    """A Tasmota SENSOR; ``Time`` is the plug's own local clock (no offset, as Tasmota sends it)."""
    body = {"Time": local_time.strftime("%Y-%m-%dT%H:%M:%S"), "ENERGY": {"Power": power_w, "Total": 1.5}}
    return InboundMessage(f"tele/{device}/SENSOR", json.dumps(body).encode(), received, **delivery)  # type: ignore[arg-type]


def gen1_power(device: str, power_w: float, received: datetime, **delivery: int) -> InboundMessage:
    return InboundMessage(f"shellies/{device}/relay/0/power", f"{power_w:g}".encode(), received, **delivery)  # type: ignore[arg-type]


def native(device: str, ts: datetime, power_w: float, received: datetime) -> InboundMessage:
    body = {"v": 1, "ts": ts.isoformat(), "power_w": power_w}
    return InboundMessage(f"anbu/{device}/reading", json.dumps(body).encode(), received)


def readings(engine: Engine, external_id: str) -> list[Reading]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(Reading)
                .join(Device)
                .where(Device.external_id == external_id)
                .order_by(col(Reading.ts), col(Reading.id))
            ).all()
        )


def on_edges(engine: Engine) -> list[datetime]:
    with Session(engine) as s:
        rows = s.exec(
            select(ActivityEdge).where(ActivityEdge.kind == EdgeKind.ON).order_by(col(ActivityEdge.ts))
        )
        return [e.ts for e in rows.all()]


def device_row(engine: Engine, external_id: str) -> Device:
    with Session(engine) as s:
        return s.exec(select(Device).where(Device.external_id == external_id)).one()


def kettle_profile(n: int, on_at: int) -> list[float]:
    """Idle, then a 3-minute boil starting at reading ``on_at``, then idle."""
    return [1800.0 if on_at <= k < on_at + 3 else 0.0 for k in range(n)]


# --- plugs without a clock -------------------------------------------------------------------


def test_a_clockless_backlog_from_one_socket_read_is_stored_whole_with_its_switch_on(
    engine: Engine, clock: ManualClock
) -> None:
    """Shelly Gen1 sends no time; 30 queued readings arrive together and share one receive time."""
    hid = kettle(engine, DeviceVendor.SHELLY_GEN1, "shellyplug-s-0A0001")
    received = clock.now()
    powers = kettle_profile(30, on_at=12)

    result = run(engine, [gen1_power("shellyplug-s-0A0001", w, received) for w in powers])

    assert (result.stored, result.duplicates) == (30, 0)
    stored = readings(engine, "shellyplug-s-0A0001")
    assert [r.power_w for r in stored] == powers  # arrival order kept
    assert all(received <= r.ts < received + timedelta(seconds=1) for r in stored)  # arrival time
    assert len({r.ts for r in stored}) == 30
    assert on_edges(engine) == [stored[12].ts]  # the kettle's switch-on inside the backlog
    assert load(engine, Watch, hid).last_activity_at == stored[12].ts


def test_power_and_energy_of_one_gen1_report_are_both_kept(engine: Engine, clock: ManualClock) -> None:
    kettle(engine, DeviceVendor.SHELLY_GEN1, "shellyplug-s-0A0002")
    received = clock.now()
    energy = InboundMessage("shellies/shellyplug-s-0A0002/relay/0/energy", b"7260", received)

    result = run(engine, [gen1_power("shellyplug-s-0A0002", 42.5, received), energy])

    assert (result.stored, result.duplicates) == (2, 0)
    assert {(r.power_w, r.energy_wh) for r in readings(engine, "shellyplug-s-0A0002")} == {
        (42.5, None),
        (None, 121.0),
    }


def test_clockless_readings_in_later_batches_with_the_same_receive_time_are_all_kept(
    engine: Engine, clock: ManualClock
) -> None:
    """A receive time can repeat across batches (a coarse or stopped clock): still no reading is lost."""
    kettle(engine, DeviceVendor.SHELLY_GEN1, "shellyplug-s-0A0003")
    received = clock.now()
    for w in (1.0, 2.0, 3.0):
        assert run(engine, [gen1_power("shellyplug-s-0A0003", w, received)]).stored == 1
    assert [r.power_w for r in readings(engine, "shellyplug-s-0A0003")] == [1.0, 2.0, 3.0]


# --- plugs with a wrong clock ----------------------------------------------------------------


def test_a_1970_clock_learned_live_places_its_backlog_at_the_right_times(
    engine: Engine, clock: ManualClock
) -> None:
    """A Tasmota that never synced NTP (its clock counts from 1970) reports every minute; the
    gateway is away for 30 minutes and gets the queued 30 readings in one socket read."""
    hid = kettle(engine, DeviceVendor.TASMOTA, "tasmota_1970")
    t0 = clock.now()
    delay = timedelta(milliseconds=200)
    for k in range(10):  # live: each reading heard 0.2 s after the plug sent it
        assert run(engine, [tasmota("tasmota_1970", BOOT + k * MIN, 0.0, t0 + k * MIN + delay)]).stored == 1
    powers = kettle_profile(30, on_at=10)
    back = t0 + 39 * MIN + timedelta(seconds=3)
    result = run(
        engine, [tasmota("tasmota_1970", BOOT + (10 + k) * MIN, w, back) for k, w in enumerate(powers)]
    )

    assert (result.stored, result.duplicates) == (30, 0)
    stored = readings(engine, "tasmota_1970")
    assert len(stored) == 40
    assert [r.ts for r in stored] == [
        t0 + k * MIN + delay for k in range(40)
    ]  # the plug's offset, learned live
    assert all(r.clock_suspect for r in stored)
    switch_on = t0 + 20 * MIN + delay
    assert on_edges(engine) == [switch_on]  # the kettle inside the backlog, at its time
    assert load(engine, Watch, hid).last_activity_at == switch_on
    assert device_row(engine, "tasmota_1970").clock_offset_s is not None


def test_a_1970_clock_seen_first_in_a_backlog_keeps_every_reading_and_its_spacing(
    engine: Engine, clock: ManualClock
) -> None:
    kettle(engine, DeviceVendor.TASMOTA, "tasmota_new")
    now = clock.now()
    powers = kettle_profile(30, on_at=5)
    # the last queued reading was sent just before the gateway came back
    result = run(
        engine,
        [tasmota("tasmota_new", BOOT + timedelta(minutes=5 + k), w, now) for k, w in enumerate(powers)],
    )

    assert (result.stored, result.duplicates) == (30, 0)
    stored = readings(engine, "tasmota_new")
    assert [r.ts for r in stored] == [now - (29 - k) * MIN for k in range(30)]
    assert on_edges(engine) == [now - 24 * MIN]


def test_a_clock_three_days_behind_keeps_every_reading_of_its_backlog(
    engine: Engine, clock: ManualClock
) -> None:
    hid = kettle(engine, DeviceVendor.TASMOTA, "tasmota_slow")
    now = clock.now()
    behind = timedelta(days=3)
    powers = kettle_profile(30, on_at=20)
    local = (now - behind).astimezone(SEOUL).replace(tzinfo=None)
    result = run(
        engine, [tasmota("tasmota_slow", local - (29 - k) * MIN, w, now) for k, w in enumerate(powers)]
    )

    assert (result.stored, result.duplicates) == (30, 0)
    stored = readings(engine, "tasmota_slow")
    assert [r.ts for r in stored] == [now - (29 - k) * MIN for k in range(30)]
    assert on_edges(engine) == [now - 9 * MIN]
    assert load(engine, Watch, hid).last_activity_at == now - 9 * MIN


def test_600_readings_from_ten_wrong_clock_plugs_through_a_restart_are_stored_exactly_once(
    engine: Engine, clock: ManualClock
) -> None:
    """Ten 1970-clock plugs report every minute; the gateway restarts after minute 19: the last batch
    was committed but its acknowledgements were lost, so the broker redelivers it (DUP, same packet
    ids), then the 40 minutes queued meanwhile arrive together."""
    plugs = [f"tasmota_p{n}" for n in range(10)]
    for plug in plugs:
        kettle(engine, DeviceVendor.TASMOTA, plug)  # each plug in a household of its own
    t0 = clock.now()
    boots = {plug: BOOT + timedelta(minutes=7 * n) for n, plug in enumerate(plugs)}  # different uptimes

    def message(plug: str, k: int, received: datetime, pid: int, dup: bool = False) -> InboundMessage:
        return tasmota(plug, boots[plug] + k * MIN, float(k), received, packet_id=pid, redelivered=dup)

    pid = 0
    last_batch: list[tuple[str, int, int]] = []
    for k in range(20):
        batch, last_batch = [], []
        for plug in plugs:
            pid += 1
            batch.append(message(plug, k, t0 + k * MIN + timedelta(milliseconds=100), pid))
            last_batch.append((plug, k, pid))
        run(engine, batch)
    back = t0 + 59 * MIN + timedelta(seconds=1)
    redelivered = [message(plug, k, back, p, dup=True) for plug, k, p in last_batch]
    queued = [
        message(plug, k, back, pid + n + 1)
        for n, (k, plug) in enumerate((k, p) for k in range(20, 60) for p in plugs)
    ]
    result = run(engine, redelivered + queued)

    assert (result.stored, result.duplicates) == (400, 10)
    for plug in plugs:
        stored = readings(engine, plug)
        assert [r.power_w for r in stored] == [float(k) for k in range(60)]
        assert [r.ts for r in stored] == [t0 + k * MIN + timedelta(milliseconds=100) for k in range(60)]


# --- redelivery of a reading without a device time ---------------------------------------------


def test_a_redelivered_clockless_message_counts_once(engine: Engine, clock: ManualClock) -> None:
    """After a crash between commit and acknowledgement the broker sends the message again, with
    the DUP flag and its packet id: recognised by its receipt, not by a time the gateway made up."""
    kettle(engine, DeviceVendor.SHELLY_GEN1, "shellyplug-s-0A0004")
    first = clock.now()
    assert run(engine, [gen1_power("shellyplug-s-0A0004", 0.0, first, packet_id=7)]).stored == 1

    again = first + timedelta(seconds=20)
    result = run(engine, [gen1_power("shellyplug-s-0A0004", 0.0, again, packet_id=7, redelivered=True)])
    assert (result.stored, result.duplicates) == (0, 1)

    # The same packet id and payload without DUP is a new message (the broker reuses ids once acked).
    later = again + timedelta(seconds=20)
    assert run(engine, [gen1_power("shellyplug-s-0A0004", 0.0, later, packet_id=7)]).stored == 1
    # A DUP message the gateway never stored (it died before reading it) is kept.
    assert (
        run(engine, [gen1_power("shellyplug-s-0A0004", 5.0, later, packet_id=8, redelivered=True)]).stored
        == 1
    )
    assert [r.power_w for r in readings(engine, "shellyplug-s-0A0004")] == [0.0, 0.0, 5.0]


# --- freshness from arrival (item 2) -----------------------------------------------------------


def _clock_falls_back_a_day(engine: Engine, t0: datetime, *, kettle_at: timedelta | None) -> int:
    """A plug with a right clock; at t0 + 30 min its clock falls back a day, and it keeps reporting."""
    hid = kettle(engine, DeviceVendor.NATIVE, "steady", quiet_hours=3)
    run(engine, [native("steady", t0, 1800.0, t0)])  # the resident's last use: due at t0 + 3 h
    at = t0 + timedelta(minutes=5)
    while at <= t0 + timedelta(hours=4):
        power = 1800.0 if kettle_at is not None and kettle_at <= at - t0 < kettle_at + 3 * MIN else 0.0
        device_ts = at if at < t0 + timedelta(minutes=30) else at - timedelta(days=1)
        run(engine, [native("steady", device_ts, power, at)])
        if at == t0 + 3 * timedelta(hours=1):
            sweeper.tick(engine, ManualClock(at), SETTINGS)
        at += timedelta(minutes=5)
    return hid


def test_a_plug_clock_falling_back_a_day_does_not_hold_the_alarm(engine: Engine, clock: ManualClock) -> None:
    t0 = clock.now()
    hid = _clock_falls_back_a_day(engine, t0, kettle_at=None)
    with Session(engine) as s:
        opened = s.exec(select(Case).where(Case.household_id == hid, Case.kind == CaseKind.INACTIVITY)).all()
    assert [c.opened_at for c in opened] == [t0 + timedelta(hours=3)]  # on time, not a day later
    plug = device_row(engine, "steady")
    assert (
        plug.clock_offset_s is not None and abs(plug.clock_offset_s - 86400) < 1
    )  # the clock problem, for staff


def test_activity_from_a_plug_whose_clock_fell_back_still_counts(engine: Engine, clock: ManualClock) -> None:
    t0 = clock.now()
    hid = _clock_falls_back_a_day(engine, t0, kettle_at=timedelta(hours=2))
    w = load(engine, Watch, hid)
    assert w.last_activity_at == t0 + timedelta(hours=2)
    assert w.alert_after == t0 + timedelta(hours=5)
    with Session(engine) as s:
        assert s.exec(select(Case).where(Case.household_id == hid)).all() == []
