"""A paho client that reads the socket in large chunks and writes a batch of PUBACKs at once.

Stock paho 2.2 does a ``select`` and at least three ``recv`` calls per incoming packet (command
byte, length byte(s), body) and one ``send`` per PUBACK; at QoS 1 that is most of the gateway's
CPU per message (profile in docs/benchmarks.md). This subclass keeps paho's own packet parser and
state machine and only changes where the bytes come from and go to:

- ``_sock_recv`` serves paho's small reads from a 256 KiB buffer filled by one ``recv``;
- ``loop_read`` keeps parsing until that buffer is empty, so ``select`` is not asked again while
  bytes we already hold wait (select cannot see them);
- ``ack_many`` queues the PUBACKs of a committed batch as one write (same bytes, same order);
- ``on_message`` is called directly while no per-topic callback is registered (paho otherwise
  walks its topic-filter tree for every message);
- an MQTT 5 QoS 1 PUBLISH without properties is decoded here, without building a ``Properties``
  object (``message.properties`` is then None, as for MQTT 3.1.1); all else goes to paho.

It relies on paho private members (``_sock``, ``_sock_recv``, ``_packet_read``,
``_loop_rc_handle``, ``_packet_queue``, ``_handle_on_message``, ``_handle_publish``, ``_in_packet``). :func:`make_client` checks they exist and falls back to
the stock client (with one PUBACK per ``ack``) otherwise, so a paho upgrade costs speed, not
correctness.
"""

from __future__ import annotations

import logging
import ssl
import struct
import threading
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

log = logging.getLogger(__name__)

RECV_CHUNK = 262_144

# A filter nobody subscribes to: unsubscribing from it is a round trip that flushes our acks.
ACK_BARRIER_TOPIC = "anbu-gateway/ack-barrier"
PUBACK = 0x40
_PUBACK_STRUCT = struct.Struct("!BBH")  # fixed header, remaining length 2, packet id (MQTT 3.1.1 and 5)
_REQUIRED = (
    "_sock_recv",
    "_packet_read",
    "_loop_rc_handle",
    "_packet_queue",
    "_sock_close",
    "_handle_on_message",
    "_handle_publish",
    "_send_puback",
    "_easy_log",
)


def buffered_supported() -> bool:
    """Whether this paho still has the private members the buffered client overrides."""
    return all(callable(getattr(mqtt.Client, name, None)) for name in _REQUIRED)


def pubacks(mids: Iterable[int]) -> bytes:
    """The wire bytes of one PUBACK per packet id, in order (success: no reason code, as paho sends)."""
    return b"".join(_PUBACK_STRUCT.pack(PUBACK, 2, mid) for mid in mids)


