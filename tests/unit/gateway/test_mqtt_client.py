"""The buffered paho client: same packets as paho would parse, however the bytes arrive."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from gateway.mqtt_client import (
    ACK_BARRIER_TOPIC,
    BufferedClient,
    Unsubacks,
    ack_all,
    ack_barrier,
    buffered_supported,
    make_client,
    pubacks,
)


def _publish(topic: str, payload: bytes, qos: int = 0, mid: int = 0) -> bytes:
    """An MQTT 3.1.1 PUBLISH packet, built by hand so the test does not trust paho's encoder."""
    body = struct.pack("!H", len(topic)) + topic.encode() + (struct.pack("!H", mid) if qos else b"") + payload
    length = len(body)
    encoded = bytearray()
    while True:  # variable-length "remaining length"
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes([0x30 | (qos << 1)]) + bytes(encoded) + body


@pytest.fixture
def wired() -> Iterator[tuple[BufferedClient, socket.socket, list[tuple[str, bytes, int]]]]:
    ours, broker = socket.socketpair()
    ours.setblocking(False)
    client = BufferedClient(
        CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv311, manual_ack=True
    )
    received: list[tuple[str, bytes, int]] = []
    client.on_message = lambda _c, _u, m: received.append((m.topic, bytes(m.payload), m.mid))
    client._sock = ours  # as after connect: paho reads from _sock
    yield client, broker, received
    ours.close()
    broker.close()


def _drain(client: BufferedClient) -> None:
    for _ in range(50):  # one loop_read per select() wake-up; a few suffice for split input
        client.loop_read()


def test_many_packets_in_one_read_all_delivered_in_order(wired) -> None:
    client, broker, received = wired
    packets = [_publish(f"tele/p{i}/SENSOR", b'{"n":%d}' % i) for i in range(500)]
    broker.sendall(b"".join(packets))
    client.loop_read()  # one wake-up: everything already buffered is parsed, not left for select()
    assert [t for t, _p, _m in received] == [f"tele/p{i}/SENSOR" for i in range(500)]
    assert client.buffered_bytes() == 0


def test_packets_split_at_every_boundary_are_reassembled(wired) -> None:
    client, broker, received = wired
    big = b"x" * 300  # two-byte remaining length
    stream = _publish("a/b", b"1") + _publish("c/d", big, qos=1, mid=7) + _publish("e/f", b"3")
    for i in range(len(stream)):  # worst case: the bytes trickle in one at a time
        broker.sendall(stream[i : i + 1])
        client.loop_read()
    _drain(client)
    assert received == [("a/b", b"1", 0), ("c/d", big, 7), ("e/f", b"3", 0)]


def test_peer_closing_is_a_lost_connection(wired) -> None:
    client, broker, _received = wired
    broker.close()
    assert client.loop_read() == mqtt.MQTT_ERR_CONN_LOST


def test_bytes_from_an_old_socket_are_not_served_on_a_new_one(wired) -> None:
    client, broker, _received = wired
    broker.sendall(b"OLD-CONNECTION-BYTES")
    assert client._sock_recv(3) == b"OLD"
    assert client.buffered_bytes() == 17  # held in our buffer, invisible to select()
    new_ours, new_broker = socket.socketpair()
    new_ours.setblocking(False)
    try:
        client._sock = new_ours  # what reconnect() does
        assert client.buffered_bytes() == 0
        new_broker.sendall(b"new")
        assert client._sock_recv(100) == b"new"
    finally:
        new_ours.close()
        new_broker.close()


def test_closing_the_socket_drops_the_buffer(wired) -> None:
    client, broker, _received = wired
    broker.sendall(b"abcdef")
    client._sock_recv(1)
    client._sock_close()
    assert client._rbuf == b""
    with pytest.raises(ConnectionError):
        client._sock_recv(1)


def test_pubacks_are_the_standard_four_bytes_each_in_order() -> None:
    assert pubacks([1, 258, 65535]) == bytes.fromhex("40020001400201024002ffff")
    assert pubacks([]) == b""


def test_ack_many_writes_one_puback_per_mid_in_order(wired) -> None:
    client, broker, _received = wired
    ack_all(client, [5, 3, 9])
    client.loop_write()
    broker.settimeout(1)
    assert broker.recv(100) == bytes.fromhex("400200054002000340020009")


def test_stock_client_is_acked_one_by_one() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.acks: list[tuple[int, int]] = []

        def ack(self, mid: int, qos: int) -> int:
            self.acks.append((mid, qos))
            return 0

    recorder = Recorder()
    ack_all(recorder, [4, 2])  # type: ignore[arg-type]
    assert recorder.acks == [(4, 1), (2, 1)]


class _Unsubscriber:
    """Answers an UNSUBSCRIBE at once (before ``unsubscribe`` returns), or never, or refuses it."""

    def __init__(self, unsubacks: Unsubacks, *, answer: bool = True, result: int = 0) -> None:
        self.unsubacks, self.answer, self.result = unsubacks, answer, result
        self.unsubscribed: list[str] = []

    def unsubscribe(self, topic: str) -> tuple[int, int]:
        self.unsubscribed.append(topic)
        if self.answer:
            self.unsubacks.seen(7)
        return self.result, 7


