"""A broker that enforces device identities, a gateway behind it, and an attacker's tools.

``TrustedBroker`` is implemented for the embedded broker here and for a private Mosquitto with the
dynamic-security plugin in ``mosquitto_harness``; the attack tests run against both.
"""

from __future__ import annotations

import socket
import struct
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from benchmarks.mqtt_raw import encode_publish, remaining_length
from core.clock import Clock
from core.db import session_scope
from core.enums import DeviceVendor
from core.settings import Settings
from gateway.auth import credentials
from gateway.auth.authority import Authority, GatewayIdentity
from gateway.auth.directory import CredentialDirectory
from gateway.broker import EmbeddedBroker
from gateway.service import Gateway
from tests.integration.gateway.mqtt_helpers import unique, wait_until


class TrustedBroker(Protocol):
    host: str
    port: int
    settings: Settings
    gateway: Gateway

    def add(
        self, vendor: DeviceVendor, external_id: str, household_id: int | None = None, appliance: str = ""
    ) -> tuple[str, str]: ...
    def rotate(self, username: str) -> str: ...
    def revoke(self, username: str) -> None: ...


class IdentityChanges:
    """add/rotate/revoke as `anbu devices …` does them; each broker says how it learns of a change."""

    engine: Engine
    clock: Clock
    settings: Settings

    def add(
        self, vendor: DeviceVendor, external_id: str, household_id: int | None = None, appliance: str = ""
    ) -> tuple[str, str]:
        with session_scope(self.engine) as session:
            issued = credentials.add(
                session,
                vendor,
                external_id,
                settings=self.settings,
                now=self.clock.now(),
                household_id=household_id,
                appliance=appliance,
            )
            self.issued(issued, rotated=False)
        self.committed()
        return issued.username, issued.password

    def rotate(self, username: str) -> str:
        with session_scope(self.engine) as session:
            issued = credentials.rotate(session, credentials.find(session, username), now=self.clock.now())
            self.issued(issued, rotated=True)
        self.committed()
        return issued.password

    def revoke(self, username: str) -> None:
        with session_scope(self.engine) as session:
            credentials.revoke(session, credentials.find(session, username), now=self.clock.now())
        self.revoked(username)
        self.committed()

    def issued(self, issued: credentials.Issued, *, rotated: bool) -> None:
        """Before the commit (Mosquitto is told then)."""

    def revoked(self, username: str) -> None:
        """After the commit."""

    def committed(self) -> None:
        """After the commit (the embedded broker's directory catches up)."""


@dataclass
class EmbeddedTrustedBroker(IdentityChanges):
    """`anbu up`'s embedded broker with device authentication required."""

    engine: Engine
    clock: Clock
    settings: Settings
    host: str = "127.0.0.1"
    port: int = 0
    gateway: Gateway = field(init=False)
    _stoppers: list[Callable[[], Any]] = field(default_factory=list)

    def start(self) -> None:
        self.directory = CredentialDirectory(self.engine, self.settings, poll_s=0.05)
        self.directory.start()
        self._stoppers.append(self.directory.stop)
        identity = GatewayIdentity("anbu-gateway", uuid.uuid4().hex, self.settings.mqtt_client_id)
        self.broker = EmbeddedBroker(0, authority=Authority(self.settings, self.directory, identity))
        self.broker.start()
        self._stoppers.append(self.broker.stop)
        self.directory.on_invalidated = self.broker.close_sessions_of
        self.port = self.broker.port
        self.settings = self.settings.model_copy(update={"mqtt_embedded_port": self.port})
        self.gateway = Gateway(
            self.settings, self.engine, self.clock, credentials=(identity.username, identity.password)
        )
        self.gateway.start()
        self._stoppers.append(self.gateway.stop)
        assert self.gateway.wait_connected(10)

    def stop(self) -> None:
        for stop in reversed(self._stoppers):
            stop()

    def committed(self) -> None:
        with session_scope(self.engine) as session:
            target = credentials.current_revision(session)
        wait_until(lambda: self.directory.revision >= target, timeout=5, what="the broker to see the change")


# --- an attacker's (and a device's) tools ----------------------------------------------------------


