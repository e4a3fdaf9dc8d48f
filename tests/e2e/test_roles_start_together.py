"""`anbu gateway`, `anbu worker` and `anbu api` started at the same instant on a fresh database
(as systemd or compose start them): all migrate behind the lock, each answers /healthz and
/readyz (the gateway and the worker on their own small port), and SIGTERM stops each cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import private_pg_schema
from tests.e2e.harness import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ANBU = [sys.executable, "-m", "anbu.cli"]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'roles.db'}"
        return
    with private_pg_schema(revision=None) as (url, _engine):  # empty: the roles migrate it
        yield url


def _ready(url: str, until: float) -> dict[str, Any]:
    body: dict[str, Any] = {}
    while time.monotonic() < until:
        try:
            response = httpx.get(url, timeout=5)
            body = response.json()
            if response.status_code == 200:
                return body
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} not ready: {body}")


def test_gateway_worker_and_api_start_at_once_and_report_health(database_url: str, tmp_path: Path) -> None:
    ports = {"api": free_port(), "gateway": free_port(), "worker": free_port()}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ANBU_")},
        "ANBU_DATABASE_URL": database_url,
        "ANBU_DATA_DIR": str(tmp_path),
        "ANBU_HTTP_PORT": str(ports["api"]),
        "ANBU_MQTT_EMBEDDED_PORT": str(free_port()),
        "ANBU_MQTT_CLIENT_ID": f"roles-{uuid.uuid4().hex[:8]}",
        "ANBU_OUTBOX_INTERVAL_S": "0.5",
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs = {role: tmp_path / f"{role}.log" for role in ports}
    try:
        for role in ("gateway", "worker", "api"):
            role_env = {**env, "ANBU_HEALTH_PORT": str(ports[role])} if role != "api" else env
            with logs[role].open("wb") as log:
                procs[role] = subprocess.Popen(
                    [*ANBU, role], env=role_env, stdout=log, stderr=subprocess.STDOUT
                )
        until = time.monotonic() + 120
        try:
            gateway = _ready(f"http://127.0.0.1:{ports['gateway']}/readyz", until)
            worker = _ready(f"http://127.0.0.1:{ports['worker']}/readyz", until)
            api = _ready(f"http://127.0.0.1:{ports['api']}/readyz", until)
        except AssertionError:
            raise AssertionError({role: path.read_text()[-3000:] for role, path in logs.items()}) from None
        assert gateway["role"] == "gateway" and gateway["checks"]["broker"]["connected"] is True
        assert worker["role"] == "worker"
        # Dev without Twilio: both roles that call people say nobody can be called; the gateway does not.
        assert (worker["phone"], worker["can_call"], api["phone"], api["can_call"]) == (
            "console",
            False,
            "console",
            False,
        )
        assert "phone" not in gateway
        ticks = {t["name"]: t for t in worker["checks"]["ticks"]["ticks"]}
        assert {"sweeper", "escalation", "outbox", "connectivity", "routine"} <= set(ticks)
        assert (api["status"], api["role"], set(api["checks"])) == ("ok", "api", {"database"})
        # The worker's outbox tick has run (every 0.5 s) and reports when, from the wall clock.
        for _ in range(100):
            outbox = _ready(f"http://127.0.0.1:{ports['worker']}/readyz", until)["checks"]["ticks"]["ticks"]
            if next(t for t in outbox if t["name"] == "outbox")["runs"] > 0:
                break
            time.sleep(0.2)
        last = next(t for t in outbox if t["name"] == "outbox")
        assert last["runs"] > 0 and last["last_run_at"] is not None and last["failures"] == 0
        for role in ports:
            live = httpx.get(f"http://127.0.0.1:{ports[role]}/healthz", timeout=5)
            assert live.status_code == 200 and live.json()["role"] == role
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for role, proc in procs.items():
            try:
                codes[role] = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[role] = None
    assert codes == {"gateway": 0, "worker": 0, "api": 0}, {r: p.read_text()[-2000:] for r, p in logs.items()}
