"""The runner publishes real device payloads to an MQTT broker, and they arrive.

Uses ANBU_TEST_MQTT_URL when set, else an in-process amqtt broker on a free port. Device ids
carry a random tag so runs sharing a broker never see each other's messages.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulator.households import DeviceSpec, HouseholdSpec, RoutineSlot, demo_district, uses_on_day
from simulator.plugs import SimulatedPlug
from simulator.runner import Simulator


@dataclass
class Received:
    topic: str
    payload: str
    retain: bool


class Subscriber:
    def __init__(self, host: str, port: int, filters: list[str]) -> None:
        self.messages: list[Received] = []
        self._changed = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex}"
        )
        self.client.on_connect = lambda c, *_: c.subscribe([(f, 1) for f in filters])
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "subscription not acknowledged"

    def _on_message(self, _client, _userdata, message) -> None:
        with self._changed:
            self.messages.append(Received(message.topic, message.payload.decode(), bool(message.retain)))
            self._changed.notify_all()

    def wait_until(self, predicate, timeout: float = 10.0) -> bool:
        """Re-checked on every message, and every 50 ms for predicates about other state."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self.messages):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.05))
            return True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def tagged(household: HouseholdSpec, tag: str) -> HouseholdSpec:
    rename = {d.external_id: f"{d.external_id}-{tag}" for d in household.devices}
    return replace(
        household,
        code=f"{household.code}-{tag}",
        devices=tuple(replace(d, external_id=rename[d.external_id]) for d in household.devices),
        routine=tuple(replace(s, device=rename[s.device]) for s in household.routine),
    )


def availability_topics(households: list[HouseholdSpec]) -> list[str]:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        SimulatedPlug(d.vendor, d.external_id, started_at=t0).availability_topic
        for h in households
        for d in h.devices
    ]


def filters_for(households: list[HouseholdSpec]) -> list[str]:
    return [
        f"tele/{d.external_id}/#" if d.vendor == "tasmota" else f"anbu/{d.external_id}/#"
        for h in households
        for d in h.devices
    ]


def clear_retained(host: str, port: int, topics: list[str]) -> None:
    """Leave a shared broker as we found it."""
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    client.connect(host, port)
    client.loop_start()
    for topic in topics:
        client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


@pytest.fixture
def district() -> list[HouseholdSpec]:
    tag = uuid.uuid4().hex[:8]
    return [tagged(h, tag) for h in demo_district(households=2, stopper_index=0)]


class ManualTime:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def readings(messages: list[Received]) -> list[Received]:
    return [m for m in messages if m.topic.endswith(("/SENSOR", "/reading"))]


def test_runner_publishes_readings_and_availability(mqtt_broker, district):
    host, port = mqtt_broker
    plugs = sum(len(h.devices) for h in district)
    subscriber = Subscriber(host, port, filters_for(district))
    clock = ManualTime(datetime(2026, 3, 2, 18, 0, tzinfo=UTC))  # 03:00 in Seoul: everything on standby
    continued = district[0].devices[0]  # its meter continues from a given reading
    sim = Simulator(
        district,
        mqtt_host=host,
        mqtt_port=port,
        report_interval_s=10,
        time_source=clock,
        tick_s=3600,
        initial_energy_wh={continued.external_id: 1234.0},
    )
    try:
        sim.start(wait_connected_s=10)
        assert sim.stats().connected == plugs
        online = {"Online", "online"}
        assert subscriber.wait_until(lambda ms: sum(m.payload in online for m in ms) == plugs)

        assert sim.step() == plugs  # the first report of every plug
        clock.now += timedelta(seconds=1)
        assert sim.step() == 0  # nothing changed, nothing due
        clock.now += timedelta(seconds=10)
        assert sim.step() == plugs  # the report interval has passed

        assert subscriber.wait_until(lambda ms: len(readings(ms)) == 2 * plugs)
        assert subscriber.wait_until(lambda _ms: sim.stats().acked == sim.stats().published)
        assert sim.stats().published == 3 * plugs and sim.stats().failed == 0

        for message in readings(subscriber.messages):
            data = json.loads(message.payload)
            assert not message.retain
            if continued.external_id in message.topic:
                energy_wh = (
                    data["ENERGY"]["Total"] * 1000 if continued.vendor == "tasmota" else data["energy_wh"]
                )
                assert energy_wh == pytest.approx(1234.0, abs=1.0)
            elif message.topic.startswith("tele/"):
                assert data["ENERGY"]["Power"] <= 2 and data["ENERGY"]["Total"] > 5  # kWh, standby
                assert data["Time"].startswith("2026-03-03T03:00")  # Seoul local time, no offset
            else:
                assert data["v"] == 1 and data["channel"] == "0" and data["power_w"] <= 2
                assert data["energy_wh"] > 5000  # Wh
                assert data["ts"] in (clock.now.timestamp(), (clock.now - timedelta(seconds=11)).timestamp())
    finally:
        sim.stop()
    assert subscriber.wait_until(lambda ms: sum(m.payload in ("Offline", "offline") for m in ms) == plugs)
    subscriber.close()
    clear_retained(host, port, availability_topics(district))


