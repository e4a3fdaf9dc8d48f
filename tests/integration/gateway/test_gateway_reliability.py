"""Nothing lost, nothing doubled, against real Mosquitto brokers (ANBU_TEST_MQTT_URL; skipped otherwise).

- the gateway *process* is killed with SIGKILL mid-stream and restarted: every message stored once;
- a private Mosquitto with persistence (free port, config in tmp_path) restarts mid-stream: nothing lost;
- two gateway processes share a subscription (ANBU_MQTT_SHARE_GROUP): every message stored once.

Readings carry distinct device timestamps, so "stored once" is checked by the unique key and the count.
"""

from __future__ import annotations

import getpass
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import make_engine, session_scope
from core.enums import DeviceVendor, SystemIncidentKind
from core.migrate import upgrade
from core.models import Device, GatewayStatus, Reading
from core.settings import Settings
from gateway import incidents
from gateway.auth import credentials
from gateway.batches import BatchProcessor
from gateway.ingest import BatchResult
from gateway.service import RECEIVE_MAXIMUM, Gateway
from tests.conftest import TEST_MQTT_URL, needs_mqtt
from tests.factories import prod_settings
from tests.integration.gateway.mosquitto_harness import (
    DynsecMosquitto,
    MosquittoProcess,
    free_port,
    needs_mosquitto,
)
from tests.integration.gateway.mqtt_helpers import (
    Publisher,
    forget_session,
    isolated_prefixes,
    reading_payload,
    readings_for,
    unique,
    wait_until,
)
from tests.integration.gateway.trust_harness import connect

