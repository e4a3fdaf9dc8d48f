"""Issue 14.7 (broker side): with the configuration `anbu broker mosquitto-config` writes, a Mosquitto
crash (SIGKILL) loses neither the gateway's session nor anything queued for it.

With Mosquitto's default autosave (every 1800 s) the fault campaign lost all 2,000 queued messages
and 713 of 3,000 published before the gateway resubscribed. Checked: with the generated file's
``autosave_on_changes true`` / ``autosave_interval 1`` turned back to the default, this test fails.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.clock import ManualClock
from core.db import session_scope
from core.enums import DeviceVendor
from gateway.auth import credentials
from gateway.service import Gateway
from tests.factories import prod_settings
from tests.integration.gateway.mosquitto_harness import DynsecMosquitto, needs_mosquitto
from tests.integration.gateway.mqtt_helpers import readings_for, unique, wait_until
from tests.integration.gateway.trust_harness import connect

pytestmark = [needs_mosquitto, pytest.mark.slow]

BACKLOG, AFTER_RESTART = 2000, 500


START = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)  # an hour before the test clock's now


def _payload(n: int) -> bytes:
    ts = START + timedelta(seconds=n)
    return json.dumps({"v": 1, "ts": ts.isoformat(), "power_w": float(n % 50)}).encode()


def _publish(host: str, port: int, username: str, password: str, device: str, numbers: range) -> None:
    plug = connect(host, port, username=username, password=password)
    try:
        assert plug.connack == 0
        infos = [plug.client.publish(f"anbu/{device}/reading", _payload(n), qos=1) for n in numbers]
        for info in infos:
            info.wait_for_publish(30)  # PUBACK: the broker has it
            assert info.is_published()
    finally:
        plug.close()


def test_a_broker_crash_loses_nothing_queued_for_the_gateway(
    tmp_path: Path, sqlite_engine: Engine, clock: ManualClock
) -> None:
    # One plug's 2,500-reading backlog is the load here, not a flood to cut (gateway/flood.py).
    base = prod_settings(mqtt_session_expiry_s=3600, device_rate_burst=1_000_000)
    device = unique("kettle")
    with session_scope(sqlite_engine) as s:
        issued = credentials.add(s, DeviceVendor.NATIVE, device, settings=base, now=clock.now())
    broker = DynsecMosquitto(tmp_path / "mosquitto", base, sqlite_engine)
    broker.start()
    env = broker.env
    settings = base.model_copy(
        update={"mqtt_url": env["ANBU_MQTT_URL"], "mqtt_client_id": env["ANBU_MQTT_CLIENT_ID"]}
    )
    try:
        first = Gateway(settings, sqlite_engine, clock)  # makes the persistent session and its subscriptions
        first.start()
        assert first.wait_connected(15)
        first.stop()

        _publish("127.0.0.1", broker.port, issued.username, issued.password, device, range(BACKLOG))
        broker.kill()  # SIGKILL: nothing saved on the way out
        broker.start()
        # Plugs keep publishing before the gateway is back: the restored session queues them too.
        _publish(
            "127.0.0.1",
            broker.port,
            issued.username,
            issued.password,
            device,
            range(BACKLOG, BACKLOG + AFTER_RESTART),
        )

        second = Gateway(settings, sqlite_engine, clock)
        second.start()
        try:
            total = BACKLOG + AFTER_RESTART
            wait_until(
                lambda: readings_for(sqlite_engine, device)[0] >= total,
                timeout=120,
                what="every reading stored",
            )
            assert readings_for(sqlite_engine, device) == (total, total)
        finally:
            second.stop()
    finally:
        broker.stop()
