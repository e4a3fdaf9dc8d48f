"""`anbu up` runs every role in one process: API answers, the embedded broker takes a plug's
message, the gateway stores it against a pending device, and SIGTERM (as from systemd) stops it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.e2e.harness import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ANBU = [sys.executable, "-m", "anbu.cli"]


def test_up_serves_ingests_and_stops(tmp_path: Path) -> None:
    http_port, mqtt_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ANBU_")},
        "ANBU_DATABASE_URL": f"sqlite:///{tmp_path / 'up.db'}",
        "ANBU_HTTP_PORT": str(http_port),
        "ANBU_MQTT_EMBEDDED_PORT": str(mqtt_port),
    }
    log = (tmp_path / "up.log").open("w")
    proc = subprocess.Popen([*ANBU, "up"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{http_port}/healthz")
                break
            except httpx.TransportError:
                time.sleep(0.3)
        assert health is not None and health.status_code == 200, (tmp_path / "up.log").read_text()

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="up-test-plug")
        client.connect("127.0.0.1", mqtt_port)
        client.loop_start()
        payload = json.dumps({"v": 1, "ts": time.time(), "power_w": 1500.0, "energy_wh": 10.0})
        client.publish("anbu/up-test-kettle/reading", payload, qos=1).wait_for_publish(5)
        client.loop_stop()
        client.disconnect()

        stats: dict[str, int] = {}
        for _ in range(50):
            out = subprocess.run(
                [*ANBU, "stats", "--json"], env=env, capture_output=True, text=True, check=True
            )
            stats = json.loads(out.stdout)
            if stats["readings"] >= 1:
                break
            time.sleep(0.2)
        assert stats["readings"] == 1 and stats["pending_devices"] == 1, stats
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        log.close()
    assert code == 0, (tmp_path / "up.log").read_text()[-3000:]
