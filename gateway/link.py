"""Is the gateway's MQTT session really delivering? Lost sessions, takeovers, flapping, delivery probes.

A connected socket and an acknowledged SUBSCRIBE do not prove that messages reach us:

- another client that connects with our client id takes the session. MQTT 5 brokers may say so
  (DISCONNECT reason 0x8E "session taken over"); Mosquitto 2.0 and 3.1.1 brokers just drop the
  connection, and paho reconnects and takes it back, again and again while the other client
  does the same: the connection *flaps*. The embedded broker (amqtt) does not even drop the old
  connection: it stays "connected" while the session's subscriptions are gone (issue 12);
- a broker that crashed without saving its sessions answers ``session_present=0`` where we
  expected our session: whatever was queued for us meanwhile is gone (issue 14, item 7).

So the gateway *verifies delivery*: after every SUBSCRIBE, and whenever it has heard nothing for
``probe_idle_s``, it publishes a probe (QoS 0, a fresh token) to a topic only it uses and
subscribes to (:func:`probe_topic`), and expects it back within ``probe_timeout_s`` (of the probe
or, while a backlog drains ahead of it, of the latest message or stored batch: the caller's
``last_heard``). A probe that
does not come back on a connection that has delivered one before means the session is broken:
the gateway drops the connection and reconnects, resubscribes and probes again. A probe that never
comes back on a fresh connection (a broker ACL that forbids the probe topic) is reported once and
no longer acted on; deafness (gateway/hearing.py) still watches the plugs' traffic.

Pure: every method takes ``now`` (``time.monotonic()``); the gateway calls it from paho's
network thread (connect, disconnect, probe echo) and from its processing thread (``supervise``),
so one lock guards the state. Nothing here runs per message.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass
from enum import Enum

SESSION_TAKEN_OVER = 0x8E  # MQTT 5 DISCONNECT reason code
PROBE_PREFIX = "anbu-gateway/probe"
PROBE_IDLE_S = 30.0
PROBE_TIMEOUT_S = 5.0
# This many connection losses we did not ask for within the window = flapping.
FLAP_WINDOW_S = 60.0
FLAP_COUNT = 3
# A probe that fails on this many fresh connections in a row, never having worked: not supported here.
UNVERIFIED_FAILURES_BEFORE_GIVING_UP = 2

_TOPIC_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def probe_topic(client_id: str) -> str:
    """The gateway-only topic its probes travel on (one per client id, never shared)."""
    return f"{PROBE_PREFIX}/{_TOPIC_UNSAFE.sub('_', client_id) or '_'}"


class Action(Enum):
    NONE = "none"
    PROBE = "probe"  # publish a probe now
    RECONNECT = "reconnect"  # the session does not deliver: drop the connection and reconnect


@dataclass(frozen=True)
class LinkFigures:
    sessions_lost: int
    session_takeovers: int
    disconnects: int  # connection losses we did not ask for
    flapping: bool
    probes_sent: int
    probe_failures: int
    delivery_reconnects: int  # reconnects because a probe did not come back
    delivery_verified: bool  # a probe came back on the current connection
    probe_supported: bool


class LinkWatch:
    def __init__(
        self,
        *,
        expect_session: bool = False,
        session_expiry_s: float | None = None,
        probe_idle_s: float = PROBE_IDLE_S,
        probe_timeout_s: float = PROBE_TIMEOUT_S,
        flap_window_s: float = FLAP_WINDOW_S,
        flap_count: int = FLAP_COUNT,
    ) -> None:
        """``expect_session``: the broker should already hold our session at the first connect
        (a previous gateway process with this client id was connected within the session expiry).
        ``session_expiry_s``: how long the broker keeps it while we are away (None = for ever)."""
        self._lock = threading.Lock()
        self._expect_session = expect_session
        self._session_expiry_s = session_expiry_s
        self._probe_idle_s = probe_idle_s
        self.probe_timeout_s = probe_timeout_s
        self.flap_window_s = flap_window_s
        self.flap_count = flap_count
        self._connected = False
        self._subscribed = False
        self._disconnected_at: float | None = None
        self._drops: deque[float] = deque()
        self._was_flapping = False
        self._probe_token: bytes | None = None
        self._probe_sent_at = 0.0
        self._probe_due = False
        self._last_echo_at = 0.0
        self._verified_here = False  # a probe came back on this connection
        self._verified_ever = False
        self._unverified_failures = 0
        self._supported = True
        self.sessions_lost = 0
        self.session_takeovers = 0
        self.disconnects = 0
        self.probes_sent = 0
        self.probe_failures = 0
        self.delivery_reconnects = 0

    # --- events (network thread) --------------------------------------------------------------

    def connected(self, now: float, *, session_present: bool, persistent: bool) -> bool:
        """A successful CONNACK. True when the broker lost a session we expected it to keep.

        ``persistent``: this connection asked the broker to keep the session after it ends.
        """
        with self._lock:
            expected = self._expect_session and not (
                self._disconnected_at is not None
                and self._session_expiry_s is not None
                and now - self._disconnected_at > self._session_expiry_s
            )
            lost = expected and not session_present
            if lost:
                self.sessions_lost += 1
            self._expect_session = persistent
            self._connected = True
            self._subscribed = False
            self._verified_here = False
            self._probe_token = None
            return lost

    def disconnected(self, now: float, *, reason: int | None, requested: bool) -> bool:
        """The connection ended. True when another client took our session (MQTT 5 reason 0x8E)."""
        with self._lock:
            was_connected = self._connected
            self._connected = False
            self._subscribed = False
            self._probe_token = None
            self._disconnected_at = now
            if requested or not was_connected:
                return False
            self.disconnects += 1
            self._drops.append(now)
            taken = reason == SESSION_TAKEN_OVER
            if taken:
                self.session_takeovers += 1
            return taken

    def subscribed(self, now: float) -> None:
        """Our SUBSCRIBE was acknowledged: verify that messages really arrive."""
        with self._lock:
            self._subscribed = True
            self._probe_due = True

    def probe_sent(self, now: float, token: bytes) -> None:
        with self._lock:
            self._probe_token = token
            self._probe_sent_at = now
            self._probe_due = False
            self.probes_sent += 1

    def probe_echoed(self, now: float, token: bytes) -> bool:
        """A probe came back. False for a token we are not waiting for (an old or foreign one)."""
        with self._lock:
            if self._probe_token is None or token != self._probe_token:
                return False
            self._probe_token = None
            self._last_echo_at = now
            self._verified_here = self._verified_ever = True
            self._unverified_failures = 0
            self._supported = True
            return True

    # --- processing thread --------------------------------------------------------------------

    def supervise(self, now: float, last_heard: float) -> Action:
        """What to do now, given when a message last arrived (any message but a probe)."""
        with self._lock:
            if not (self._connected and self._subscribed):
                return Action.NONE
            if self._probe_token is not None:
                # A QoS 0 probe travels behind whatever the broker queued for us (a backlog after
                # a reconnect): while messages keep arriving on this connection it delivers, so
                # only silence for the probe's timeout, since the probe and since the latest
                # message, fails it (a probe failed mid-drain made the broker resend the backlog).
                if now - max(self._probe_sent_at, last_heard) < self.probe_timeout_s:
                    return Action.NONE
                return self._probe_failed()
            if self._probe_due:
                return Action.PROBE
            if not self._supported:
                return Action.NONE
            quiet_since = max(last_heard, self._last_echo_at, self._probe_sent_at)
            if now - quiet_since >= self._probe_idle_s:
                return Action.PROBE
            return Action.NONE

    def _probe_failed(self) -> Action:
        self._probe_token = None
        self.probe_failures += 1
        if self._verified_here:
            # Delivery worked on this connection and stopped: the session is broken (taken over).
            self.delivery_reconnects += 1
            return Action.RECONNECT
        # A fresh connection: once more on another before concluding anything, so a probe the
        # broker forbids (ACL) cannot make us reconnect for ever.
        self._unverified_failures += 1
        if self._unverified_failures < UNVERIFIED_FAILURES_BEFORE_GIVING_UP:
            self.delivery_reconnects += 1
            return Action.RECONNECT
        self._supported = False
        return Action.NONE

    def flapping(self, now: float) -> bool:
        with self._lock:
            return self._flapping(now)

    def flapping_changed(self, now: float) -> bool | None:
        """True when flapping starts, False when it ends, None otherwise (for logging once)."""
        with self._lock:
            flapping = self._flapping(now)
            if flapping == self._was_flapping:
                return None
            self._was_flapping = flapping
            return flapping

    def _flapping(self, now: float) -> bool:
        while self._drops and self._drops[0] <= now - self.flap_window_s:
            self._drops.popleft()
        return len(self._drops) >= self.flap_count

    def probe_supported(self) -> bool:
        with self._lock:
            return self._supported

    def figures(self, now: float) -> LinkFigures:
        with self._lock:
            return LinkFigures(
                sessions_lost=self.sessions_lost,
                session_takeovers=self.session_takeovers,
                disconnects=self.disconnects,
                flapping=self._flapping(now),
                probes_sent=self.probes_sent,
                probe_failures=self.probe_failures,
                delivery_reconnects=self.delivery_reconnects,
                delivery_verified=self._verified_here,
                probe_supported=self._supported,
            )