class BufferedClient(mqtt.Client):
    """paho ``Client`` with buffered reads and batched PUBACK writes; behaviour otherwise unchanged."""

    _rbuf: bytes = b""
    _rpos: int = 0
    _rsock: object | None = None  # the socket _rbuf was read from

    def _sock_recv(self, bufsize: int) -> bytes:
        sock = self._sock
        if sock is None:
            raise ConnectionError("self._sock is None")
        if self._rsock is not sock:
            # A new connection: bytes left over from the old socket belong to a dead session.
            self._rbuf, self._rpos, self._rsock = b"", 0, sock
        if self._rpos >= len(self._rbuf):
            try:
                data = sock.recv(RECV_CHUNK)
            except ssl.SSLWantReadError as err:
                raise BlockingIOError() from err
            except ssl.SSLWantWriteError as err:
                self._call_socket_register_write()
                raise BlockingIOError() from err
            except AttributeError as err:
                raise ConnectionError() from err
            if not data:
                return b""  # peer closed: paho treats an empty read as connection lost
            self._rbuf, self._rpos = data, 0
        end = self._rpos + bufsize
        chunk = self._rbuf[self._rpos : end]
        self._rpos = min(end, len(self._rbuf))
        return chunk

    def buffered_bytes(self) -> int:
        """Bytes received from the current socket but not yet parsed."""
        if self._rsock is not self._sock:
            return 0
        return len(self._rbuf) - self._rpos

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        # Parse everything already buffered: select() cannot tell us about it, so leaving it
        # would delay those messages until the next bytes (or keepalive) arrive.
        while rc == mqtt.MQTT_ERR_SUCCESS and self._sock is not None and self.buffered_bytes() > 0:
            result = self._packet_read()
            if result > 0:
                return self._loop_rc_handle(result)
            if result == mqtt.MQTT_ERR_AGAIN:
                break
        return rc

    # Set by a consumer that takes QoS 1 messages in bulk: called with [(topic bytes, payload, packet
    # id, fixed header byte), ...] for each run of QoS 1 PUBLISH packets parsed from the buffer
    # (manual_ack clients, no per-topic callbacks); the header's 0x08 bit is the DUP flag. Without
    # it, each message goes to ``on_message`` as usual.
    on_qos1_publishes: Callable[[list[tuple[bytes, bytes, int, int]]], None] | None = None

    def _packet_read(self) -> MQTTErrorCode:
        # Fast path: complete QoS 1 PUBLISH packets already in the buffer are parsed here in one
        # loop (paho spends ~3 reads, two clock reads under a lock and a fresh state dict per packet).
        # Anything else - another packet type, QoS 0/2, MQTT 5 properties, a packet not yet complete,
        # paho mid-way through a packet - is left to paho, which then reads it from the buffer.
        if (
            self._manual_ack
            and self._in_packet["command"] == 0
            and self._rsock is self._sock
            and self._rpos < len(self._rbuf)
            and not self._filtered_callbacks
        ):
            messages = self._parse_publishes()
            if messages:
                self._deliver(messages)
                with self._msgtime_mutex:
                    self._last_bytes_received = mqtt.time_func()
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        return super()._packet_read()

    def _parse_publishes(self) -> list[tuple[bytes, bytes, int, int]]:
        """Consume the complete QoS 1 PUBLISH packets at the head of the buffer: (topic, payload, mid, flags)."""
        buf, pos, end = self._rbuf, self._rpos, len(self._rbuf)
        v5 = self._protocol == mqtt.MQTTv5
        out: list[tuple[bytes, bytes, int, int]] = []
        while pos + 2 <= end:
            header = buf[pos]
            if header & 0xF6 != 0x32:  # PUBLISH (0x3_) with QoS 1 (bits 1-2 = 01); dup/retain any
                break
            # Remaining length: 1-4 bytes, 7 bits each, the high bit saying "more follows".
            length, shift, at, complete = 0, 0, pos + 1, False
            while at < end and shift <= 21:
                byte = buf[at]
                at += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    complete = True
                    break
            if not complete or at + length > end or length < 4:
                break  # not all here yet, malformed or too short: paho reads (or refuses) it
            body_end = at + length
            topic_len = (buf[at] << 8) | buf[at + 1]
            mid_at = at + 2 + topic_len
            payload_at = mid_at + 2 + (1 if v5 else 0)
            if topic_len == 0 or payload_at > body_end or (v5 and buf[mid_at + 2] != 0):
                break  # empty topic (alias), MQTT 5 properties or a malformed packet: paho decodes it
            out.append(
                (buf[at + 2 : mid_at], buf[payload_at:body_end], (buf[mid_at] << 8) | buf[mid_at + 1], header)
            )
            pos = body_end
        self._rpos = pos
        return out

    def _deliver(self, messages: list[tuple[bytes, bytes, int, int]]) -> None:
        bulk = self.on_qos1_publishes
        with self._in_callback_mutex:
            try:
                if bulk is not None:
                    bulk(messages)
                    return
                on_message = self.on_message
                if on_message is None:
                    return
                for topic, payload, mid, header in messages:
                    message = mqtt.MQTTMessage(mid=mid, topic=topic)
                    message.dup = bool(header & 0x08)
                    message.qos = 1
                    message.retain = bool(header & 0x01)
                    message.payload = payload
                    message.timestamp = mqtt.time_func()
                    try:  # one failing message must not cost the others their delivery (as in paho)
                        on_message(self, self._userdata, message)
                    except Exception as err:
                        self._callback_failed(err)
            except Exception as err:
                self._callback_failed(err)

    def _callback_failed(self, err: Exception) -> None:
        self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
        if not self.suppress_exceptions:
            raise err

    def _handle_publish(self) -> MQTTErrorCode:
        # MQTT 5 fast path for the common QoS 1 PUBLISH without properties: paho builds and unpacks
        # a Properties object for every message (~15% of the receive path in the profile). Anything
        # else (QoS 0/2, properties present, a packet that does not parse) goes to paho unchanged.
        if self._protocol != mqtt.MQTTv5:
            return super()._handle_publish()
        header = self._in_packet["command"]
        packet = self._in_packet["packet"]
        qos = (header & 0x06) >> 1
        if qos != 1 or len(packet) < 5:
            return super()._handle_publish()
        topic_len = (packet[0] << 8) | packet[1]
        at = 2 + topic_len
        if topic_len == 0 or len(packet) < at + 3 or packet[at + 2] != 0:
            return super()._handle_publish()  # topic alias or properties: paho decodes them
        message = mqtt.MQTTMessage(mid=(packet[at] << 8) | packet[at + 1], topic=bytes(packet[2:at]))
        message.dup = bool(header & 0x08)
        message.qos = 1
        message.retain = bool(header & 0x01)
        message.payload = bytes(packet[at + 3 :])
        message.timestamp = mqtt.time_func()
        self._handle_on_message(message)
        if self._manual_ack:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        return self._send_puback(message.mid)

    _filtered_callbacks = False

    def message_callback_add(self, sub: str, callback: Any) -> None:
        self._filtered_callbacks = True
        super().message_callback_add(sub, callback)

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        # paho walks its per-topic callback tree for every message, even an empty one (the largest
        # single item of the receive path in the profile); without per-topic callbacks, go direct.
        if self._filtered_callbacks:
            super()._handle_on_message(message)
            return
        on_message = self.on_message
        if on_message is None:
            return
        with self._in_callback_mutex:
            try:
                on_message(self, self._userdata, message)
            except Exception as err:
                self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                if not self.suppress_exceptions:
                    raise

    def _sock_close(self) -> None:
        self._rbuf, self._rpos, self._rsock = b"", 0, None
        super()._sock_close()

    def ack_many(self, mids: Iterable[int]) -> MQTTErrorCode:
        """PUBACK each QoS 1 packet id, in order, as one queued write (manual_ack clients only)."""
        packet = pubacks(mids)
        if not packet:
            return mqtt.MQTT_ERR_SUCCESS
        return self._packet_queue(PUBACK, packet, 0, 1)


