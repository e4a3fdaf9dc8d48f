"""Small helpers for the gateway's broker tests: a plain paho publisher and polling with a timeout."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from core.models import Device, Reading


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
