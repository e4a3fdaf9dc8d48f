"""/healthz and /readyz for every role: the probes each role has, and the small server the gateway
and the worker answer on when they run alone."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine

from anbu.health_server import HealthServer
from anbu.runtime import Running, role_health, start_health_server
from anbu.ticks import LATE_MIN_S, Tick, TickRunner
from core.clock import ManualClock
from core.health import Health
from core.settings import Settings


class FakeGateway:
    def __init__(self) -> None:
        self.figures: dict[str, Any] = {
            "connected": True,
            "generation": 1,
            "queue_depth": 0,
            "messages_per_s": 3.0,
            "db_retries": 0,
            "auth_failed": False,
            "stored": 10,
        }
        self.thread_alive = True

    def metrics(self) -> dict[str, Any]:
        return dict(self.figures)

    def alive(self) -> bool:
        return self.thread_alive


def test_gateway_is_ready_only_while_connected_and_live_only_while_its_thread_runs(
    sqlite_engine: Engine,
) -> None:
    gateway = FakeGateway()
    health = role_health("gateway", sqlite_engine, gateway=gateway)
    ok, body = health.readiness()
    assert ok and body["role"] == "gateway"
    assert body["checks"]["broker"] == {
        "ok": True,
        "connected": True,
        "generation": 1,
        "queue_depth": 0,
        "messages_per_s": 3.0,
        "db_retries": 0,
        "auth_failed": False,
    }
    assert body["checks"]["database"]["ok"] is True

    gateway.figures["connected"] = False
    ok, body = health.readiness()
    assert not ok and body["status"] == "error" and body["checks"]["broker"]["ok"] is False
    assert health.liveness()[0]  # a lost broker is not a reason to restart: paho reconnects

    gateway.figures |= {"connected": True, "auth_failed": True}  # refused credentials: gave up
    assert not health.readiness()[0]

    gateway.thread_alive = False
    ok, body = health.liveness()
    assert not ok and body == {"status": "error", "role": "gateway", "failing": ["gateway"]}


def test_a_deaf_gateway_is_not_ready_and_says_why(sqlite_engine: Engine) -> None:
    # Issue 12: connected, subscribed, and hearing nothing for longer than the plugs' reporting allows.
    gateway = FakeGateway()
    gateway.figures |= {"deaf": False, "seconds_since_heard": 2.0, "deaf_limit_s": float("inf")}
    health = role_health("gateway", sqlite_engine, gateway=gateway)
    ok, body = health.readiness()
    assert ok and body["checks"]["broker"]["deaf_limit_s"] is None  # no plug expected: JSON null
    json.dumps(body, allow_nan=False)
    gateway.figures |= {"deaf": True, "seconds_since_heard": 660.0, "deaf_limit_s": 90.0}
    ok, body = health.readiness()
    assert not ok and body["checks"]["broker"]["ok"] is False and body["checks"]["broker"]["deaf"] is True
    assert (body["checks"]["broker"]["seconds_since_heard"], body["checks"]["broker"]["deaf_limit_s"]) == (
        660.0,
        90.0,
    )
    assert health.liveness()[0]  # its own reconnects and probes do what a restart would


def test_worker_is_not_ready_when_a_tick_is_late_and_says_which(sqlite_engine: Engine) -> None:
    now = [100.0]
    runner = TickRunner(
        [Tick("sweeper", 5.0, lambda: None), Tick("outbox", 1.0, lambda: None)],
        ManualClock(datetime(2026, 3, 2, tzinfo=UTC)),
        monotonic=lambda: now[0],
    )
    runner.start()
    try:
        health = role_health("worker", sqlite_engine, ticks=runner)
        ok, body = health.readiness()
        assert ok, body
        assert [t["name"] for t in body["checks"]["ticks"]["ticks"]] == ["sweeper", "outbox"]
        now[0] += 5.0 + LATE_MIN_S + 1  # neither has run for over a minute past its interval
        ok, body = health.readiness()
        assert not ok and body["checks"]["ticks"]["late"] == ["sweeper", "outbox"]
        assert health.liveness()[0]
    finally:
        runner.stop()
    assert not health.liveness()[0]  # the loop and APScheduler stopped


def test_a_probe_that_raises_fails_with_its_type_only() -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("call to +821012345678 failed")

    ok, body = Health("x", ready={"thing": broken}).readiness()
    assert not ok and body["checks"]["thing"] == {"ok": False, "error": "RuntimeError"}


def _get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_small_server_answers_both_paths_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a directory should be")
    broken = create_engine(f"sqlite:///{tmp_path / 'blocker' / 'anbu.db'}")
    server = HealthServer(role_health("worker", broken), "127.0.0.1", 0)
    server.start()
    try:
        assert _get(server.port, "/healthz") == (200, {"status": "ok", "role": "worker"})
        status, body = _get(server.port, "/readyz")
        assert status == 503 and body["checks"]["database"] == {"ok": False, "error": "OperationalError"}
        assert _get(server.port, "/metrics")[0] == 404
    finally:
        server.stop()


def test_health_port_setting_default_and_off(sqlite_engine: Engine, tmp_path: Path) -> None:
    running = Running()
    health = role_health("worker", sqlite_engine)
    off = Settings(_env_file=None, data_dir=tmp_path, health_port=0)
    assert start_health_server(off, health, running, default_port=1) is None
    chosen = Settings(_env_file=None, data_dir=tmp_path, health_port=_free_port())
    try:
        server = start_health_server(chosen, health, running, default_port=1)
        assert server is not None and server.port == chosen.health_port
        assert _get(server.port, "/healthz") == (200, {"status": "ok", "role": "worker"})
    finally:
        running.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("value", ["-1", "70000"])
def test_health_port_is_validated(value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANBU_HEALTH_PORT", value)
    with pytest.raises(ValueError, match="health_port"):
        Settings(_env_file=None, data_dir=tmp_path)