def test_ack_barrier_counts_an_unsuback_that_came_before_unsubscribe_returned() -> None:
    unsubacks = Unsubacks()
    client = _Unsubscriber(unsubacks)
    assert ack_barrier(client, unsubacks, 0.01)  # type: ignore[arg-type]
    assert client.unsubscribed == [ACK_BARRIER_TOPIC]


def test_ack_barrier_is_false_unanswered_or_refused() -> None:
    unsubacks = Unsubacks()
    assert not ack_barrier(_Unsubscriber(unsubacks, answer=False), unsubacks, 0.01)  # type: ignore[arg-type]
    assert not ack_barrier(_Unsubscriber(unsubacks, result=4), unsubacks, 0.01)  # type: ignore[arg-type]


def test_make_client_falls_back_when_asked_or_unsupported() -> None:
    assert buffered_supported()  # the pinned paho: if this fails, the fast path is silently off
    assert isinstance(make_client(CallbackAPIVersion.VERSION2), BufferedClient)
    plain = make_client(CallbackAPIVersion.VERSION2, buffered=False)
    assert type(plain) is mqtt.Client


def test_per_topic_callbacks_still_take_precedence(wired) -> None:
    client, broker, received = wired
    special: list[str] = []
    client.message_callback_add("special/#", lambda _c, _u, m: special.append(m.topic))
    broker.sendall(_publish("special/x", b"1") + _publish("plain/y", b"2"))
    client.loop_read()
    assert special == ["special/x"]
    assert [t for t, _p, _m in received] == ["plain/y"]  # paho's rule: on_message only when none matched


def test_a_failing_on_message_is_contained_when_exceptions_are_suppressed(wired) -> None:
    client, broker, _received = wired
    calls: list[str] = []

    def boom(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        calls.append(m.topic)
        raise RuntimeError("bug")

    client.on_message = boom
    client.suppress_exceptions = True
    broker.sendall(_publish("a/1", b"1") + _publish("a/2", b"2"))
    client.loop_read()
    assert calls == ["a/1", "a/2"]  # the network loop survived the first failure
    client.suppress_exceptions = False
    broker.sendall(_publish("a/3", b"3"))
    with pytest.raises(RuntimeError):
        client.loop_read()


def _publish_v5(
    topic: str, payload: bytes, *, qos: int, mid: int, props: bytes = b"", flags: int = 0
) -> bytes:
    """An MQTT 5 PUBLISH: topic, packet id (QoS > 0), property length + properties, payload."""
    body = struct.pack("!H", len(topic)) + topic.encode()
    if qos:
        body += struct.pack("!H", mid)
    body += bytes([len(props)]) + props + payload
    return bytes([0x30 | (qos << 1) | flags, len(body)]) + body


def _receive_v5(client_cls: type[mqtt.Client], data: bytes, manual_ack: bool) -> tuple[list[Any], bytes]:
    ours, broker = socket.socketpair()
    ours.setblocking(False)
    broker.settimeout(0.5)
    client = client_cls(
        CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5, manual_ack=manual_ack
    )
    got: list[Any] = []
    client.on_message = lambda _c, _u, m: got.append(
        (
            m.topic,
            bytes(m.payload),
            m.mid,
            m.qos,
            m.retain,
            m.dup,
            getattr(m.properties, "UserProperty", None),
        )
    )
    client._sock = ours
    try:
        broker.sendall(data)
        for _ in range(5):
            client.loop_read()
        client.loop_write()
        try:
            sent = broker.recv(100)
        except TimeoutError:
            sent = b""
        return got, sent
    finally:
        ours.close()
        broker.close()


V5_CASES = [
    _publish_v5("tele/p1/SENSOR", b'{"a":1}', qos=1, mid=300),
    _publish_v5("tele/p1/SENSOR", b"", qos=1, mid=1, flags=0x08 | 0x01),  # dup + retain, empty payload
    _publish_v5("tele/p2/SENSOR", b"x", qos=1, mid=2, props=b"\x26\x00\x01k\x00\x01v"),  # a user property
    _publish_v5("tele/p3/SENSOR", b"y", qos=0, mid=0),
]


@pytest.mark.parametrize("packet", V5_CASES)
@pytest.mark.parametrize("manual_ack", [True, False])
def test_mqtt5_publish_fast_path_matches_paho(packet: bytes, manual_ack: bool) -> None:
    ours, our_acks = _receive_v5(BufferedClient, packet, manual_ack)
    theirs, their_acks = _receive_v5(mqtt.Client, packet, manual_ack)
    assert ours == theirs and len(ours) == 1
    assert our_acks == their_acks  # PUBACK only when paho would send one (auto-ack, QoS 1)