pytestmark = [needs_mqtt, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
BACKLOG_BURST = 1_000_000  # no device rate limit in the way of one device's long backlog


def _payloads(count: int) -> list[bytes]:
    # The gateway processes run on the system clock; device timestamps must look plausible to it
    # (within two days), or they would be replaced by the receive time and could not deduplicate.
    start = datetime.now(UTC) - timedelta(hours=1)
    return [
        reading_payload(start + timedelta(milliseconds=100 * i), float(i % 4) * 300) for i in range(count)
    ]


class GatewayProcess:
    """``anbu gateway`` in its own process, as deployed."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from anbu.cli import main; raise SystemExit(main(['gateway']))"],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def _gateway_env(
    tmp_path: Path, db_url: str, broker_url: str, client_id: str, tag: str, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANBU_")}
    env.update(
        {
            "ANBU_ENV": "dev",
            "ANBU_DATA_DIR": str(tmp_path),
            "ANBU_DATABASE_URL": db_url,
            "ANBU_MQTT_URL": broker_url,
            "ANBU_MQTT_CLIENT_ID": client_id,
            "ANBU_MQTT_SESSION_EXPIRY_S": "300",
            # No health server: two gateways (or another test's) would fight over its default port.
            "ANBU_HEALTH_PORT": "0",
            # One device's stream of hundreds to thousands of readings is these tests' load, not a
            # flood to cut (gateway/flood.py has its own tests).
            "ANBU_DEVICE_RATE_BURST": str(BACKLOG_BURST),
            **{f"ANBU_{key.upper()}": value for key, value in isolated_prefixes(tag).items()},
            **extra,
        }
    )
    return env


def _wait_subscribed(publisher: Publisher, topic_of: str, engine: Engine, probe_prefix: str) -> None:
    """Publish probes until one is stored: the gateway's session and subscriptions are in place.

    A gateway process starting on a busy machine (imports, migrations check) can take a minute."""
    deadline = time.monotonic() + 120
    n = 0
    while readings_for(engine, probe_prefix)[0] == 0:
        if time.monotonic() > deadline:
            raise AssertionError("gateway never stored a probe message")
        publisher.publish(
            topic_of.format(device=f"{probe_prefix}-{n}"), reading_payload(datetime.now(UTC), 1.0)
        )
        n += 1
        try:
            wait_until(lambda: readings_for(engine, probe_prefix)[0] > 0, timeout=0.5, what="probe")
        except AssertionError:
            continue


def _publish_all(
    publisher: Publisher,
    topic: str,
    payloads: list[bytes],
    progress: list[int],
    *,
    pause_after: int | None = None,
    resume: threading.Event | None = None,
    pace_s: float = 0.0,
) -> threading.Thread:
    """Publish in the background; optionally hold after ``pause_after`` messages until ``resume``,
    and wait ``pace_s`` between messages (a live stream rather than a burst)."""

    def run() -> None:
        for i, payload in enumerate(payloads):
            if i == pause_after and resume is not None:
                resume.wait(60)
            _publish_until_acked(publisher.client, topic, payload)
            progress[0] = i + 1
            if pace_s:
                time.sleep(pace_s)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _half_stream(
    publisher: Publisher,
    topic_of: str,
    engine: Engine,
    device: str,
    total: int,
    *,
    stored: int,
    timeout: float,
) -> tuple[threading.Thread, list[int], threading.Event]:
    """Once the gateway is subscribed, publish ``total`` readings of ``device`` in the background,
    holding the second half until the returned event is set; return when ``stored`` are stored.
    Also the thread, and how many the broker acknowledged so far (``progress[0]``)."""
    _wait_subscribed(publisher, topic_of, engine, unique("probe"))
    progress, resume = [0], threading.Event()
    thread = _publish_all(
        publisher,
        topic_of.format(device=device),
        _payloads(total),
        progress,
        pause_after=total // 2,
        resume=resume,
    )
    wait_until(
        lambda: readings_for(engine, device)[0] >= stored, timeout=timeout, what=f"{stored} readings stored"
    )
    return thread, progress, resume


def _publish_until_acked(client: mqtt.Client, topic: str, payload: bytes, patience_s: float = 120) -> None:
    """What a plug does: keep a QoS 1 message until the broker acknowledges it, across reconnects.

    paho re-sends an unacknowledged message itself after a reconnect, so a message in flight is
    waited for, not copied; one refused while disconnected is published again once connected. A
    copy that reaches the broker twice is deduplicated by its timestamp. Only ``patience_s``
    without an acknowledgement fails (a loaded CI machine is slow, not wrong).
    """
    deadline = time.monotonic() + patience_s
    while time.monotonic() < deadline:
        info = client.publish(topic, payload, qos=1)
        try:
            info.wait_for_publish(timeout=max(deadline - time.monotonic(), 0.1))
            if info.is_published():
                return
        except RuntimeError:  # paho: "not currently connected"
            wait_until(
                client.is_connected, timeout=max(deadline - time.monotonic(), 0.1), what="publisher back"
            )
    raise AssertionError(f"broker never acknowledged a message on {topic} within {patience_s:.0f} s")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    upgrade(url)
    yield url


def test_kill9_mid_stream_then_restart_stores_every_message_exactly_once(
    tmp_path: Path, sqlite_url: str
) -> None:
    assert TEST_MQTT_URL
    tag = unique("k9")
    env = _gateway_env(tmp_path, sqlite_url, TEST_MQTT_URL, f"anbu-test-{tag}", tag)
    engine = make_engine(sqlite_url)
    topic_of = f"anbu-{tag}/{{device}}/reading"
    # Mosquitto queues at most max_queued_messages (default 1000) per offline session: the backlog
    # while the gateway is dead must stay below it (docs/devices.md §6), or the broker drops the excess.
    device, total = unique("stream"), 800
    publisher = Publisher(TEST_MQTT_URL)
    first = GatewayProcess(env, tmp_path / "gw1.log")
    second: GatewayProcess | None = None
    try:
        # The second half is held until the kill, so it is published while no gateway runs.
        thread, progress, resume = _half_stream(
            publisher, topic_of, engine, device, total, stored=100, timeout=30
        )
        first.kill9()
        resume.set()
        stored_before_restart = readings_for(engine, device)[0]
        thread.join(60)
        assert progress[0] == total  # the broker acknowledged every message while the gateway was dead
        second = GatewayProcess(env, tmp_path / "gw2.log")
        wait_until(lambda: readings_for(engine, device)[0] == total, timeout=60, what="every message stored")
        assert stored_before_restart < total
        assert readings_for(engine, device) == (total, total)
    finally:
        first.stop()
        if second is not None:
            second.stop()
        publisher.close()
        forget_session(TEST_MQTT_URL, f"anbu-test-{tag}")
        engine.dispose()


def test_kill9_three_times_during_a_live_shelly_gen1_stream_stores_every_reading_once(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Issue 14.1: Shelly Gen1 sends no time, so its readings are placed at arrival; three SIGKILLs
    during a live stream used to leave 394 of 600 (a backlog's readings shared one receive time).
    Each reading has its own value here, so "exactly once" is checked reading by reading."""
    assert TEST_MQTT_URL
    tag = unique("g1k9")
    env = _gateway_env(tmp_path, sqlite_url, TEST_MQTT_URL, f"anbu-test-{tag}", tag)
    engine = make_engine(sqlite_url)
    plug = f"shellyplug-s-{tag[-6:].upper()}"
    topic = f"shellies-{tag}/{plug}/relay/0/power"
    total = 600
    publisher = Publisher(TEST_MQTT_URL)
    gateways = [GatewayProcess(env, tmp_path / "gw0.log")]
    try:
        _wait_subscribed(publisher, f"anbu-{tag}/{{device}}/reading", engine, unique("probe"))
        progress = [0]
        thread = _publish_all(publisher, topic, [b"%d" % n for n in range(total)], progress, pace_s=0.01)
        for n, at in enumerate((100, 250, 400), start=1):
            wait_until(lambda at=at: progress[0] >= at, timeout=60, what=f"{at} published")  # type: ignore[misc]
            gateways[-1].kill9()
            gateways.append(GatewayProcess(env, tmp_path / f"gw{n}.log"))
        thread.join(90)
        assert progress[0] == total
        wait_until(lambda: readings_for(engine, plug)[0] >= total, timeout=90, what="every reading stored")
        with Session(engine) as s:
            query = select(Reading.power_w).join(Device).where(Device.external_id == plug)
            powers = sorted(p for p in s.exec(query).all() if p is not None)
        assert powers == [float(n) for n in range(total)]  # each once: none lost, none doubled
    finally:
        for gateway in gateways:
            gateway.stop()
        publisher.close()
        forget_session(TEST_MQTT_URL, f"anbu-test-{tag}")
        engine.dispose()


def test_two_gateway_processes_on_a_shared_subscription_store_every_message_once(
    tmp_path: Path, sqlite_url: str
) -> None:
    devices = [unique(f"dev{n}") for n in range(4)]
    per_device = 500
    group = _running_group(tmp_path, sqlite_url, unique("share"))
    with group as (_envs, _gateways, engine, publisher, topic_of):
        payloads = _payloads(per_device)
        threads = [_publish_all(publisher, topic_of.format(device=d), payloads, [0]) for d in devices]
        for thread in threads:
            thread.join(60)
        wait_until(
            lambda: sum(readings_for(engine, d)[0] for d in devices) == per_device * len(devices),
            timeout=60,
            what="every message stored",
        )
        assert all(readings_for(engine, d) == (per_device, per_device) for d in devices)


# The stated bound (docs/architecture.md, gateway groups): a dead member is noticed after
# ANBU_MQTT_GROUP_RESCUE_AFTER_S of a still status row, seen at most two status intervals late
# (5 s each), then drained. The wait below adds slack for a loaded CI machine.
RESCUE_AFTER_S = 15
RESCUE_BOUND_S = RESCUE_AFTER_S + 2 * 5 + 5


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_group_member_killed_mid_stream_holds_back_nothing_once_it_is_rescued(
    tmp_path: Path, sqlite_url: str, protocol: str
) -> None:
    """Issue 15.4: Mosquitto keeps dealing a dead member's share to its session; without a rescue
    those readings wait for that member to come back (and are lost past the session expiry; a
    3.1.1 session has none, so for ever). With 3.1.1 the rescue retires the session by logging in
    as the member with a clean session (until session 25 a 3.1.1 group had no rescue)."""
    devices = [unique(f"dev{n}") for n in range(4)]
    per_device = 150
    group = _running_group(
        tmp_path,
        sqlite_url,
        unique("rescue"),
        ANBU_MQTT_GROUP_RESCUE_AFTER_S=str(RESCUE_AFTER_S),
        ANBU_MQTT_PROTOCOL=protocol,
    )
    with group as (envs, gateways, engine, publisher, topic_of):
        payloads = _payloads(per_device)
        progress = [[0] for _ in devices]
        # A live stream (~4 readings a second per plug) that goes on after the kill.
        threads = [
            _publish_all(publisher, topic_of.format(device=d), payloads, p, pace_s=0.25)
            for d, p in zip(devices, progress, strict=True)
        ]
        wait_until(lambda: all(p[0] >= 30 for p in progress), timeout=60, what="stream under way")
        gateways[0].kill9()
        for thread in threads:
            thread.join(120)
        published_at = time.monotonic()
        assert all(p[0] == per_device for p in progress)
        wait_until(
            lambda: sum(readings_for(engine, d)[0] for d in devices) == per_device * len(devices),
            timeout=RESCUE_BOUND_S + 30,
            what="every reading stored while the killed member stays dead",
        )
        waited_s = time.monotonic() - published_at
        assert all(readings_for(engine, d) == (per_device, per_device) for d in devices)
        assert gateways[0].proc.poll() is not None  # it never came back: the survivor did it
        assert _log_says(gateways[1], "its session is drained")
        with Session(engine) as session:
            row = session.get(GatewayStatus, envs[0]["ANBU_MQTT_CLIENT_ID"])
            assert row is not None and row.rescued_by == envs[1]["ANBU_MQTT_CLIENT_ID"]
            assert row.rescue_finished_at is not None
        assert _log_says(gateways[1], f"(MQTT {protocol},")  # the survivor spoke the version asked for
        assert not _session_present(envs[0]["ANBU_MQTT_CLIENT_ID"], protocol)  # retired: none left
        logging.getLogger(__name__).info("rescued within %.1f s of the stream's end", waited_s)


def _session_present(client_id: str, protocol: str) -> bool:
    """Whether the broker still holds a session for *client_id* (asked without starting afresh)."""
    assert TEST_MQTT_URL
    v5 = protocol == "5"
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        clean_session=None if v5 else False,
    )
    present: list[bool] = []
    client.on_connect = lambda _c, _u, flags, _r, _p: present.append(bool(flags.session_present))
    endpoint = urlsplit(TEST_MQTT_URL)
    host, port = endpoint.hostname or "127.0.0.1", endpoint.port or 1883
    if v5:
        client.connect(host, port, clean_start=False)
    else:
        client.connect(host, port)
    client.loop_start()
    try:
        wait_until(lambda: bool(present), timeout=10, what="CONNACK")
    finally:
        client.disconnect()
        client.loop_stop()
    return present[0]