def test_stopper_goes_quiet_after_stop_after_s(mqtt_broker, district):
    host, port = mqtt_broker
    stopper = district[0]
    kettle = next(d for d in stopper.devices if d.appliance == "kettle")
    use = next(
        u
        for offset in range(30)
        for u in uses_on_day(stopper, datetime(2026, 3, 2).date() + timedelta(days=offset))
        if u.device == kettle.external_id
    )
    clock = ManualTime(use.start + timedelta(seconds=10))  # the kettle is boiling
    subscriber = Subscriber(host, port, filters_for([stopper]))
    sim = Simulator(
        [stopper, district[1]],
        mqtt_host=host,
        mqtt_port=port,
        time_source=clock,
        stop_after_s=20,
        tick_s=3600,
    )
    try:
        sim.start(wait_connected_s=10)
        assert sim.households[0].stop_at == clock.now + timedelta(seconds=20)
        assert sim.households[1].stop_at is None
        sim.step()
        clock.now += timedelta(seconds=30)
        sim.step()

        def kettle_powers(ms: list[Received]) -> list[float]:
            return [
                json.loads(m.payload)["ENERGY"]["Power"]
                if kettle.vendor == "tasmota"
                else json.loads(m.payload)["power_w"]
                for m in readings(ms)
                if kettle.external_id in m.topic
            ]

        assert subscriber.wait_until(lambda ms: len(kettle_powers(ms)) == 2)
        assert kettle_powers(subscriber.messages) == [1800, 0]
    finally:
        sim.stop()
        subscriber.close()
        clear_retained(host, port, availability_topics(district))


def test_last_will_announces_a_plug_that_drops_off(mqtt_broker):
    host, port = mqtt_broker
    tag = uuid.uuid4().hex[:8]
    device = DeviceSpec(f"tasmota_LWT{tag}", "tasmota", "kettle")
    home = HouseholdSpec(
        code=f"LWT-{tag}",
        resident_name="x",
        resident_phone="+821000000009",
        devices=(device,),
        routine=(RoutineSlot(device.external_id, datetime.min.time(), datetime.min.time()),),
    )
    subscriber = Subscriber(host, port, [f"tele/{device.external_id}/LWT"])
    sim = Simulator([home], mqtt_host=host, mqtt_port=port, tick_s=3600)
    try:
        sim.start(wait_connected_s=10)
        assert subscriber.wait_until(lambda ms: [m.payload for m in ms] == ["Online"])
        # The network goes away under the plug (no DISCONNECT): the broker must publish the Will.
        sock = sim._plugs[0].client.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)
        assert subscriber.wait_until(lambda ms: "Offline" in [m.payload for m in ms])
        # ... and the plug reconnects by itself and says so again
        assert subscriber.wait_until(lambda ms: [m.payload for m in ms][-1:] == ["Online"], timeout=15)
    finally:
        sim.stop(announce_offline=False)
        subscriber.close()
        clear_retained(host, port, [f"tele/{device.external_id}/LWT"])


def test_run_forever_returns_when_stopped_from_another_thread(mqtt_broker, district):
    host, port = mqtt_broker
    sim = Simulator(district[:1], mqtt_host=host, mqtt_port=port, tick_s=0.05)
    runner = threading.Thread(target=sim.run_forever, daemon=True)
    runner.start()
    try:
        plugs = len(district[0].devices)
        deadline = time.monotonic() + 10
        while sim.stats().published < 2 * plugs and time.monotonic() < deadline:  # online + first reading
            time.sleep(0.05)
        assert sim.stats().published >= 2 * plugs  # the background loop is stepping on its own
    finally:
        sim.stop()
        runner.join(timeout=10)
        clear_retained(host, port, availability_topics(district))
    assert not runner.is_alive()