@dataclass
class Client:
    """A paho client that records what happened to it."""

    client: mqtt.Client
    connack: int | None = None
    heard: list[tuple[str, bytes]] = field(default_factory=list)
    suback: list[int] = field(default_factory=list)
    disconnected: threading.Event = field(default_factory=threading.Event)

    def subscribe(self, topic_filter: str) -> list[int]:
        done = threading.Event()

        def on_subscribe(_c: object, _u: object, _m: object, codes: list[Any], _p: object) -> None:
            self.suback.extend(int(c.value) for c in codes)
            done.set()

        self.client.on_subscribe = on_subscribe
        self.client.subscribe(topic_filter, qos=1)
        assert done.wait(5), "no SUBACK"
        return self.suback

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(5)  # a refused publish is still acknowledged (MQTT 3.1.1), never stored

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def connect(
    host: str,
    port: int,
    *,
    username: str | None = None,
    password: str | None = None,
    client_id: str | None = None,
    clean_session: bool = True,
    will: tuple[str, str] | None = None,
) -> Client:
    """Connect and wait for the broker's answer (``connack`` 0 = accepted; None = no answer)."""
    paho = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or unique("anbu-test-dev"),
        protocol=mqtt.MQTTv311,
        clean_session=clean_session,
    )
    paho.reconnect_delay_set(60, 120)  # a refused client must not retry during the test
    result = Client(paho)
    answered = threading.Event()

    def on_connect(_c: object, _u: object, _f: object, rc: Any, _p: object) -> None:
        result.connack = int(rc.value)
        answered.set()

    def on_disconnect(*_args: object) -> None:
        result.disconnected.set()
        answered.set()

    paho.on_connect = on_connect
    paho.on_disconnect = on_disconnect
    paho.on_message = lambda _c, _u, msg: result.heard.append((msg.topic, bytes(msg.payload)))
    if username is not None:
        paho.username_pw_set(username, password)
    if will is not None:
        paho.will_set(will[0], will[1], qos=1, retain=True)
    paho.connect(host, port, keepalive=30)
    paho.loop_start()
    answered.wait(10)
    return result


def raw_connect(
    host: str,
    port: int,
    client_id: str,
    username: str,
    password: str,
    then: bytes = b"",
    *,
    will: tuple[str, bytes] | None = None,
) -> int | None:
    """A bare MQTT 3.1.1 CONNECT (and whatever *then* pipelines behind it); the CONNACK code.

    The socket is then closed without a DISCONNECT, so a *will* (QoS 1, retained) is due.
    """
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(_connect_packet(client_id, username, password, will) + then)
        answer = _read_exactly(sock, 4)
    return None if answer is None else answer[3]


def _connect_packet(client_id: str, username: str, password: str, will: tuple[str, bytes] | None) -> bytes:
    def text(value: str | bytes) -> bytes:
        data = value.encode() if isinstance(value, str) else value
        return struct.pack("!H", len(data)) + data

    flags = 0xC2 | (0x2C if will else 0)  # username, password, clean session (+ will, QoS 1, retain)
    payload = (
        text(client_id) + (text(will[0]) + text(will[1]) if will else b"") + text(username) + text(password)
    )
    body = b"\x00\x04MQTT\x04" + bytes([flags]) + struct.pack("!H", 30) + payload
    return b"\x10" + remaining_length(len(body)) + body


def _read_exactly(sock: socket.socket, count: int) -> bytes | None:
    """*count* bytes, or None if the peer closed (or reset) the connection first."""
    answer = b""
    while len(answer) < count:
        try:
            chunk = sock.recv(count - len(answer))
        except (ConnectionResetError, BrokenPipeError):
            return None
        if not chunk:
            return None
        answer += chunk
    return answer


class RawDevice:
    """A plug at the socket level: it keeps its connection open and publishes whatever it likes,
    whatever the broker says, so a test sees what the broker does with a device it cut off."""

    def __init__(self, host: str, port: int, username: str, password: str) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.sendall(_connect_packet(unique("anbu-test-raw"), username, password, None))
        answer = _read_exactly(self.sock, 4)
        self.connack = None if answer is None else answer[3]
        self._mid = 0

    def publish(self, topic: str, payload: bytes) -> bool:
        """QoS 1; True once the broker acknowledged it (a refused topic is acknowledged too)."""
        self._mid += 1
        try:
            self.sock.sendall(encode_publish(topic, payload, self._mid))
        except OSError:
            return False  # the broker closed the connection
        return _read_exactly(self.sock, 4) is not None

    def cut_off(self, timeout: float) -> bool:
        """True once the broker has closed the connection (within *timeout* seconds)."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()
