"""ingest_batch on both dialects: nothing dropped, redelivery harmless, edges and watches right."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import DeviceStatus, DeviceVendor, EdgeKind, WatchStatus
from core.models import ActivityEdge, ChannelState, Device, Reading, RejectedMessage, Watch
from core.settings import Settings
from gateway.devices import assign_device
from gateway.ingest import BatchResult, InboundMessage, ingest_batch
from tests.factories import load_all, make_device, make_household, make_watch

SETTINGS = Settings(_env_file=None, inactivity_default_hours=12)


def native(
    device: str, ts: datetime | None, power_w: float | None, *, received: datetime, **extra: object
) -> InboundMessage:
    body: dict[str, object] = {"v": 1, "power_w": power_w, **extra}
    if ts is not None:
        body["ts"] = ts.isoformat()
    return InboundMessage(f"anbu/{device}/reading", json.dumps(body).encode(), received)


def run(
    engine: Engine, messages: list[InboundMessage], now: datetime, settings: Settings = SETTINGS
) -> BatchResult:
    with session_scope(engine) as session:
        return ingest_batch(session, messages, now=now, settings=settings)


def count(engine: Engine, model: type) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def device(engine: Engine, vendor: DeviceVendor, external_id: str) -> Device:
    with Session(engine) as s:
        return s.exec(select(Device).where(Device.vendor == vendor, Device.external_id == external_id)).one()


def assigned_kettle(
    engine: Engine, *, external_id: str = "kettle1", quiet_hours: float | None = None
) -> tuple[int, int]:
    with session_scope(engine) as s:
        h = make_household(s, quiet_hours=quiet_hours)
        d = make_device(s, household=h, external_id=external_id, appliance="kettle", on_threshold_w=8.0)
        assert h.id is not None and d.id is not None
        return h.id, d.id


def edges(engine: Engine) -> list[tuple[str, EdgeKind, datetime]]:
    with Session(engine) as s:
        rows = s.exec(select(ActivityEdge).order_by(col(ActivityEdge.ts))).all()
        return [(r.channel, r.kind, r.ts) for r in rows]


# --- nothing dropped ---------------------------------------------------------------------------


def test_unknown_device_is_created_pending_and_its_readings_are_kept(
    engine: Engine, clock: ManualClock
) -> None:
    now = clock.now()
    result = run(engine, [native("newplug", now - timedelta(seconds=30), 1500.0, received=now)], now)

    assert result == BatchResult(stored=1, pending_devices_created=1)
    d = device(engine, DeviceVendor.NATIVE, "newplug")
    assert d.status == DeviceStatus.PENDING and d.household_id is None
    assert d.created_at == now and d.last_seen_at == now
    assert d.last_power_w == 1500.0 and d.last_reading_at == now - timedelta(seconds=30)
    with Session(engine) as s:
        reading = s.exec(select(Reading)).one()
    assert (reading.device_id, reading.power_w, reading.clock_suspect) == (d.id, 1500.0, False)
    # A pending device has no household, so no edge and no watch, but its channel state is tracked.
    assert count(engine, ActivityEdge) == 0 and count(engine, Watch) == 0
    with Session(engine) as s:
        assert s.exec(select(ChannelState)).one().is_on is True


def test_redelivery_is_counted_as_duplicates_and_stored_once(engine: Engine, clock: ManualClock) -> None:
    now = clock.now()
    batch = [native("p1", now - timedelta(seconds=60 - i), float(i), received=now) for i in range(20)]
    first = run(engine, batch, now)
    again = run(engine, batch + batch[:3], now + timedelta(minutes=1))

    assert (first.stored, first.duplicates) == (20, 0)
    assert (again.stored, again.duplicates, again.pending_devices_created) == (0, 23, 0)
    assert count(engine, Reading) == 20


def test_duplicates_inside_one_batch_are_stored_once(engine: Engine, clock: ManualClock) -> None:
    now = clock.now()
    msg = native("p1", now, 20.0, received=now)
    result = run(engine, [msg, msg, msg], now)
    assert (result.stored, result.duplicates) == (1, 2)
    assert count(engine, Reading) == 1


def test_rejected_messages_are_kept_with_reasons(engine: Engine, clock: ManualClock) -> None:
    now = clock.now()
    settings = Settings(_env_file=None, mqtt_max_payload_bytes=1024)
    _hid, known_id = assigned_kettle(engine, external_id="known")
    big = b'{"v":1,"power_w":1,"pad":"' + b"x" * 2000 + b'"}'
    messages = [
        InboundMessage("anbu/known/reading", b"{oops", now),
        InboundMessage("anbu/stranger/reading", b'{"v":1,"power_w":-4}', now),
        InboundMessage("anbu/known/reading", big, now),
        InboundMessage("some/other/topic", b"\xff\xfe binary", now),
        InboundMessage("tele/plug/SENSOR", b'{"ENERGY":{"Power":NaN}}', now),
        native("known", now, 3.0, received=now),  # one good message among them still counts
    ]
    result = run(engine, messages, now, settings)

    assert (result.rejected, result.stored, result.pending_devices_created) == (5, 1, 0)
    rows = load_all(engine, RejectedMessage)
    by_topic = {r.topic: r for r in rows}
    bad_json = rows[0]
    assert bad_json.reason.startswith("invalid JSON")
    assert (bad_json.device_key, bad_json.device_id, bad_json.payload_excerpt) == (
        "native:known",
        known_id,
        "{oops",
    )
    negative = by_topic["anbu/stranger/reading"]
    assert "negative" in negative.reason
    # A rejected message names the device but does not create one (the topic could be anything).
    assert (negative.device_key, negative.device_id) == ("native:stranger", None)
    oversize = rows[2]
    assert oversize.reason.startswith("payload too large")
    assert (oversize.payload_size, len(oversize.payload_excerpt)) == (len(big), 500)
    assert (oversize.device_key, oversize.device_id) == ("native:known", known_id)
    unknown = by_topic["some/other/topic"]
    assert (unknown.reason, unknown.device_key) == ("unknown topic", None)
    assert unknown.payload_excerpt == "\\xff\\xfe binary"
    assert "NaN" in by_topic["tele/plug/SENSOR"].reason
    assert by_topic["tele/plug/SENSOR"].device_key == "tasmota:plug"
    assert all(r.received_at == now for r in rows)


def test_very_long_topics_are_truncated(engine: Engine, clock: ManualClock) -> None:
    now = clock.now()
    topic = "x/" * 400
    run(engine, [InboundMessage(topic, b"", now)], now)
    with Session(engine) as s:
        row = s.exec(select(RejectedMessage)).one()
    assert row.topic == topic[:500]


# --- device clocks ------------------------------------------------------------------------------


def test_wrong_device_clocks_heard_first_are_placed_at_arrival(engine: Engine, clock: ManualClock) -> None:
    """A wrong clock's one reading (its freshest) is taken as just sent; a day behind is believed
    until the clock is seen to step (tests/integration/gateway/test_reading_time.py)."""
    now = clock.now()
    received = now - timedelta(seconds=5)
    messages = [
        native("c1", now + timedelta(minutes=10), 1.0, received=received),  # future
        native(
            "c2", datetime.fromisoformat("2019-06-01T00:00:00+00:00"), 1.0, received=received
        ),  # before 2020
        native("c3", received - timedelta(days=3), 1.0, received=received),  # days behind
        native("c4", received - timedelta(days=1), 1.0, received=received),  # a backlog, or a clock: believed
        native("c5", None, 1.0, received=received),  # no device clock at all
    ]
    result = run(engine, messages, now)

    assert (result.stored, result.clock_suspect) == (5, 3)
    with Session(engine) as s:
        rows = s.exec(select(Reading, Device).join(Device).order_by(col(Device.external_id))).all()
    got = {d.external_id: (r.ts, r.clock_suspect, r.received_at) for r, d in rows}
    assert got["c1"] == (received, True, received)
    assert got["c2"] == (received, True, received)
    assert got["c3"] == (received, True, received)
    assert got["c4"] == (received - timedelta(days=1), False, received)
    assert got["c5"] == (received, False, received)


# --- activity edges and the watch ----------------------------------------------------------------


def test_on_and_off_edges_and_the_watch_deadline(engine: Engine, clock: ManualClock) -> None:
    hid, did = assigned_kettle(engine, quiet_hours=6)
    now = clock.now()
    t = [now - timedelta(minutes=10 - i) for i in range(5)]
    powers = [0.0, 1800.0, 1750.0, 2.0, 0.0]
    result = run(
        engine, [native("kettle1", ts, p, received=now) for ts, p in zip(t, powers, strict=True)], now
    )

    assert (result.stored, result.edges) == (5, 2)
    assert edges(engine) == [("0", EdgeKind.ON, t[1]), ("0", EdgeKind.OFF, t[3])]
    with Session(engine) as s:
        watch = s.get(Watch, hid)
        state = s.get(ChannelState, (did, "0"))
    assert watch is not None and state is not None
    assert watch.status == WatchStatus.UP
    assert watch.last_activity_at == t[1]
    assert watch.last_activity_device_id == did
    assert watch.alert_after == t[1] + timedelta(hours=6)
    assert "6" in watch.explanation and watch.explanation
    assert watch.updated_at == now
    assert (state.is_on, state.last_ts) == (False, t[4])


def test_default_quiet_hours_apply_when_the_household_has_none(engine: Engine, clock: ManualClock) -> None:
    hid, _ = assigned_kettle(engine)
    now = clock.now()
    run(engine, [native("kettle1", now, 900.0, received=now)], now)
    with Session(engine) as s:
        watch = s.get(Watch, hid)
    assert watch is not None and watch.alert_after == now + timedelta(hours=12)


def test_readings_in_a_batch_are_taken_in_time_order(engine: Engine, clock: ManualClock) -> None:
    hid, _ = assigned_kettle(engine)
    now = clock.now()
    t1, t2, t3 = (now - timedelta(minutes=m) for m in (3, 2, 1))
    # Arrival order t3, t1, t2; time order is off (t1) -> on (t2) -> off (t3).
    batch = [
        native("kettle1", t3, 0.0, received=now),
        native("kettle1", t1, 0.0, received=now),
        native("kettle1", t2, 1500.0, received=now),
    ]
    run(engine, batch, now)
    assert edges(engine) == [("0", EdgeKind.ON, t2), ("0", EdgeKind.OFF, t3)]
    with Session(engine) as s:
        watch = s.get(Watch, hid)
    assert watch is not None and watch.last_activity_at == t2


def test_late_readings_do_not_make_edges_in_the_past(engine: Engine, clock: ManualClock) -> None:
    assigned_kettle(engine)
    now = clock.now()
    run(engine, [native("kettle1", now - timedelta(minutes=1), 0.0, received=now)], now)
    # Delivered later, but older than what we know: stored, no edge.
    result = run(engine, [native("kettle1", now - timedelta(minutes=5), 2000.0, received=now)], now)
    assert (result.stored, result.edges) == (1, 0)
    assert edges(engine) == []


def test_state_survives_between_batches(engine: Engine, clock: ManualClock) -> None:
    assigned_kettle(engine)
    now = clock.now()
    run(engine, [native("kettle1", now - timedelta(minutes=3), 1500.0, received=now)], now)
    second = run(engine, [native("kettle1", now - timedelta(minutes=2), 1600.0, received=now)], now)
    third = run(engine, [native("kettle1", now - timedelta(minutes=1), 0.0, received=now)], now)
    assert (second.edges, third.edges) == (0, 1)
    assert [k for _c, k, _t in edges(engine)] == [EdgeKind.ON, EdgeKind.OFF]


def test_redelivered_on_reading_does_not_move_the_watch_again(engine: Engine, clock: ManualClock) -> None:
    hid, _ = assigned_kettle(engine)
    now = clock.now()
    on = native("kettle1", now - timedelta(minutes=5), 1500.0, received=now)
    run(engine, [on, native("kettle1", now - timedelta(minutes=4), 0.0, received=now)], now)
    result = run(engine, [on], now + timedelta(minutes=1))
    assert (result.stored, result.duplicates, result.edges) == (0, 1, 0)
    assert len(edges(engine)) == 2
    with Session(engine) as s:
        watch = s.get(Watch, hid)
    assert watch is not None and watch.updated_at == now  # untouched by the redelivery


def test_watch_only_moves_forward_and_keeps_its_status(engine: Engine, clock: ManualClock) -> None:
    now = clock.now()
    with session_scope(engine) as s:
        h = make_household(s)
        make_device(s, household=h, external_id="tv1", appliance="tv")
        make_watch(
            s, h, status=WatchStatus.OVERDUE, last_activity_at=now - timedelta(minutes=1), explanation="x"
        )
        hid = h.id
    run(engine, [native("tv1", now - timedelta(minutes=60), 90.0, received=now)], now)
    with Session(engine) as s:
        watch = s.get(Watch, hid)
    assert watch is not None
    assert watch.last_activity_at == now - timedelta(minutes=1)  # older activity does not win
    assert watch.status == WatchStatus.OVERDUE  # the sweeper owns every status except NEW -> UP
    assert watch.explanation == "x"

    run(
        engine,
        [
            native("tv1", now - timedelta(minutes=45), 0.0, received=now),
            native("tv1", now + timedelta(seconds=1), 95.0, received=now),
        ],
        now,
    )
    with Session(engine) as s:
        watch = s.get(Watch, hid)
    assert watch is not None
    assert watch.last_activity_at == now + timedelta(seconds=1)
    assert watch.status == WatchStatus.OVERDUE


def test_recent_checkin_sets_the_deadline_when_newer_than_the_activity(
    engine: Engine, clock: ManualClock
) -> None:
    now = clock.now()
    with session_scope(engine) as s:
        h = make_household(s, quiet_hours=4)
        make_device(s, household=h, external_id="k9")
        make_watch(s, h, status=WatchStatus.NEW, last_checkin_at=now)
        hid = h.id
    run(engine, [native("k9", now - timedelta(hours=1), 2000.0, received=now)], now)
    with Session(engine) as s:
        watch = s.get(Watch, hid)
    assert watch is not None
    assert watch.status == WatchStatus.UP
    assert watch.last_activity_at == now - timedelta(hours=1)
    assert watch.alert_after == now + timedelta(hours=4)


def test_pending_device_becomes_a_sign_of_life_after_assignment(engine: Engine, clock: ManualClock) -> None:
    now = clock.now()
    run(engine, [native("plug9", now - timedelta(minutes=90), 1200.0, received=now)], now)
    pending_id = device(engine, DeviceVendor.NATIVE, "plug9").id
    assert pending_id is not None
    with session_scope(engine) as s:
        h = make_household(s)
        assert h.id is not None
        assign_device(s, pending_id, h.id, "rice_cooker")
        hid = h.id
    # Still on after assignment: no edge (the state was tracked while pending) ...
    assert run(engine, [native("plug9", now - timedelta(minutes=89), 1100.0, received=now)], now).edges == 0
    # ... the next off -> on (a new use, not the same programme) is the first sign of life.
    run(
        engine,
        [
            native("plug9", now - timedelta(minutes=80), 0.0, received=now),
            native("plug9", now - timedelta(minutes=6), 1000.0, received=now),
        ],
        now,
    )
    with Session(engine) as s:
        watch = s.get(Watch, hid)
    assert watch is not None and watch.last_activity_at == now - timedelta(minutes=6)
    assert watch.status == WatchStatus.UP


def test_multichannel_tasmota_edges_per_channel(engine: Engine, clock: ManualClock) -> None:
    now = clock.now()
    with session_scope(engine) as s:
        h = make_household(s, tz="UTC")
        make_device(s, household=h, vendor=DeviceVendor.TASMOTA, external_id="dual", appliance="tv")
    t1 = (now - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S")
    t2 = (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    messages = [
        InboundMessage(
            "tele/dual/SENSOR", f'{{"Time":"{t1}","ENERGY":{{"Power":[0,0],"Total":1.0}}}}'.encode(), now
        ),
        InboundMessage(
            "tele/dual/SENSOR", f'{{"Time":"{t2}","ENERGY":{{"Power":[120,3],"Total":1.1}}}}'.encode(), now
        ),
    ]
    result = run(engine, messages, now)
    assert (result.stored, result.edges) == (6, 1)
    assert edges(engine) == [("1", EdgeKind.ON, now - timedelta(minutes=1))]
    d = device(engine, DeviceVendor.TASMOTA, "dual")
    assert d.last_power_w == 123.0  # the device total across channels in the latest message
    assert d.last_reading_at == now - timedelta(minutes=1)


def test_tasmota_local_time_is_read_in_the_household_zone(engine: Engine, clock: ManualClock) -> None:
    now = clock.now()  # 2026-03-02T00:00Z = 09:00 in Seoul
    with session_scope(engine) as s:
        h = make_household(s, tz="Asia/Seoul")
        make_device(s, household=h, vendor=DeviceVendor.TASMOTA, external_id="seoul")
    settings = Settings(_env_file=None, default_timezone="Europe/London")
    sensor = b'{"Time":"2026-03-02T08:59:00","ENERGY":{"Power":50}}'
    run(engine, [InboundMessage("tele/seoul/SENSOR", sensor, now)], now, settings)
    with Session(engine) as s:
        reading = s.exec(select(Reading)).one()
    assert reading.ts == now - timedelta(minutes=1)
    assert reading.clock_suspect is False


# --- connectivity is not activity ----------------------------------------------------------------


def test_lwt_sets_online_and_heartbeats_only_touch_last_seen(engine: Engine, clock: ManualClock) -> None:
    now = clock.now()
    run(engine, [InboundMessage("tele/p5/LWT", b"Online", now)], now)
    d = device(engine, DeviceVendor.TASMOTA, "p5")
    assert (d.online, d.last_seen_at, d.status) == (True, now, DeviceStatus.PENDING)

    later = now + timedelta(minutes=5)
    state = b'{"Time":"2026-03-02T09:05:00","UptimeSec":300,"POWER":"ON"}'
    result = run(engine, [InboundMessage("tele/p5/STATE", state, later)], later)
    assert result == BatchResult()  # a heartbeat stores no reading
    assert device(engine, DeviceVendor.TASMOTA, "p5").last_seen_at == later

    gone = later + timedelta(minutes=5)
    run(engine, [InboundMessage("tele/p5/LWT", b"Offline", gone)], gone)
    d = device(engine, DeviceVendor.TASMOTA, "p5")
    # The broker sends the will, not the device: last_seen_at stays at the last word from the plug.
    assert (d.online, d.last_seen_at) == (False, later)
    assert count(engine, Reading) == 0


def test_last_values_keep_the_later_reading(engine: Engine, clock: ManualClock) -> None:
    now = clock.now()
    run(engine, [native("p7", now, 40.0, received=now)], now)
    run(engine, [native("p7", now - timedelta(minutes=1), 900.0, received=now + timedelta(seconds=1))], now)
    d = device(engine, DeviceVendor.NATIVE, "p7")
    assert (d.last_power_w, d.last_reading_at) == (40.0, now)
    assert d.last_seen_at == now + timedelta(seconds=1)


def test_native_status_topic_sets_availability(engine: Engine, clock: ManualClock) -> None:
    now = clock.now()
    run(
        engine,
        [InboundMessage("anbu/n1/status", b"online", now), InboundMessage("anbu/n1/status", b"offline", now)],
        now,
    )
    assert device(engine, DeviceVendor.NATIVE, "n1").online is False
