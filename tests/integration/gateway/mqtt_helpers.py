"""Small helpers for the gateway's broker tests: a plain paho publisher, polling with a timeout, and
a gateway's settings on the test broker that no other test's traffic reaches."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from core.models import Device, Reading
from core.settings import Settings
from gateway.adapters import tasmota
from tests.conftest import TEST_MQTT_URL


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll *predicate* until true; fail with *what* after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class Publisher:
    """A device-side client: connects, publishes at QoS 1 and waits for the broker's PUBACK."""

    def __init__(self, url: str, *, protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311) -> None:
        parts = urlsplit(url)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=unique("anbu-test-pub"), protocol=protocol
        )
        connected = threading.Event()
        self.client.on_connect = lambda *_args: connected.set()
        # Like a plug, retry every second or two: paho's default doubles to 120 s, so a broker
        # restart that took a few seconds could keep the publisher away for half a minute.
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
        self.client.loop_start()
        if not connected.wait(10):
            raise AssertionError(f"publisher could not connect to {url}")

    def publish(self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout=10)
        assert info.is_published(), f"publish to {topic} not acknowledged"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def reading_payload(ts: datetime, power_w: float) -> bytes:
    return json.dumps({"v": 1, "ts": ts.isoformat(), "power_w": power_w}).encode()


def readings_for(engine: Engine, external_id_prefix: str) -> tuple[int, int]:
    """(rows, distinct (device, channel, ts)) for devices whose id starts with the prefix."""
    with Session(engine) as s:
        query = select(Reading).join(Device).where(col(Device.external_id).startswith(external_id_prefix))
        rows = s.exec(select(func.count()).select_from(query.subquery())).one()
        keys = {(r.device_id, r.channel, r.ts) for r in s.exec(query).all()}
    return rows, len(keys)


def isolated_prefixes(tag: str) -> dict[str, str]:
    """Topic roots of every vendor, unique to one test, so a shared broker's other traffic never reaches it.

    (Shelly Gen2+ and ESPHome subscribe under an empty root by default: ``+/online``, ``+/status``.)
    Tasmota's ``stat/`` is a module constant: tests monkeypatch ``tasmota.STAT_PREFIX`` themselves.
    """
    return {
        "mqtt_native_prefix": f"anbu-{tag}",
        "mqtt_tasmota_prefix": f"tele-{tag}",
        "mqtt_shelly_gen1_prefix": f"shellies-{tag}",
        "mqtt_shelly_prefix": f"shelly-{tag}",
        "mqtt_zigbee2mqtt_prefix": f"z2m-{tag}",
        "mqtt_esphome_prefix": f"esp-{tag}",
    }


def forget_session(url: str, client_id: str) -> None:
    """Connect once with clean start and no expiry: Mosquitto drops the test's persistent session."""
    parts = urlsplit(url)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 0
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883, clean_start=True, properties=props)
    client.loop_start()
    client.disconnect()
    client.loop_stop()


def broker_settings(tag: str, **overrides: Any) -> Settings:
    """A gateway's settings on the test broker: a persistent session (300 s), and a client id and
    topic roots of *tag* (give it :func:`unique`)."""
    assert TEST_MQTT_URL
    values: dict[str, Any] = {
        "mqtt_url": TEST_MQTT_URL,
        "mqtt_client_id": f"anbu-test-gw-{tag}",
        "mqtt_session_expiry_s": 300,
        **isolated_prefixes(tag),
        **overrides,
    }
    return Settings(_env_file=None, **values)


@contextmanager
def isolated_gateway_settings(
    monkeypatch: pytest.MonkeyPatch, name: str, **overrides: Any
) -> Iterator[Settings]:
    """:func:`broker_settings` for a fixture: Tasmota's ``stat/`` root made unique too, and the
    session forgotten on the broker afterwards."""
    assert TEST_MQTT_URL
    tag = unique(name)
    # "stat/" is fixed by Tasmota; give this test its own so no one else's traffic reaches it.
    monkeypatch.setattr(tasmota, "STAT_PREFIX", f"stat-{tag}")
    settings = broker_settings(tag, **overrides)
    try:
        yield settings
    finally:
        forget_session(TEST_MQTT_URL, settings.mqtt_client_id)