def make_client(*args: Any, buffered: bool = True, **kwargs: Any) -> mqtt.Client:
    """A :class:`BufferedClient` when this paho supports it, else the stock client."""
    if buffered and buffered_supported():
        return BufferedClient(*args, **kwargs)
    if buffered:
        log.warning(
            "paho %s lacks the members the buffered client needs; using the stock client", mqtt.__name__
        )
    return mqtt.Client(*args, **kwargs)


def ack_all(client: mqtt.Client, mids: list[int]) -> None:
    """Acknowledge QoS 1 *mids* in order: one write with the buffered client, one per id otherwise."""
    if isinstance(client, BufferedClient):
        client.ack_many(mids)
        return
    for mid in mids:
        client.ack(mid, 1)


class Unsubacks:
    """The UNSUBACKs one client has had, by packet id: call :meth:`seen` from ``on_unsubscribe``.

    Ids are remembered, not "the next one": an UNSUBACK may arrive before ``unsubscribe`` has
    returned its id to the caller.
    """

    def __init__(self) -> None:
        self._arrived = threading.Condition()
        self._mids: set[int] = set()

    def seen(self, mid: int) -> None:
        with self._arrived:
            self._mids.add(mid)
            self._arrived.notify_all()

    def wait(self, mid: int, timeout: float) -> bool:
        """True once the UNSUBACK of *mid* has arrived; False after *timeout* s without it."""
        with self._arrived:
            return self._arrived.wait_for(lambda: mid in self._mids, timeout)


def ack_barrier(client: mqtt.Client, unsubacks: Unsubacks, timeout: float) -> bool:
    """Wait until the broker has processed every PUBACK we sent so far; False if it did not say so.

    Closing a socket that still has unread incoming data makes the kernel send RST, and the
    broker may then discard PUBACKs it has received but not yet read: those messages would come
    back as duplicates. The broker answers packets in order, so an UNSUBACK for
    :data:`ACK_BARRIER_TOPIC`, a filter nobody subscribes to, proves every earlier PUBACK was
    processed.
    """
    result, mid = client.unsubscribe(ACK_BARRIER_TOPIC)
    if result != mqtt.MQTT_ERR_SUCCESS or mid is None:
        return False
    return unsubacks.wait(mid, timeout)
