"""A QoS 1 MQTT 3.1.1 publisher on a raw socket: pre-encoded PUBLISH packets, written in paced chunks.

The benchmark's load generator shares 2 cores with the broker and the subscriber under test, so it
must be cheap: a paho publisher spends tens of µs of Python per message, which limited the old
reference to what the publishers could send. Here a message costs one slice of a pre-built buffer;
PUBACKs are read (and counted) by a second thread so the broker never blocks on us.
``mosquitto_pub -l`` would be as cheap but publishes every line to one topic, and the gateway
needs one topic per device.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Sequence

TICK_S = 0.001  # paced sending: every tick, everything due so far goes out in one write


def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode_publish(topic: str, payload: bytes, mid: int) -> bytes:
    """A QoS 1 PUBLISH packet (MQTT 3.1.1)."""
    t = topic.encode()
    body = struct.pack("!H", len(t)) + t + struct.pack("!H", mid) + payload
    return b"\x32" + remaining_length(len(body)) + body


def encode_connect(
    client_id: str, keepalive: int = 120, username: str | None = None, password: str | None = None
) -> bytes:
    """A clean-session CONNECT (MQTT 3.1.1), with a username and password when given."""

    def text(value: str) -> bytes:
        data = value.encode()
        return struct.pack("!H", len(data)) + data

    flags = 0x02 | (0xC0 if username is not None else 0)
    credentials = text(username) + text(password or "") if username is not None else b""
    body = b"\x00\x04MQTT\x04" + bytes([flags]) + struct.pack("!H", keepalive) + text(client_id) + credentials
    return b"\x10" + remaining_length(len(body)) + body


class RawPublisher:
    def __init__(
        self, host: str, port: int, client_id: str, username: str | None = None, password: str | None = None
    ) -> None:
        self._sock = socket.create_connection((host, port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.sendall(encode_connect(client_id, username=username, password=password))
        connack = self._recv_exact(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"broker refused the publisher: {connack!r}")
        self.acked = 0
        self._reader = threading.Thread(target=self._read_acks, daemon=True)
        self._reader.start()

    def _recv_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            data += chunk
        return data

    def _read_acks(self) -> None:
        pending = b""
        while True:
            try:
                chunk = self._sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            pending += chunk
            whole = len(pending) // 4  # every packet the broker sends us is a 4-byte PUBACK
            self.acked += whole
            pending = pending[whole * 4 :]

    def send(
        self, packets: Sequence[bytes], rate: float = 0.0, start_at: float = 0.0
    ) -> list[tuple[int, float]]:
        """Send *packets* in order; ``rate`` msg/s paced from ``start_at`` (0 = as fast as possible).

        Returns one ``(index of its first packet, wall time)`` per socket write, the time read just
        before the write: every message's *actual* publish time, so the benchmark measures lag from
        when a message really left, and reports the publisher's own lateness against its schedule
        separately (a slow load generator is not gateway lag).
        """
        while time.time() < start_at:
            time.sleep(0.0005)
        writes: list[tuple[int, float]] = []
        if not rate:
            for i in range(0, len(packets), 1000):
                writes.append((i, time.time()))
                self._sock.sendall(b"".join(packets[i : i + 1000]))
            return writes
        sent = 0
        while sent < len(packets):
            now = time.time()
            due = min(len(packets), int((now - start_at) * rate) + 1)
            if due > sent:
                writes.append((sent, now))
                self._sock.sendall(b"".join(packets[sent:due]))
                sent = due
            time.sleep(TICK_S)
        return writes

    def wait_acked(self, count: int, timeout: float) -> bool:
        deadline = time.time() + timeout
        while self.acked < count and time.time() < deadline:
            time.sleep(0.01)
        return self.acked >= count

    def close(self) -> None:
        try:
            self._sock.sendall(b"\xe0\x00")  # DISCONNECT
        finally:
            self._sock.close()
