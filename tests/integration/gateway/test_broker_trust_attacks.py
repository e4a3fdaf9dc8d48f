"""Issue 12's attacks, each against every broker Anbu enforces device identities on.

The brokers: the embedded broker (`anbu up` without ANBU_MQTT_URL, ANBU_MQTT_AUTH=required) and a
private Mosquitto 2.0 with the dynamic-security plugin configured by `anbu broker mosquitto-config`
(tests/integration/gateway/mosquitto_harness.py). A gateway is connected to each and storing.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from benchmarks.mqtt_raw import encode_publish
from core.clock import ManualClock
from core.db import session_scope
from core.enums import DeviceVendor
from core.models import Device, Reading, RejectedMessage, Watch
from core.settings import Settings
from tests.factories import PROD_PUBLIC_BASE_URL, TEST_SECRET_KEY, make_household, make_watch
from tests.integration.gateway.mosquitto_harness import DynsecTrustedBroker, needs_mosquitto
from tests.integration.gateway.mqtt_helpers import reading_payload, unique, wait_until
from tests.integration.gateway.trust_harness import (
    EmbeddedTrustedBroker,
    RawDevice,
    TrustedBroker,
    connect,
    raw_connect,
)

# Verbatim from Tasmota's docs (docs/devices/Sonoff-Pow-R2.md): a kettle drawing 2.6 kW.
TASMOTA_SENSOR = (
    b'{"Time":"2018-02-15T17:37:10","ENERGY":{"TotalStartTime":"2018-11-14T18:39:40","Total":6.294,'
    b'"Yesterday":5.340,"Today":0.954,"Period":217,"Power":2635,"ApparentPower":2650,"ReactivePower":282,'
    b'"Factor":0.99,"Voltage":227,"Current":11.661}}'
)
# CONNACK refusals as paho reports them (MQTT 5 numbering of 3.1.1's return codes 4 and 5).
BAD_CREDENTIALS, NOT_AUTHORISED = 134, 135
REFUSED = (BAD_CREDENTIALS, NOT_AUTHORISED)
RAW_REFUSED = (4, 5)  # the same on the wire


@pytest.fixture(params=["embedded", pytest.param("mosquitto", marks=needs_mosquitto)])
def broker(
    request: pytest.FixtureRequest, sqlite_engine: Engine, clock: ManualClock, tmp_path: Path
) -> Iterator[TrustedBroker]:
    settings = Settings(
        _env_file=None,
        env="prod",
        secret_key=TEST_SECRET_KEY,
        public_base_url=PROD_PUBLIC_BASE_URL,
        mqtt_auth="required",
        mqtt_client_id=unique("anbu-gateway"),
    )
    trusted: EmbeddedTrustedBroker | DynsecTrustedBroker
    if request.param == "embedded":
        trusted = EmbeddedTrustedBroker(sqlite_engine, clock, settings)
    else:
        trusted = DynsecTrustedBroker(sqlite_engine, clock, settings, tmp_path / "mosquitto")
    trusted.start()
    try:
        yield trusted
    finally:
        trusted.stop()


def _readings(engine: Engine, vendor: DeviceVendor, external_id: str) -> int:
    with Session(engine) as s:
        query = select(func.count()).select_from(Reading).join(Device)
        query = query.where(Device.vendor == vendor, Device.external_id == external_id)
        return int(s.exec(query).one())


def _devices(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(Device)).one())


def _settled(broker: TrustedBroker, published_before: int) -> None:
    """Wait until the gateway has processed everything the broker forwarded (or nothing was)."""
    wait_until(
        lambda: (
            broker.gateway.metrics()["queue_depth"] == 0
            and broker.gateway.metrics()["received"] == broker.gateway.metrics()["acked"]
        ),
        what="the gateway to settle",
    )
    assert broker.gateway.metrics()["received"] >= published_before


def test_anonymous_connect_is_refused(broker: TrustedBroker) -> None:
    client = connect(broker.host, broker.port)
    try:
        assert client.connack == NOT_AUTHORISED
    finally:
        client.close()


def test_wrong_password_and_unknown_username_are_refused(broker: TrustedBroker) -> None:
    username, password = broker.add(DeviceVendor.TASMOTA, unique("kettle"))
    # Change the last character to one it is not (a random password ends in "x" one time in 64).
    wrong = password[:-1] + ("y" if password.endswith("x") else "x")
    for user, secret in ((username, wrong), (username, ""), ("tasmota:nobody", password)):
        client = connect(broker.host, broker.port, username=user, password=secret)
        try:
            assert client.connack in REFUSED, (user, client.connack)
        finally:
            client.close()
    good = connect(broker.host, broker.port, username=username, password=password)
    try:
        assert good.connack == 0
    finally:
        good.close()


def test_a_real_tasmota_reading_is_stored_and_the_same_on_another_devices_topic_is_not(
    broker: TrustedBroker, sqlite_engine: Engine
) -> None:
    mine, victim = unique("kettle"), unique("victim")
    username, password = broker.add(DeviceVendor.TASMOTA, mine)
    broker.add(DeviceVendor.TASMOTA, victim)
    plug = connect(broker.host, broker.port, username=username, password=password)
    try:
        assert plug.connack == 0
        plug.publish(f"tele/{victim}/SENSOR", TASMOTA_SENSOR)
        plug.publish(f"tele/{mine}/SENSOR", TASMOTA_SENSOR)
        wait_until(
            lambda: _readings(sqlite_engine, DeviceVendor.TASMOTA, mine) == 1, what="own reading stored"
        )
        _settled(broker, 1)
        assert _readings(sqlite_engine, DeviceVendor.TASMOTA, victim) == 0
        assert broker.gateway.metrics()["received"] == 1  # the broker never forwarded the forgery
    finally:
        plug.close()


def test_a_device_cannot_move_another_households_alarm(
    broker: TrustedBroker, sqlite_engine: Engine, clock: ManualClock
) -> None:
    with session_scope(sqlite_engine) as s:
        household = make_household(s)
        make_watch(s, household)
        household_id = household.id
    victim = unique("victim")
    broker.add(DeviceVendor.NATIVE, victim, household_id=household_id, appliance="kettle")
    username, password = broker.add(DeviceVendor.NATIVE, unique("attacker"))
    attacker = connect(broker.host, broker.port, username=username, password=password)
    try:
        start = clock.now() - timedelta(minutes=3)
        for i, watts in enumerate((0.0, 1800.0, 1800.0)):
            attacker.publish(f"anbu/{victim}/reading", reading_payload(start + timedelta(minutes=i), watts))
        attacker.publish(f"anbu/{victim}/status", "online")
        _settled(broker, 0)
    finally:
        attacker.close()
    with Session(sqlite_engine) as s:
        watch = s.exec(select(Watch).where(Watch.household_id == household_id)).one()
        assert (watch.last_activity_at, watch.alert_after) == (None, None)
        assert s.exec(select(Device).where(Device.external_id == victim)).one().last_seen_at is None


def test_subscribing_to_everything_is_refused_and_reads_nothing(
    broker: TrustedBroker, clock: ManualClock
) -> None:
    spy_user, spy_password = broker.add(DeviceVendor.TASMOTA, unique("spy"))
    plug_user, plug_password = broker.add(DeviceVendor.NATIVE, unique("plug"))
    spy = connect(broker.host, broker.port, username=spy_user, password=spy_password)
    plug = connect(broker.host, broker.port, username=plug_user, password=plug_password)
    try:
        assert spy.connack == 0 and plug.connack == 0
        for stolen in ("#", "anbu/#", "tele/+/SENSOR"):
            assert spy.subscribe(stolen)[-1] == 0x80, stolen
        plug.publish(f"anbu/{plug_user.split(':', 1)[1]}/reading", reading_payload(clock.now(), 40.0))
        wait_until(lambda: broker.gateway.metrics()["stored"] >= 1, what="the gateway to store the reading")
        assert spy.heard == []
    finally:
        spy.close()
        plug.close()


def test_nobody_takes_the_gateways_client_id(
    broker: TrustedBroker, clock: ManualClock, sqlite_engine: Engine
) -> None:
    gateway_id = broker.settings.mqtt_client_id
    username, password = broker.add(DeviceVendor.NATIVE, unique("thief"))
    generation = broker.gateway.metrics()["generation"]  # moves on every connect and disconnect
    stranger = connect(broker.host, broker.port, client_id=gateway_id, clean_session=False)
    insider = connect(
        broker.host,
        broker.port,
        username=username,
        password=password,
        client_id=gateway_id,
        clean_session=False,
    )
    try:
        assert stranger.connack in REFUSED
        # A device with valid credentials gets its own session, never the gateway's.
        assert insider.connack in (0, *REFUSED)
        assert insider.heard == []
        device = username.split(":", 1)[1]
        if insider.connack == 0:
            insider.publish(f"anbu/{device}/reading", reading_payload(clock.now(), 5.0))
        else:
            honest = connect(broker.host, broker.port, username=username, password=password)
            honest.publish(f"anbu/{device}/reading", reading_payload(clock.now(), 5.0))
            honest.close()
        wait_until(
            lambda: _readings(sqlite_engine, DeviceVendor.NATIVE, device) == 1,
            what="the gateway still storing",
        )
        assert insider.heard == []
        metrics = broker.gateway.metrics()
        assert metrics["connected"] is True and metrics["generation"] == generation, "the gateway was kicked"
    finally:
        stranger.close()
        insider.close()


def test_a_will_on_another_devices_topic_never_arrives(broker: TrustedBroker, sqlite_engine: Engine) -> None:
    """A Last Will saying a victim plug is offline: refused at CONNECT (embedded broker) or dropped by
    the ACL check when it falls due (Mosquitto checks a will when it sends it)."""
    mine = unique("plug")
    username, password = broker.add(DeviceVendor.TASMOTA, mine)
    victim = unique("victim")
    broker.add(DeviceVendor.TASMOTA, victim)
    forged = raw_connect(
        broker.host, broker.port, "a", username, password, will=(f"tele/{victim}/LWT", b"Offline")
    )
    assert forged in (0, *RAW_REFUSED)
    # The same identity's will on its own topic is delivered: the control, and (sent after the
    # forged one had fallen due) the moment by which the forged one would have arrived.
    assert (
        raw_connect(broker.host, broker.port, "a", username, password, will=(f"tele/{mine}/LWT", b"Offline"))
        == 0
    )
    wait_until(lambda: _online(sqlite_engine, mine) is False, what="the plug's own will")
    _settled(broker, 1)
    assert broker.gateway.metrics()["received"] == 1, "the forged will reached the gateway"
    assert _online(sqlite_engine, victim) is None


def _online(engine: Engine, external_id: str) -> bool | None:
    with Session(engine) as s:
        return s.exec(select(Device).where(Device.external_id == external_id)).one().online


def test_a_revoked_device_is_disconnected_and_cannot_reconnect(broker: TrustedBroker) -> None:
    username, password = broker.add(DeviceVendor.TASMOTA, unique("plug"))
    plug = connect(broker.host, broker.port, username=username, password=password)
    try:
        assert plug.connack == 0
        broker.revoke(username)
        assert plug.disconnected.wait(10), "the revoked device is still connected"
    finally:
        plug.close()
    again = connect(broker.host, broker.port, username=username, password=password)
    try:
        assert again.connack in REFUSED
    finally:
        again.close()


def test_a_connected_device_revoked_is_cut_off_at_once_and_its_next_publish_not_stored(
    broker: TrustedBroker, sqlite_engine: Engine, clock: ManualClock
) -> None:
    """Not only at its next connect: a plug that stays connected and keeps publishing is
    disconnected by the broker when it is revoked, and nothing it sends afterwards is stored."""
    device = unique("stolen")
    username, password = broker.add(DeviceVendor.NATIVE, device)
    plug = RawDevice(broker.host, broker.port, username, password)
    start = clock.now() - timedelta(minutes=10)
    topic = f"{broker.settings.mqtt_native_prefix}/{device}/reading"
    try:
        assert plug.connack == 0
        assert plug.publish(topic, reading_payload(start, 100.0))
        wait_until(
            lambda: _readings(sqlite_engine, DeviceVendor.NATIVE, device) == 1, what="the first reading"
        )
        broker.revoke(username)
        assert plug.cut_off(timeout=5), "the revoked device is still connected"
        assert not plug.publish(topic, reading_payload(start + timedelta(minutes=1), 200.0))
    finally:
        plug.close()
    # Its next publish as a device would send it: a reconnect with the reading pipelined behind.
    again = encode_publish(topic, reading_payload(start + timedelta(minutes=2), 300.0), mid=1)
    assert (
        raw_connect(broker.host, broker.port, unique("again"), username, password, then=again) in RAW_REFUSED
    )
    _settled(broker, 1)
    assert _readings(sqlite_engine, DeviceVendor.NATIVE, device) == 1
    assert broker.gateway.metrics()["stored"] == 1  # (amqtt may redeliver the first under load)


def test_a_device_with_credentials_flooding_is_cut_to_its_rate(
    broker: TrustedBroker, sqlite_engine: Engine, clock: ManualClock
) -> None:
    """Identities stop strangers; a plug with valid credentials (extracted from its flash) could
    still write as fast as the broker forwards. Past ANBU_DEVICE_RATE_BURST (600 by default) its
    messages are not stored, and the first of each batch says why."""
    device = unique("chatty")
    username, password = broker.add(DeviceVendor.NATIVE, device)
    plug = RawDevice(broker.host, broker.port, username, password)
    start = clock.now() - timedelta(hours=1)
    topic = f"{broker.settings.mqtt_native_prefix}/{device}/reading"
    total = 700
    flooding = time.monotonic()
    try:
        assert plug.connack == 0
        for n in range(total):
            assert plug.publish(topic, reading_payload(start + timedelta(seconds=n), float(n % 5)))
    finally:
        plug.close()
    wait_until(lambda: broker.gateway.metrics()["received"] >= total, what="the flood to arrive")
    _settled(broker, total)
    figures = broker.gateway.metrics()
    stored = _readings(sqlite_engine, DeviceVendor.NATIVE, device)
    # Its burst, and the tokens that refill (one a second) while it floods; amqtt may redeliver
    # some under load, which only adds to rate_limited.
    refilled = math.ceil(time.monotonic() - flooding)
    assert 600 <= stored <= 600 + refilled and figures["rate_limited"] >= total - stored
    with Session(sqlite_engine) as s:
        reasons = s.exec(select(RejectedMessage.reason).where(RejectedMessage.topic == topic)).all()
    assert reasons and all("over its message rate" in reason for reason in reasons)


def test_rotation_closes_the_old_password(broker: TrustedBroker) -> None:
    username, old = broker.add(DeviceVendor.SHELLY, unique("plug"))
    plug = connect(broker.host, broker.port, username=username, password=old)
    try:
        assert plug.connack == 0
        new = broker.rotate(username)
        assert plug.disconnected.wait(10)
    finally:
        plug.close()
    assert connect(broker.host, broker.port, username=username, password=old).connack in REFUSED
    fresh = connect(broker.host, broker.port, username=username, password=new)
    try:
        assert fresh.connack == 0
    finally:
        fresh.close()


def _flood(host: str, port: int, first: int, count: int, payload: bytes) -> int:
    """In a process of its own (no GIL shared with the broker): fake devices, each a CONNECT with a
    made-up identity and a reading pipelined behind it, before any answer. Returns how many were refused."""
    refused = 0
    for n in range(first, first + count):
        fake = f"fake{n:05d}"
        publish = encode_publish(f"anbu/{fake}/reading", payload, mid=1)
        refused += (
            raw_connect(host, port, f"fake-{n}", f"native:{fake}", "guess", then=publish) in RAW_REFUSED
        )
    return refused


@pytest.mark.slow
def test_ten_thousand_fake_devices_cannot_even_connect(
    broker: TrustedBroker, sqlite_engine: Engine, clock: ManualClock
) -> None:
    before = _devices(sqlite_engine)
    payload = reading_payload(clock.now(), 100.0)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = [pool.submit(_flood, broker.host, broker.port, first, 5_000, payload) for first in (0, 5_000)]
        refused = sum(part.result() for part in parts)
    assert refused == 10_000
    _settled(broker, 0)
    assert _devices(sqlite_engine) == before
    assert broker.gateway.metrics()["received"] == 0
    with Session(sqlite_engine) as s:
        assert (
            s.exec(
                select(func.count()).select_from(Device).where(col(Device.external_id).startswith("fake"))
            ).one()
            == 0
        )