@needs_mosquitto
def test_a_group_on_the_generated_mosquitto_config_rescues_a_killed_member(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Issue 15.4 with `anbu broker mosquitto-config --gateways 2`: there a client's id is its
    username (use_username_as_clientid), so the survivor reaches the dead member's session only by
    logging in as it, with the group's one password."""
    tag = unique("gen")
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    base = prod_settings(**isolated_prefixes(tag), mqtt_session_expiry_s=3600)
    devices = [unique(f"gdev{n}") for n in range(3)]
    now = datetime.now(UTC)
    with session_scope(engine) as s:
        issued = [credentials.add(s, DeviceVendor.NATIVE, d, settings=base, now=now) for d in devices]
    broker = DynsecMosquitto(tmp_path / "broker", base, engine, gateways=2)
    broker.start()
    members = [
        (broker.env["ANBU_MQTT_URL"], broker.env["ANBU_MQTT_CLIENT_ID"]),
        *broker.generated.other_gateways,
    ]
    group = unique("grp")
    envs = [
        _gateway_env(
            tmp_path,
            sqlite_url,
            url,
            client_id,
            tag,
            ANBU_MQTT_SHARE_GROUP=group,
            ANBU_MQTT_GROUP_RESCUE_AFTER_S=str(RESCUE_AFTER_S),
        )
        for url, client_id in members
    ]
    gateways = [GatewayProcess(env, tmp_path / f"gw{n}.log") for n, env in enumerate(envs, 1)]
    plugs = [connect("127.0.0.1", broker.port, username=i.username, password=i.password) for i in issued]
    per_device = 120
    try:
        wait_until(
            lambda: all(_log_says(g, "subscribed") for g in gateways), timeout=120, what="both subscribed"
        )
        payloads = _payloads(per_device)
        progress = [[0] for _ in devices]

        def stream(client: mqtt.Client, device: str, done: list[int]) -> None:
            for body in payloads:
                client.publish(f"anbu-{tag}/{device}/reading", body, qos=1).wait_for_publish(60)
                done[0] += 1
                time.sleep(0.25)

        threads = [
            threading.Thread(target=stream, args=(plug.client, d, p), daemon=True)
            for plug, d, p in zip(plugs, devices, progress, strict=True)
        ]
        for thread in threads:
            thread.start()
        wait_until(lambda: all(p[0] >= 30 for p in progress), timeout=60, what="stream under way")
        gateways[0].kill9()
        for thread in threads:
            thread.join(120)
        assert all(p[0] == per_device for p in progress)
        wait_until(
            lambda: sum(readings_for(engine, d)[0] for d in devices) == per_device * len(devices),
            timeout=RESCUE_BOUND_S + 30,
            what="every reading stored while the killed member stays dead",
        )
        assert all(readings_for(engine, d) == (per_device, per_device) for d in devices)
        assert _log_says(gateways[1], "its session is drained")
        with Session(engine) as session:
            row = session.get(GatewayStatus, members[0][1])
            assert row is not None and row.rescued_by == members[1][1]
    finally:
        for plug in plugs:
            plug.close()
        for gateway in gateways:
            gateway.stop()
        broker.stop()
        engine.dispose()


@contextmanager
def _running_group(
    tmp_path: Path, db_url: str, tag: str, **extra: str
) -> Iterator[tuple[list[dict[str, str]], list[GatewayProcess], Engine, Publisher, str]]:
    """:func:`_group_of_two` on the test broker, with an engine on their database, a publisher and
    the topic of a device's readings (``topic_of.format(device=...)``); all stopped and forgotten
    afterwards: the envs, the gateways, the engine, the publisher, the topic."""
    assert TEST_MQTT_URL
    envs, gateways = _group_of_two(tmp_path, db_url, tag, **extra)
    engine = make_engine(db_url)
    publisher = Publisher(TEST_MQTT_URL)
    try:
        yield envs, gateways, engine, publisher, f"anbu-{tag}/{{device}}/reading"
    finally:
        for gateway in gateways:
            gateway.stop()
        publisher.close()
        for env in envs:
            forget_session(TEST_MQTT_URL, env["ANBU_MQTT_CLIENT_ID"])
        engine.dispose()


def _group_of_two(
    tmp_path: Path, db_url: str, tag: str, **extra: str
) -> tuple[list[dict[str, str]], list[GatewayProcess]]:
    """Two gateway processes on one share group, both subscribed (a stream started earlier would
    go to the first alone). A process starting on a busy machine can take a minute."""
    assert TEST_MQTT_URL
    group = unique("grp")
    envs = [
        _gateway_env(
            tmp_path, db_url, TEST_MQTT_URL, f"anbu-test-{tag}-{n}", tag, ANBU_MQTT_SHARE_GROUP=group, **extra
        )
        for n in (1, 2)
    ]
    gateways = [GatewayProcess(env, tmp_path / f"gw{n}.log") for n, env in enumerate(envs, 1)]
    try:
        wait_until(
            lambda: all(_log_says(g, "subscribed") for g in gateways), timeout=120, what="both subscribed"
        )
    except AssertionError:
        for gateway in gateways:
            gateway.stop()
        raise
    return envs, gateways


def _log_says(gateway: GatewayProcess, words: str) -> bool:
    gateway.log.flush()
    return words in Path(gateway.log.name).read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[PrivateMosquitto]:
    """A Mosquitto of the test's own, to restart or kill; stopped afterwards."""
    if shutil.which("mosquitto") is None:
        pytest.skip("the mosquitto binary is not installed")
    broker = PrivateMosquitto(tmp_path / "broker")
    broker.start()
    yield broker
    broker.stop()


def test_private_broker_restart_mid_stream_loses_nothing(
    tmp_path: Path, sqlite_url: str, private_broker: PrivateMosquitto
) -> None:
    # The gateway runs in its own process, as deployed: in the test's process its ingest and the
    # publisher's network thread shared one interpreter, and on a loaded CI machine the publisher
    # waited out its deadlines ("broker never acknowledged a message", 299 of 1500 published).
    url = f"mqtt://127.0.0.1:{private_broker.port}"
    tag = unique("brk")
    env = _gateway_env(tmp_path, sqlite_url, url, f"anbu-test-{tag}", tag)
    topic_of = f"anbu-{tag}/{{device}}/reading"
    engine = make_engine(sqlite_url)
    publisher = Publisher(url)
    gateway = GatewayProcess(env, tmp_path / "gw.log")
    device, total = unique("stream"), 1500
    try:
        # The second half waits for the restart: on a busy machine the whole stream could reach
        # the broker before 200 readings are stored, and the restart would then test nothing.
        thread, progress, resume = _half_stream(
            publisher, topic_of, engine, device, total, stored=200, timeout=60
        )
        private_broker.restart()
        resume.set()
        assert readings_for(engine, device)[0] < total, "everything was stored before the restart"
        thread.join(300)
        assert progress[0] == total
        wait_until(lambda: readings_for(engine, device)[0] == total, timeout=120, what="every message stored")
        assert readings_for(engine, device) == (total, total)
        assert _log_says(gateway, "generation=3")  # it really reconnected (connect, drop, connect)
    finally:
        gateway.stop()
        publisher.close()
        engine.dispose()


def test_a_broker_crash_that_lost_the_session_is_flagged_and_the_gateway_is_back_within_seconds(
    sqlite_url: str, private_broker: PrivateMosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    # Issue 14.7, gateway side: Mosquitto with its default autosave is SIGKILLed and stays down
    # 8 s. The session is gone when it returns: the gateway must say so at WARNING, count it for
    # /metrics, leave a row the incidents tick turns into a staff notice, and be back at once
    # (paho's own backoff, 1 s doubling to 120 s, would wait up to 8 s more after 8 s down).
    _url, settings = _private_broker_settings(private_broker, "crash")
    engine = make_engine(sqlite_url)
    clock = ManualClock(datetime.now(UTC))
    gateway = Gateway(settings, engine, clock)
    gateway.status_interval_s = 0.2
    gateway.start()
    try:
        assert gateway.wait_connected(10)
        generation = gateway.metrics()["generation"]
        private_broker.kill()
        time.sleep(8)
        with caplog.at_level(logging.INFO, logger="gateway.service"):
            private_broker.start()
            back = time.monotonic()
            wait_until(
                lambda: gateway.metrics()["sessions_lost"] == 1 and bool(gateway.metrics()["connected"]),
                timeout=30,
                what="reconnected, session loss seen",
            )
            reconnected_after = time.monotonic() - back
        assert reconnected_after < 4.0, f"reconnected {reconnected_after:.1f} s after the broker was back"
        assert gateway.metrics()["generation"] > generation
        lost = [r for r in caplog.records if "LOST OUR SESSION" in r.getMessage()]
        assert lost and all(r.levelno == logging.WARNING for r in lost)
        clock.advance(timedelta(seconds=1))
        wait_until(
            lambda: _status_row(engine, settings.mqtt_client_id).sessions_lost == 1, timeout=10, what="status"
        )
        incidents.tick(engine, clock, settings)
        with Session(engine) as s:
            (notice,) = incidents.active_incidents(s)
        assert (
            notice.kind == SystemIncidentKind.GATEWAY_SESSION_LOST
            and notice.source == settings.mqtt_client_id
        )
    finally:
        gateway.stop()
        engine.dispose()


def test_a_backlog_drain_after_a_reconnect_makes_no_probe_fail(
    sqlite_url: str, private_broker: PrivateMosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The delivery probe (QoS 0) travels behind what the broker queued for the gateway while it
    # was away. A drain that outlasts the probe's 5 s must not count as "the session does not
    # deliver": that reconnects (the broker resends what was in flight), twice gives up probing
    # ("probes never come back"). The probe's timeout is shortened to 0.25 s so that the drain
    # outlasts it on a fast, idle machine too (12,000 messages drained in 0.96 s on CI).
    monkeypatch.setattr(Gateway, "probe_timeout_s", 0.25)
    url, settings = _private_broker_settings(private_broker, "drain")
    _assert_drained_without_a_failed_probe(url, settings, sqlite_url, total=12000)


def test_a_store_slower_than_the_probe_timeout_is_not_taken_for_a_session_that_does_not_deliver(
    sqlite_url: str, private_broker: PrivateMosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Silence that the gateway causes itself is not the session's fault. Here the store is slower
    # than the probe's timeout (0.3 s a batch against 0.25 s) and the queue (200) is smaller than
    # our receive maximum (2,000): the broker's first burst fills the queue, the network thread
    # waits for room and reads nothing, and the probe's echo stays in the socket behind ~2,000
    # messages for seconds. The old code counted each wait as the broker's silence: the probe
    # failed and the gateway reconnected, so the broker resent what was in flight. The same
    # happens at the real 5 s timeout when the database stalls for 5 s behind a full queue.
    monkeypatch.setattr(Gateway, "probe_timeout_s", 0.25)
    store = BatchProcessor.process

    def slow_store(self: BatchProcessor[Any], items: Any, on_committed: Any) -> BatchResult:
        time.sleep(0.3)
        return store(self, items, on_committed)

    monkeypatch.setattr(BatchProcessor, "process", slow_store)
    url, settings = _private_broker_settings(private_broker, "slowstore")
    settings = settings.model_copy(update={"gateway_queue_max": 200})
    _assert_drained_without_a_failed_probe(url, settings, sqlite_url, total=2 * RECEIVE_MAXIMUM)


def _assert_drained_without_a_failed_probe(
    url: str, settings: Settings, sqlite_url: str, *, total: int
) -> None:
    """Queue *total* readings for the gateway's persistent session while it is away, start it, and
    check that the whole drain made no delivery probe fail and no reconnect."""
    engine = make_engine(sqlite_url)
    clock = ManualClock(datetime.now(UTC))
    device = unique("backlog")
    first = Gateway(settings, engine, clock)  # makes the persistent session and its subscriptions
    first.start()
    second: Gateway | None = None
    publisher = Publisher(url)
    try:
        assert first.wait_connected(10)
        first.stop()
        infos = [
            publisher.client.publish(f"{settings.mqtt_native_prefix}/{device}/reading", payload, qos=1)
            for payload in _payloads(total)
        ]
        for info in infos:
            info.wait_for_publish(60)
        second = Gateway(settings, engine, clock)
        second.start()
        started = time.monotonic()
        wait_until(lambda: readings_for(engine, device)[0] == total, timeout=180, what="the backlog stored")
        drained_s = time.monotonic() - started
        figures = second.metrics()
        assert drained_s > second.probe_timeout_s, f"the drain took {drained_s:.1f} s: nothing was tested"
        assert (figures["probe_failures"], figures["delivery_reconnects"], figures["generation"]) == (0, 0, 1)
        assert second._link.probe_supported()
    finally:
        if second is not None:
            second.stop()
        publisher.close()
        engine.dispose()


def _status_row(engine: Engine, client_id: str) -> GatewayStatus:
    with Session(engine) as s:
        row = s.get(GatewayStatus, client_id)
        assert row is not None
        return row


def _private_broker_settings(broker: PrivateMosquitto, name: str) -> tuple[str, Settings]:
    """The URL of a private broker, and settings for an in-process gateway with a persistent session."""
    url, tag = f"mqtt://127.0.0.1:{broker.port}", unique(name)
    settings = Settings(
        _env_file=None,
        mqtt_url=url,
        mqtt_client_id=f"anbu-test-{tag}",
        mqtt_session_expiry_s=300,
        device_rate_burst=BACKLOG_BURST,
        **isolated_prefixes(tag),  # type: ignore[arg-type]
    )
    return url, settings


class PrivateMosquitto(MosquittoProcess):
    """A Mosquitto of our own on a free port, persisting to tmp_path, restartable mid-test.

    Mosquitto's default autosave (every 1800 s): a SIGKILL loses what it has not saved."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True)
        port = free_port()
        config = root / "mosquitto.conf"
        config.write_text(
            # Started as root, Mosquitto would switch to the "mosquitto" user, which cannot write here.
            f"user {getpass.getuser()}\n"
            f"listener {port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {root}/\n"
            "max_queued_messages 100000\n"
            f"log_dest file {root}/mosquitto.log\n",
            encoding="utf-8",
        )
        super().__init__(root, port, config)

    def restart(self) -> None:
        self.stop()  # SIGTERM: Mosquitto writes its persistence file on the way out
        self.start()
