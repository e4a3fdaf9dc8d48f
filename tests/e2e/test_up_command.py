"""`anbu up` runs every role in one process: API answers, the embedded broker refuses an anonymous
client and takes the message of a plug added with `anbu devices add` (while it runs), the gateway
stores it, and SIGTERM (as from systemd) stops it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

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
        "ANBU_MQTT_AUTH": "required",
    }
    log = (tmp_path / "up.log").open("w")
    proc = subprocess.Popen([*ANBU, "up"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180  # a busy CI machine: starting three roles can take a minute
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{http_port}/healthz")
                break
            except httpx.TransportError:
                time.sleep(0.3)
        assert health is not None and health.status_code == 200, (tmp_path / "up.log").read_text()

        assert _connack(mqtt_port) == 135, "an anonymous client was admitted"  # not authorised
        added = subprocess.run(
            [*ANBU, "devices", "add", "up-test-kettle", "--vendor", "native", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        identity = json.loads(added.stdout)
        assert identity["username"] == "native:up-test-kettle" and len(identity["password"]) >= 32
        deadline = time.monotonic() + 10  # the broker sees a new identity within about a second
        while _connack(mqtt_port, identity["username"], identity["password"]) != 0:
            assert time.monotonic() < deadline, "the added device was never admitted"
            time.sleep(0.2)
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="up-test-plug")
        client.username_pw_set(identity["username"], identity["password"])
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


def _connack(port: int, username: str | None = None, password: str | None = None) -> int | None:
    answer: list[int] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"up-test-{time.monotonic_ns()}")
    if username is not None:
        client.username_pw_set(username, password)

    def on_connect(_c: object, _u: object, _f: object, rc: Any, _p: object) -> None:
        answer.append(int(rc.value))
        done.set()

    client.on_connect = on_connect
    client.on_disconnect = lambda *_a: done.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    done.wait(10)
    client.loop_stop()
    client.disconnect()
    return answer[0] if answer else None
