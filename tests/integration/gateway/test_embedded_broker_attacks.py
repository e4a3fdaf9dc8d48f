"""Issue 12's attacks on `anbu up`'s embedded broker (ANBU_ENV=prod), as an attacker on loopback would try them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine
from sqlmodel import Session, select

from anbu import runtime
from core.clock import ManualClock
from core.db import session_scope
from core.models import Watch
from core.settings import Settings
from tests.e2e.harness import free_port
from tests.factories import PROD_PUBLIC_BASE_URL, TEST_SECRET_KEY, make_device, make_household, make_watch
from tests.integration.gateway.mqtt_helpers import reading_payload, unique, wait_until
from tests.integration.gateway.trust_harness import connect


@dataclass
class Up:
    settings: Settings
    gateway: object
    household_id: int
    device: str


@pytest.fixture
def up(sqlite_engine: Engine, clock: ManualClock) -> Iterator[Up]:
    settings = Settings(
        _env_file=None,
        env="prod",
        secret_key=TEST_SECRET_KEY,
        public_base_url=PROD_PUBLIC_BASE_URL,
        mqtt_url=None,
        mqtt_embedded_port=free_port(),
        mqtt_client_id=unique("anbu-gw"),
    )
    with session_scope(sqlite_engine) as s:
        household = make_household(s)
        make_watch(s, household)
        device = make_device(s, household=household, external_id=unique("kettle"))
        assert household.id is not None
        ids = (household.id, device.external_id)
    running = runtime.Running()
    try:
        identity = runtime.start_broker(settings, running, sqlite_engine)
        gateway = runtime.start_gateway(settings, sqlite_engine, clock, running, identity)
        assert gateway.wait_connected(10)
        yield Up(settings, gateway, *ids)
    finally:
        running.stop()


def _client(client_id: str | None = None, *, clean_session: bool | None = None) -> mqtt.Client:
    return mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id or unique("attacker"), clean_session=clean_session
    )


def _connect(client: mqtt.Client, port: int) -> int | None:
    """The CONNACK reason code (0 = accepted), or None when the broker never answered."""
    answered = threading.Event()
    codes: list[int] = []

    def on_connect(_c: object, _u: object, _f: object, rc: object, _p: object) -> None:
        codes.append(int(rc.value))  # type: ignore[attr-defined]
        answered.set()

    client.on_connect = on_connect
    client.on_disconnect = lambda *_a: answered.set()
    try:
        client.connect("127.0.0.1", port)
    except OSError:
        return None
    client.loop_start()
    answered.wait(10)
    return codes[0] if codes else None


def _watch(engine: Engine, household_id: int) -> tuple[object, object]:
    with Session(engine) as s:
        watch = s.exec(select(Watch).where(Watch.household_id == household_id)).one()
        return watch.last_activity_at, watch.alert_after


def test_anonymous_client_cannot_speak_for_a_plug(up: Up, sqlite_engine: Engine, clock: ManualClock) -> None:
    before = _watch(sqlite_engine, up.household_id)
    attacker = _client()
    code = _connect(attacker, up.settings.mqtt_embedded_port)
    try:
        if code == 0:
            start = clock.now() - timedelta(minutes=2)
            for i, watts in enumerate((0.0, 1800.0, 1800.0)):
                info = attacker.publish(
                    f"anbu/{up.device}/reading",
                    reading_payload(start + timedelta(seconds=30 * i), watts),
                    qos=1,
                )
                info.wait_for_publish(5)
            # Give the gateway every chance to store it (its batches commit within ~20 ms).
            with pytest.raises(AssertionError, match="timed out"):
                wait_until(lambda: _watch(sqlite_engine, up.household_id) != before, timeout=2)
    finally:
        attacker.loop_stop()
        attacker.disconnect()
    assert code != 0, "an anonymous client was admitted"
    assert _watch(sqlite_engine, up.household_id) == before


def test_anonymous_subscription_to_everything_reads_nothing(up: Up, clock: ManualClock) -> None:
    spy = _client()
    heard: list[str] = []
    spy.on_message = lambda _c, _u, msg: heard.append(msg.topic)
    code = _connect(spy, up.settings.mqtt_embedded_port)
    try:
        if code == 0:
            subscribed = threading.Event()
            spy.on_subscribe = lambda *_a: subscribed.set()
            spy.subscribe("#", qos=1)
            subscribed.wait(5)
            plug = _client()
            assert _connect(plug, up.settings.mqtt_embedded_port) is not None
            plug.publish(
                f"anbu/{up.device}/reading", reading_payload(clock.now(), 40.0), qos=1
            ).wait_for_publish(5)
            plug.loop_stop()
            plug.disconnect()
            with pytest.raises(AssertionError, match="timed out"):
                wait_until(lambda: bool(heard), timeout=2)
    finally:
        spy.loop_stop()
        spy.disconnect()
    assert code != 0, "an anonymous client was admitted"
    assert heard == []


def test_nobody_else_can_take_the_gateways_client_id(up: Up) -> None:
    thief = _client(up.settings.mqtt_client_id, clean_session=False)
    code = _connect(thief, up.settings.mqtt_embedded_port)
    try:
        assert code != 0, "a stranger connected with the gateway's client id"
        metrics = up.gateway.metrics()  # type: ignore[attr-defined]
        assert metrics["connected"] is True and metrics["generation"] == 1, "the gateway lost its session"
    finally:
        thief.loop_stop()
        thief.disconnect()


def test_with_auth_off_anonymous_plugs_appear_pending_but_read_nothing(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    """ANBU_ENV=dev's default: plugs need no credentials (they show as pending), yet nobody but the
    gateway reads device topics, and its client id stays reserved."""
    settings = Settings(_env_file=None, env="dev", mqtt_url=None, mqtt_embedded_port=free_port())
    assert not settings.mqtt_auth_required
    port = settings.mqtt_embedded_port
    running = runtime.Running()
    try:
        identity = runtime.start_broker(settings, running, sqlite_engine)
        gateway = runtime.start_gateway(settings, sqlite_engine, clock, running, identity)
        assert gateway.wait_connected(10)
        spy, plug = connect("127.0.0.1", port), connect("127.0.0.1", port)
        thief = connect("127.0.0.1", port, client_id=settings.mqtt_client_id, clean_session=False)
        try:
            assert (spy.connack, plug.connack, thief.connack) == (0, 0, 135)
            assert spy.subscribe("#") == [0x80]
            device = unique("dev-plug")
            plug.publish(f"anbu/{device}/reading", reading_payload(clock.now(), 30.0))
            wait_until(lambda: gateway.metrics()["pending_devices_created"] == 1, what="a pending device")
            assert spy.heard == [] and gateway.metrics()["connected"] is True
        finally:
            for client in (spy, plug, thief):
                client.close()
    finally:
        running.stop()
