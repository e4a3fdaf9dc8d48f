"""The buffered client's QoS 1 fast path: the same messages, in the same order, as stock paho.

The fast path parses runs of complete QoS 1 PUBLISH packets straight from the read buffer; every
other packet, and any packet not yet complete, goes through paho. These tests feed both clients
the same byte stream, cut into arbitrary pieces, and compare what each delivers.
"""

from __future__ import annotations

import itertools
import socket
import struct
from typing import Any

import paho.mqtt.client as mqtt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from gateway.mqtt_client import BufferedClient


def _remaining_length(length: int) -> bytes:
    encoded = bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(encoded)


def publish(
    topic: bytes, payload: bytes, *, qos: int, mid: int, v5: bool, props: bytes = b"", flags: int = 0
) -> bytes:
    """A PUBLISH packet built by hand (MQTT 3.1.1, or 5 with a property block)."""
    body = struct.pack("!H", len(topic)) + topic
    if qos:
        body += struct.pack("!H", mid)
    if v5:
        body += bytes([len(props)]) + props
    body += payload
    return bytes([0x30 | (qos << 1) | flags]) + _remaining_length(len(body)) + body


def _run(
    client_cls: type[mqtt.Client], protocol: MQTTProtocolVersion, chunks: list[bytes], *, bulk: bool = False
) -> list[tuple[Any, ...]]:
    ours, broker = socket.socketpair()
    ours.setblocking(False)
    client = client_cls(CallbackAPIVersion.VERSION2, protocol=protocol, manual_ack=True)
    got: list[tuple[Any, ...]] = []
    client.on_message = lambda _c, _u, m: got.append(
        (m.topic, bytes(m.payload), m.mid, m.qos, m.retain, m.dup)
    )
    if bulk:
        assert isinstance(client, BufferedClient)
        client.on_qos1_publishes = lambda items: got.extend(
            (t.decode(), p, mid, 1, "bulk", "bulk", bool(header & 0x08)) for t, p, mid, header in items
        )
    client._sock = ours
    try:
        for chunk in chunks:
            broker.sendall(chunk)
            for _ in range(100):  # stock paho parses one packet per call: enough for every packet
                client.loop_read()
        return got
    finally:
        ours.close()
        broker.close()


def _split(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    return [stream[a:b] for a, b in itertools.pairwise(points)]


_packet = st.builds(
    lambda topic, payload, qos, mid, flags, with_props: (topic, payload, qos, mid, flags, with_props),
    st.text(alphabet="abc/+é", min_size=1, max_size=12).map(str.encode),
    st.binary(max_size=300),  # up to a two-byte remaining length
    st.sampled_from([0, 1, 1, 1]),
    st.integers(1, 65535),
    st.sampled_from([0, 0x01, 0x08, 0x09]),  # retain, dup
    st.booleans(),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_packet, min_size=1, max_size=30), st.lists(st.integers(0, 10_000), max_size=12), st.booleans()
)
def test_any_stream_cut_anywhere_gives_what_paho_gives(
    packets: list[tuple[Any, ...]], cuts: list[int], v5: bool
) -> None:
    protocol = MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311
    stream = b"".join(
        publish(
            topic,
            payload,
            qos=qos,
            mid=mid,
            v5=v5,
            flags=flags if qos else flags & 0x01,  # dup only on QoS > 0
            props=b"\x01\x01" if with_props else b"",  # payload format indicator: paho decodes these
        )
        for topic, payload, qos, mid, flags, with_props in packets
    )
    chunks = _split(stream, cuts)
    ours = _run(BufferedClient, protocol, chunks)
    theirs = _run(mqtt.Client, protocol, chunks)
    assert ours == theirs
    assert len(ours) == len(packets)


def test_bulk_consumer_gets_qos1_runs_and_paho_the_rest_in_arrival_order() -> None:
    v5 = MQTTProtocolVersion.MQTTv5
    stream = (
        publish(b"t/1", b"a", qos=1, mid=1, v5=True)
        + publish(b"t/2", b"b", qos=1, mid=2, v5=True)
        + publish(b"t/3", b"c", qos=1, mid=3, v5=True, props=b"\x01\x01")  # properties: paho's path
        + publish(b"t/4", b"d", qos=0, mid=0, v5=True)  # QoS 0: paho's path
        + publish(b"t/5", b"e", qos=1, mid=5, v5=True)
        + publish(b"t/6", b"f", qos=1, mid=6, v5=True)
    )
    got = _run(BufferedClient, v5, [stream], bulk=True)
    assert [(t, mid) for t, _p, mid, *_rest in got] == [
        ("t/1", 1),
        ("t/2", 2),
        ("t/3", 3),
        ("t/4", 0),
        ("t/5", 5),
        ("t/6", 6),
    ]
    # The first packet of a read goes through paho; the runs after it through the bulk callback.
    assert [g[5] for g in got] == [False, "bulk", False, False, "bulk", "bulk"]


def test_bulk_consumer_gets_the_dup_flag_of_a_redelivery() -> None:
    """A broker's redelivery (DUP) must reach ingest: it is how a reading without a device time is
    recognised when it comes again (gateway/receipts.py)."""
    stream = b"".join(
        publish(b"t/%d" % n, b"x", qos=1, mid=n, v5=False, flags=0x08 * (n % 2)) for n in range(1, 5)
    )
    got = _run(BufferedClient, MQTTProtocolVersion.MQTTv311, [stream], bulk=True)
    assert [(g[2], g[-1]) for g in got] == [(1, True), (2, False), (3, True), (4, False)]


def test_a_packet_cut_in_the_middle_waits_for_its_rest() -> None:
    whole = publish(b"t/x", b"payload", qos=1, mid=9, v5=False)
    first = publish(b"t/w", b"1", qos=1, mid=8, v5=False)
    stream = first + first.replace(b"t/w", b"t/v") + whole
    got = _run(BufferedClient, MQTTProtocolVersion.MQTTv311, [stream[:-3], stream[-3:]], bulk=True)
    assert [(t, p, mid) for t, p, mid, *_r in got] == [
        ("t/w", b"1", 8),
        ("t/v", b"1", 8),
        ("t/x", b"payload", 9),
    ]


def test_one_failing_message_does_not_cost_the_others_their_delivery() -> None:
    ours, broker = socket.socketpair()
    ours.setblocking(False)
    client = BufferedClient(
        CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv311, manual_ack=True
    )
    client.suppress_exceptions = True
    seen: list[int] = []

    def on_message(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        seen.append(m.mid)
        if m.mid == 2:
            raise RuntimeError("bug")

    client.on_message = on_message
    client._sock = ours
    try:
        broker.sendall(b"".join(publish(b"t/a", b"x", qos=1, mid=m, v5=False) for m in (1, 2, 3, 4)))
        client.loop_read()
        assert seen == [1, 2, 3, 4]
    finally:
        ours.close()
        broker.close()
