"""Reading times through a real Mosquitto (ANBU_TEST_MQTT_URL): the gateway's own clock stepping
back (issue 14.8), and a broker's redelivery of readings without a device time (issue 14.1)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import DeviceVendor, EdgeKind
from core.models import ActivityEdge, Device, Reading, Watch
from core.settings import Settings
from gateway.service import Gateway, _Delivery
from tests.conftest import TEST_MQTT_URL, needs_mqtt
from tests.factories import make_device, make_household
from tests.integration.gateway.mqtt_helpers import Publisher, unique, wait_until
from tests.integration.gateway.test_mosquitto_e2e import mosquitto_settings  # noqa: F401 (fixture)

pytestmark = needs_mqtt


def _kettle(engine: Engine, vendor: DeviceVendor, external_id: str) -> int:
    with session_scope(engine) as s:
        household = make_household(s)
        make_device(s, household=household, vendor=vendor, external_id=external_id, appliance="kettle")
        assert household.id is not None
        return household.id


def _readings(engine: Engine, external_id: str) -> list[Reading]:
    with Session(engine) as s:
        query = (
            select(Reading).join(Device).where(Device.external_id == external_id).order_by(col(Reading.ts))
        )
        return list(s.exec(query).all())


@contextmanager
def _running(gateway: Gateway) -> Iterator[Publisher]:
    """The gateway started and subscribed, and a plug-side publisher; both stopped afterwards."""
    assert TEST_MQTT_URL
    gateway.start()
    publisher = Publisher(TEST_MQTT_URL)
    try:
        assert gateway.wait_connected(10)
        yield publisher
    finally:
        gateway.stop()
        publisher.close()


def test_a_gateway_clock_stepped_back_an_hour_hides_no_activity(
    mosquitto_settings: Settings,  # noqa: F811
    sqlite_engine: Engine,
    clock: ManualClock,
) -> None:
    """The host's clock steps back an hour while the gateway runs; a plug with a right clock
    reports the kettle switched on. Before, its time looked an hour in the future, was replaced
    by the (stepped back) receive time, and made no switch-on: the activity was hidden."""
    plug = unique("kettle")
    hid = _kettle(sqlite_engine, DeviceVendor.NATIVE, plug)
    topic = f"{mosquitto_settings.mqtt_native_prefix}/{plug}/reading"
    t0 = clock.now()
    with _running(Gateway(mosquitto_settings, sqlite_engine, clock)) as publisher:
        publisher.publish(topic, json.dumps({"v": 1, "ts": t0.isoformat(), "power_w": 0.0}))
        wait_until(lambda: len(_readings(sqlite_engine, plug)) == 1, what="the idle reading")
        clock.set(t0 - timedelta(hours=1))  # the host clock steps back
        for seconds, power in ((1, 1800.0), (2, 1800.0), (3, 0.0)):
            at = t0 + timedelta(seconds=seconds)
            publisher.publish(topic, json.dumps({"v": 1, "ts": at.isoformat(), "power_w": power}))
        wait_until(lambda: len(_readings(sqlite_engine, plug)) == 4, what="the kettle's readings")
    assert [r.ts for r in _readings(sqlite_engine, plug)] == [t0 + timedelta(seconds=s) for s in range(4)]
    with Session(sqlite_engine) as s:
        on = s.exec(select(ActivityEdge.ts).where(ActivityEdge.kind == EdgeKind.ON)).all()
        watch = s.get_one(Watch, hid)
    assert on == [t0 + timedelta(seconds=1)]
    assert watch.last_activity_at == t0 + timedelta(seconds=1)
    # Receive times went on from where they were, not an hour back.
    assert all(r.received_at >= t0 for r in _readings(sqlite_engine, plug))


class _CrashesBeforeAcking(Gateway):
    """Commits every batch but never acknowledges it: what a crash between the two leaves."""

    def _ack_in_order(self, deliveries: Sequence[_Delivery]) -> None:
        return None


def test_readings_without_a_device_time_redelivered_after_commit_count_once(
    mosquitto_settings: Settings,  # noqa: F811
    sqlite_engine: Engine,
    clock: ManualClock,
) -> None:
    """Shelly Gen1 readings are committed, the gateway stops before acknowledging them, and the
    broker sends them all again to the restarted gateway (DUP flag, same packet ids). Their times
    were made up on arrival, so only their receipts can tell: each is stored once."""
    plug = f"shellyplug-s-{unique('x')[-6:].upper()}"
    topic = f"{mosquitto_settings.mqtt_shelly_gen1_prefix}/{plug}/relay/0/power"
    powers = [float(n) for n in range(10)]  # below Mosquitto's default in-flight window (20)
    first = _CrashesBeforeAcking(mosquitto_settings, sqlite_engine, clock)
    with _running(first) as publisher:
        for power in powers:
            publisher.publish(topic, f"{power:g}")
        wait_until(lambda: len(_readings(sqlite_engine, plug)) == len(powers), what="all stored once")
    assert first.metrics()["acked"] == 0

    clock.advance(timedelta(seconds=30))
    second = Gateway(mosquitto_settings, sqlite_engine, clock)
    second.start()
    try:
        wait_until(lambda: second.metrics()["duplicates"] == len(powers), timeout=30, what="the redeliveries")
    finally:
        second.stop()
    assert [r.power_w for r in _readings(sqlite_engine, plug)] == powers
    assert second.metrics()["stored"] == 0
