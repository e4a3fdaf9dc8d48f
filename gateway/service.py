"""The MQTT gateway: paho's network thread only enqueues; one processing thread commits, then acks.

Delivery guarantee (with a broker that keeps sessions, e.g. Mosquitto): at least once, made
exactly-once in the database by the readings' unique key. A message is acknowledged only after
the transaction holding its rows has committed; anything not acknowledged when the gateway
stops or crashes is redelivered by the broker to the same client id (persistent session,
``clean_start=False``, ``SessionExpiryInterval``). Acks go out in arrival order, and never for a
message received on an earlier connection (its packet id may mean something else now).
"""

from __future__ import annotations

import logging
import math
import os
import queue
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from core.clock import Clock, SteadyClock
from core.heap import freeze_startup_objects
from core.models import Device
from core.settings import Settings
from gateway.adapters import subscription_filters
from gateway.backpressure import Capacity
from gateway.batches import BatchProcessor, Interrupted
from gateway.batching import take_batch
from gateway.hearing import Hearing, deaf_limit, device_bound, live_intervals
from gateway.ingest import BatchResult, InboundMessage
from gateway.link import FLAP_WINDOW_S, PROBE_IDLE_S, PROBE_TIMEOUT_S, Action, LinkWatch, probe_topic
from gateway.mqtt_client import BufferedClient, Unsubacks, ack_all, ack_barrier, make_client
from gateway.mqtt_tls import authenticate, member_credentials, topic_of
from gateway.rate import RecentBatches
from gateway.rescue import (
    Member,
    SessionRescue,
    Sighting,
    claim,
    dead_members,
    finish,
    group_members,
    was_rescued,
)
from gateway.status import (
    STATUS_INTERVAL_S,
    expects_session,
    live_gateways,
    read_status,
    status_row,
    write_status,
)

log = logging.getLogger(__name__)

BATCH_MAX_MESSAGES = 1000
# How long a partial batch waits for more (gateway/batching.py). Under load the queue refills while
# a batch commits, so batches grow on their own; the wait only adds lag to a thin stream.
BATCH_WAIT_S = 0.02  # counted from when the first message arrived, not from when it was taken
# MQTT v5 flow control: the broker stops sending when this many QoS 1 messages await our ack.
# Twice a batch, so the next batch fills while the previous one commits.
RECEIVE_MAXIMUM = 2 * BATCH_MAX_MESSAGES
KEEPALIVE_S = 60
# Reconnect fast while the broker is merely away (a restart after a crash takes a second or two, and
# every second without a session is a second of plug messages nobody is queueing for us); back off
# further only when a broker that answers refuses us (busy, unavailable, quota).
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 2
REFUSED_RECONNECT_MAX_S = 30
# How often the deaf rule re-reads the plugs' reporting intervals (gateway/hearing.py).
EXPECTATION_REFRESH_S = 60.0
# Some 3.1.1-only brokers (amqtt among them) neither accept nor refuse a v5 CONNECT that carries
# properties: they just wait. No CONNACK this long after a first v5 attempt means "speak 3.1.1".
V5_CONNACK_TIMEOUT_S = 5.0

# The network thread says it stopped reading the broker (the store fell behind) at most this often.
BACKPRESSURE_LOG_EVERY_S = 60.0

# How long stopping waits for the broker to confirm our last acks (mqtt_client.ack_barrier).
ACK_BARRIER_TIMEOUT_S = 2.0

# CONNACK reason codes (MQTT 5 numbering; paho maps 3.1.1 return codes onto them).
UNSUPPORTED_PROTOCOL = 132
FATAL_CONNACK = {
    133: "client identifier not valid",
    134: "bad user name or password",
    135: "not authorized",
    138: "banned",
    140: "bad authentication method",
}


@dataclass(slots=True)  # not frozen: a frozen dataclass costs ~1 µs more to build, per message
class _Delivery:
    message: InboundMessage
    mid: int
    qos: int
    generation: int  # the connection it arrived on
    # time.monotonic() when the network thread queued it: the batch wait counts from here
    # (gateway/batching.py). 0.0 = long ago, i.e. never wait for company.
    arrived: float = 0.0


class Gateway:
    """MQTT in, rows out. Start once, stop once; ``anbu`` owns its lifetime."""

    v5_connack_timeout_s = V5_CONNACK_TIMEOUT_S
    # Delivery probes and flapping (gateway/link.py); class attributes so tests can shorten them.
    probe_idle_s = PROBE_IDLE_S
    probe_timeout_s = PROBE_TIMEOUT_S
    flap_window_s = FLAP_WINDOW_S
    status_interval_s = STATUS_INTERVAL_S  # how often the gateway_status row is written

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        clock: Clock,
        *,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        """*credentials*: (username, password) instead of ANBU_MQTT_URL's (the embedded broker's gateway)."""
        self._settings = settings
        self._credentials = credentials
        self._engine = engine
        self._status_written_at: float | None = None  # time.monotonic(); None = never
        # Since when our status writes have kept succeeding (None: the last one failed, or none yet).
        self._status_ok_since: float | None = None
        # Share-group rescue (gateway/rescue.py): what we saw of the other members, and our rescue.
        self._sightings: dict[str, Sighting] = {}
        self._rescue_thread: threading.Thread | None = None
        self._rescue_checked_at: float | None = None
        self._rescues = 0
        self._clock = clock
        # Receive times never step back (docs/reliability.md, item 8); see _receive_time.
        self._receive_clock = SteadyClock(clock)
        self._next_receive_time: datetime | None = None
        self._endpoint = settings.mqtt_endpoint
        # amqtt (the embedded broker) speaks 3.1.1 only; elsewhere try 5, fall back if refused/unanswered
        # (ANBU_MQTT_PROTOCOL=auto), or keep to the version the operator chose.
        v311 = settings.mqtt_protocol == "3.1.1" or (
            settings.mqtt_protocol == "auto" and settings.uses_embedded_broker
        )
        self._protocol = MQTTProtocolVersion.MQTTv311 if v311 else MQTTProtocolVersion.MQTTv5
        self._may_fall_back = settings.mqtt_protocol == "auto"
        # Bounded by backpressure, never by dropping: when ANBU_GATEWAY_QUEUE_MAX messages wait, the
        # network thread waits for room and reads no more from the broker (gateway/backpressure.py).
        self._queue: queue.SimpleQueue[_Delivery] = queue.SimpleQueue()
        self._capacity = Capacity(settings.gateway_queue_max)
        self._backpressure_logged_at: float | None = None
        self._stop = threading.Event()
        self._interrupt = threading.Event()
        self._connected_event = threading.Event()  # connected AND subscriptions acknowledged
        self._subscribe_mid: int | None = None
        self._unsubacks = Unsubacks()
        # Guards (client, generation, connected) so an ack never crosses a reconnect.
        self._conn_lock = threading.Lock()
        self._generation = 0
        self._connected = False
        self._client: mqtt.Client | None = None
        self._fallback_requested = False
        self._ever_connected = False
        self._awaiting_connack_since: float | None = None  # TCP is up, CONNECT sent, no answer yet
        self._fatal_error: str | None = None
        self._thread: threading.Thread | None = None
        self._processor: BatchProcessor[_Delivery] = BatchProcessor(
            engine, clock, settings, message_of=lambda d: d.message, interrupt=self._interrupt
        )
        self._metrics_lock = threading.Lock()
        self._totals = BatchResult()
        self._received = 0
        self._batches = 0
        self._acked = 0
        self._stale_acks_skipped = 0
        self._last_batch_ms = 0.0
        self._recent = RecentBatches()
        # Is the session delivering (gateway/link.py), and is the gateway hearing plugs (gateway/hearing.py)?
        self._probe_topic = probe_topic(settings.mqtt_client_id)
        self._link = self._new_link(expect_session=False)
        self._hearing = Hearing(settings.offline_silence_factor)
        self._last_arrival = time.monotonic()  # the latest arrival of anything but a probe (network thread)
        self._last_stored_at = self._last_arrival  # when the latest batch was stored (processing thread)
        self._device_bound: float | None = None
        self._expectation_at: float | None = None  # time.monotonic() of the last refresh
        self._deaf_limit_s: float | None = None
        self._deaf = False
        self._dropping = False  # we are dropping the connection ourselves (a failed probe)
        self._probe_warned = False
        self._session_lost_at: datetime | None = None  # wall clock, the latest lost session
        # How long we were away when a session comes back with messages kept for us: the backlog's
        # rate allowance (gateway/flood.py). Monotonic time of the last lost connection, or the
        # previous process's absence read from its status row at start.
        self._away_since: float | None = None
        self._absent_at_start_s = 0.0
        self._refused_backoff = False

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background and start processing; returns at once."""
        if self._thread is not None:
            raise RuntimeError("gateway already started")
        freeze_startup_objects()
        self._last_arrival = time.monotonic()
        self._link = self._new_link(expect_session=self._previous_session_expected())
        self._receive_clock = SteadyClock(self._clock, floor=self._last_heard())
        self._client = self._make_client(self._protocol)
        self._connect(self._client)
        self._thread = threading.Thread(target=self._run, name="anbu-gateway-ingest", daemon=True)
        self._thread.start()
        if self._settings.mqtt_share_group and self._settings.uses_embedded_broker:
            log.warning("ANBU_MQTT_SHARE_GROUP is ignored: the embedded broker has no shared subscriptions")
        log.info(
            "gateway started: %s:%d client_id=%s topics=%s",
            self._endpoint.host,
            self._endpoint.port,
            self._settings.mqtt_client_id,
            ",".join(self.topic_filters()),
        )

    def stop(self, timeout: float = 5) -> None:
        """Commit and ack what is queued (for about *timeout* s), then disconnect.

        Whatever is still unacknowledged stays with the broker's session and is redelivered.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._interrupt.set()  # stop waiting for the database; leave the rest unacked
                self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("gateway processing thread did not stop")
        # Nothing will take from the queue any more: a network thread waiting for room gives up, and
        # what it held stays unqueued and unacknowledged, for the broker to redeliver.
        self._capacity.close()
        if self._thread is not None:
            self._write_status(stopped=True)  # a clean stop: a silent status row is then no incident
        client = self._client
        if client is not None:
            self._confirm_acks_delivered(client, timeout)
            client.disconnect()
            client.loop_stop()
        log.info("gateway stopped (%d messages still queued, left for redelivery)", self._queue.qsize())

    def _confirm_acks_delivered(self, client: mqtt.Client, timeout: float) -> None:
        """Wait until the broker has processed our last PUBACKs before closing the socket."""
        if not self._connected:
            return
        if not ack_barrier(client, self._unsubacks, min(timeout, ACK_BARRIER_TIMEOUT_S)):
            log.warning("broker did not confirm our last acknowledgements; some messages may be redelivered")

    def _new_link(self, *, expect_session: bool) -> LinkWatch:
        return LinkWatch(
            expect_session=expect_session,
            session_expiry_s=self._session_expiry_s(),
            probe_idle_s=self.probe_idle_s,
            probe_timeout_s=self.probe_timeout_s,
            flap_window_s=self.flap_window_s,
        )

    def _session_expiry_s(self) -> float | None:
        """How long the broker keeps our session while we are away (None: until it is restarted)."""
        if self._settings.uses_embedded_broker:
            return None  # kept while the broker runs; it lives and dies with this process
        return float(self._settings.mqtt_session_expiry_s)

    def _previous_session_expected(self) -> bool:
        """Did a gateway with our client id leave a session the broker should still hold?"""
        try:
            row = read_status(self._engine, self._settings.mqtt_client_id)
        except Exception as exc:  # best effort: without it, a lost session at startup goes unnoticed
            log.warning("could not read the previous gateway status: %s", type(exc).__name__)
            return False
        if row is not None:
            self._session_lost_at = row.session_lost_at  # the incidents tick compares against it
        if self._settings.uses_embedded_broker:
            return False  # the embedded broker lives in this process: no session survives it
        if was_rescued(row):
            assert row is not None
            log.warning(
                "while this gateway was away, group member %s drained its broker session and retired "
                "it: nothing queued for us was lost; starting a new session",
                row.rescued_by,
            )
            return False
        expected = expects_session(row, self._clock.now(), self._settings.mqtt_session_expiry_s)
        if expected and row is not None:
            self._absent_at_start_s = max(0.0, (self._clock.now() - row.updated_at).total_seconds())
        return expected

    def wait_connected(self, timeout: float) -> bool:
        """True once connected *and* subscribed (messages published from now on reach us)."""
        deadline = time.monotonic() + timeout
        while not self._connected_event.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._fatal_error is not None:
                return False
            self._connected_event.wait(min(remaining, 0.05))
        return True

    def alive(self) -> bool:
        """Liveness: the processing thread still runs (it ends only on stop)."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def fatal_error(self) -> str | None:
        """Why the gateway gave up connecting (bad credentials, not authorised), if it did."""
        return self._fatal_error

    def metrics(self) -> dict[str, float | int | bool]:
        now = time.monotonic()
        link = self._link.figures(now)
        with self._metrics_lock:
            return {
                "received": self._received,
                "stored": self._totals.stored,
                "duplicates": self._totals.duplicates,
                "rejected": self._totals.rejected,
                "edges": self._totals.edges,
                "clock_suspect": self._totals.clock_suspect,
                "pending_devices_created": self._totals.pending_devices_created,
                "pending_refused": self._totals.pending_refused,
                "rate_limited": self._totals.rate_limited,
                "ignored": self._totals.ignored,
                "batches": self._batches,
                "acked": self._acked,
                "stale_acks_skipped": self._stale_acks_skipped,
                "db_retries": self._processor.db_retries,
                "poison_messages": self._processor.poison_messages,
                "queue_depth": self._queue.qsize(),
                "queue_limit": self._capacity.limit,
                "backpressure_waits": self._capacity.waits,
                "backpressure_s": self._capacity.waited_s,
                "connected": self._connected,
                "generation": self._generation,
                "last_batch_ms": self._last_batch_ms,
                "batch_ms_p50": self._recent.latency_ms(0.5),
                "batch_ms_p99": self._recent.latency_ms(0.99),
                "messages_per_s": self._recent.messages_per_s(time.monotonic()),
                "auth_failed": self._fatal_error is not None,
                "sessions_lost": link.sessions_lost,
                "session_takeovers": link.session_takeovers,
                "disconnects": link.disconnects,
                "flapping": link.flapping,
                "probes_sent": link.probes_sent,
                "probe_failures": link.probe_failures,
                "delivery_reconnects": link.delivery_reconnects,
                "delivery_verified": link.delivery_verified,
                "seconds_since_heard": now - self._last_arrival,
                "deaf_limit_s": math.inf
                if self._deaf_limit_s is None
                else self._deaf_limit_s,  # inf: none expected
                "deaf": self._deaf,
                # A share group whose delivery no probe ever confirmed: the broker may ignore "$share".
                "share_group_unverified": self._shared() and not link.probe_supported,
                "group_rescues": self._rescues,
            }

    @property
    def probe_topic(self) -> str:
        """The gateway-only topic of its delivery probes (the broker ACL must let it publish and read it)."""
        return self._probe_topic

    def _shared(self) -> bool:
        return bool(self._settings.mqtt_share_group) and not self._settings.uses_embedded_broker

    @property
    def probe_filter(self) -> str:
        """Our probe subscription: through the share group when there is one, so a probe that
        comes back proves the broker delivers on shared subscriptions too (NATS accepts them
        and delivers nothing)."""
        if not self._shared():
            return self._probe_topic
        return f"$share/{self._settings.mqtt_share_group}/{self._probe_topic}"

    def topic_filters(self) -> list[str]:
        filters = subscription_filters(self._settings)
        group = self._settings.mqtt_share_group
        # amqtt has no shared subscriptions: "$share/..." would silently match nothing there.
        if not group or self._settings.uses_embedded_broker:
            return filters
        return [f"$share/{group}/{f}" for f in filters]

    # --- MQTT client -------------------------------------------------------------------------

    def _make_client(self, protocol: MQTTProtocolVersion) -> mqtt.Client:
        v5 = protocol == mqtt.MQTTv5
        # Buffered reads and one write per batch of PUBACKs (gateway/mqtt_client.py).
        client = make_client(
            CallbackAPIVersion.VERSION2,
            client_id=self._settings.mqtt_client_id,
            protocol=protocol,
            clean_session=None if v5 else False,  # 3.1.1: keep the session across reconnects
            manual_ack=True,
        )
        client.suppress_exceptions = True  # a bug in a callback must not kill the network thread
        client.reconnect_delay_set(min_delay=RECONNECT_MIN_S, max_delay=RECONNECT_MAX_S)
        self._refused_backoff = False
        authenticate(client, self._settings, self._credentials)
        client.on_socket_open = self._on_socket_open
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        client.on_message = self._on_message
        if isinstance(client, BufferedClient):
            client.on_qos1_publishes = self._on_qos1_publishes
        return client

    def _connect(self, client: mqtt.Client) -> None:
        if client.protocol == mqtt.MQTTv5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self._settings.mqtt_session_expiry_s
            properties.ReceiveMaximum = RECEIVE_MAXIMUM
            # paho's default (clean start on the first connect only) would drop our session on restart.
            client.connect_async(
                self._endpoint.host,
                self._endpoint.port,
                keepalive=KEEPALIVE_S,
                clean_start=False,
                properties=properties,
            )
        else:
            client.connect_async(self._endpoint.host, self._endpoint.port, keepalive=KEEPALIVE_S)
        client.loop_start()  # paho retries the first connection and reconnects with capped backoff

    def _on_socket_open(self, _client: mqtt.Client, _userdata: object, _sock: object) -> None:
        # Called by paho once TCP is connected, just before it sends CONNECT.
        self._awaiting_connack_since = time.monotonic()

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._awaiting_connack_since = None
        if reason_code.is_failure:
            self._on_refused(client, reason_code)
            return
        with self._conn_lock:
            self._generation += 1
            self._connected = True
            generation = self._generation
        self._ever_connected = True
        self._dropping = False
        if self._refused_backoff:  # the broker takes us again: back to fast reconnects
            client.reconnect_delay_set(min_delay=RECONNECT_MIN_S, max_delay=RECONNECT_MAX_S)
            self._refused_backoff = False
        v5 = client.protocol == mqtt.MQTTv5
        persistent = not v5 or self._settings.mqtt_session_expiry_s > 0
        lost = self._link.connected(
            time.monotonic(), session_present=flags.session_present, persistent=persistent
        )
        if lost:
            self._session_lost_at = self._clock.now()
        if flags.session_present:
            self._allow_backlog()
        log.log(
            logging.WARNING if lost else logging.INFO,
            "connected to MQTT %s:%d (MQTT %s, session_present=%s, generation=%d)%s",
            self._endpoint.host,
            self._endpoint.port,
            "5" if v5 else "3.1.1",
            flags.session_present,
            generation,
            " - the broker LOST OUR SESSION: messages queued for the gateway while it was away are gone "
            "(broker restarted without saving sessions, or another client took our client id; "
            "see docs/reliability.md)"
            if lost
            else "",
        )
        self._subscribe(client)

    def _allow_backlog(self) -> None:
        """Our session came back with what plugs sent while we were away: a backlog, not a flood
        (gateway/flood.py). Network thread; the limiter reads two floats it sets."""
        away = self._away_since
        absent_s = time.monotonic() - away if away is not None else self._absent_at_start_s
        self._absent_at_start_s = 0.0
        self._processor.allow_backlog(absent_s)

    def _subscribe(self, client: mqtt.Client) -> None:
        """Subscribe to every device filter and to our own probe topic (always; cheap, idempotent)."""
        topics = [*self.topic_filters(), self.probe_filter]
        if client.protocol == mqtt.MQTTv5:
            # retainHandling=1: retained messages only for a new subscription, not on every reconnect.
            options = SubscribeOptions(qos=1, retainHandling=1)
            result, mid = client.subscribe([(t, options) for t in topics])
        else:
            result, mid = client.subscribe([(t, 1) for t in topics])
        if result != mqtt.MQTT_ERR_SUCCESS:
            log.error("subscribe failed: %s", mqtt.error_string(result))
        self._subscribe_mid = mid

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        if mid != self._subscribe_mid:
            return
        for topic, code in zip([*self.topic_filters(), self.probe_filter], reason_codes, strict=False):
            if code.is_failure:
                log.error(
                    "broker refused the subscription to %s (%s): those messages will not arrive", topic, code
                )
        log.info("subscribed to %d topic filters", len(reason_codes))
        self._link.subscribed(time.monotonic())
        self._connected_event.set()

    def _on_unsubscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        mid: int,
        _reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        self._unsubacks.seen(mid)

    def _on_refused(self, client: mqtt.Client, reason_code: ReasonCode) -> None:
        code = reason_code.value
        if code == UNSUPPORTED_PROTOCOL and client.protocol == mqtt.MQTTv5 and self._may_fall_back:
            log.warning("broker refused MQTT 5; falling back to MQTT 3.1.1 with a persistent session")
            self._fallback_requested = True
            client.disconnect()  # ends this client's loop; the processing thread builds a 3.1.1 one
        elif code in FATAL_CONNACK or code == UNSUPPORTED_PROTOCOL:  # the latter: ANBU_MQTT_PROTOCOL chosen
            reason = FATAL_CONNACK.get(code, "unsupported protocol version (ANBU_MQTT_PROTOCOL)")
            self._fatal_error = f"MQTT broker refused the gateway: {reason} ({code})"
            log.critical(
                "%s; NOT retrying. Check ANBU_MQTT_URL credentials and the broker ACL for client id %s.",
                self._fatal_error,
                self._settings.mqtt_client_id,
            )
            client.disconnect()
        else:
            if not self._refused_backoff:  # it answers but will not have us now: do not hammer it
                client.reconnect_delay_set(min_delay=RECONNECT_MIN_S, max_delay=REFUSED_RECONNECT_MAX_S)
                self._refused_backoff = True
            log.warning("MQTT connection refused (%s); retrying with backoff", reason_code)

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._awaiting_connack_since = None
        with self._conn_lock:
            was_connected = self._connected
            self._generation += 1
            self._connected = False
        if was_connected:
            self._away_since = time.monotonic()
        self._connected_event.clear()
        requested = self._stop.is_set() or self._dropping or self._fallback_requested
        taken = self._link.disconnected(
            time.monotonic(), reason=_reason_value(reason_code), requested=requested
        )
        if taken:
            log.warning(
                "another client connected with our client id %s and took the gateway's session "
                "(MQTT 5 reason 'session taken over'); reconnecting. Reserve the id in the broker ACL.",
                self._settings.mqtt_client_id,
            )
        elif was_connected and not self._stop.is_set():
            log.warning("disconnected from MQTT broker (%s); reconnecting", reason_code)

    def _last_heard(self) -> datetime | None:
        """When any gateway last heard any device: receive times start no earlier (a host clock that
        stepped back while the gateway was restarting must not date readings in the past)."""
        try:
            with self._engine.connect() as connection:
                value = connection.execute(select(func.max(col(Device.last_seen_at)))).scalar()
        except Exception as exc:  # the database may be down at start: ingest waits for it anyway
            log.warning(
                "could not read the last receive time (%s); starting from the clock", type(exc).__name__
            )
            return None
        return value if isinstance(value, datetime) else None

    def _receive_time(self, count: int) -> datetime:
        """When a socket read's *count* messages arrived (network thread only).

        Never earlier than before, even when the host clock steps back (``core.clock.SteadyClock``),
        and each read gets instants of its own: its messages are ``count`` microseconds apart
        (``InboundMessage.arrival``), so readings without a device time never tie.
        """
        now = self._receive_clock.now()
        free = self._next_receive_time
        if free is not None and now < free:
            now = free
        self._next_receive_time = now + timedelta(microseconds=count)
        return now

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        # Network thread: enqueue and return. No parsing, no database, nothing that can block.
        try:
            topic = topic_of(msg)
            arrived = time.monotonic()
            if topic == self._probe_topic:  # our own delivery probe (QoS 0): not device data
                self._link.probe_echoed(arrived, bytes(msg.payload))
                return
            self._last_arrival = arrived
            if not self._room_for(1):
                return  # stopping: left unacknowledged, the broker redelivers it
            inbound = InboundMessage(
                topic, bytes(msg.payload), self._receive_time(1), msg.mid if msg.qos else 0, bool(msg.dup)
            )
            self._queue.put(_Delivery(inbound, msg.mid, msg.qos, self._generation, arrived))
            # Only this thread writes the counter; a lock per message cost more than it protected.
            self._received += 1
        except Exception:
            log.exception("could not enqueue an MQTT message (it stays unacknowledged)")

    def _on_qos1_publishes(self, messages: list[tuple[bytes, bytes, int, int]]) -> None:
        # Network thread, the bulk form of _on_message for the buffered client: every QoS 1 message
        # parsed from one socket read. They arrived together, so they share one received_at (and
        # each has its place in the read: InboundMessage.arrival).
        try:
            received_at = self._receive_time(len(messages))
            arrived = self._last_arrival = time.monotonic()
            generation = self._generation
            put = self._queue.put
            room = 0
            for arrival, (topic_bytes, payload, mid, header) in enumerate(messages):
                if room == 0:
                    room = self._room_for(len(messages) - arrival)
                    if room == 0:
                        return  # stopping: the rest stay unacknowledged, the broker redelivers them
                try:
                    topic = topic_bytes.decode("utf-8")
                except UnicodeDecodeError:
                    topic = topic_bytes.decode("utf-8", errors="backslashreplace")  # rejected later
                inbound = InboundMessage(topic, payload, received_at, mid, header & 0x08 != 0, arrival)
                put(_Delivery(inbound, mid, 1, generation, arrived))
                room -= 1
                self._received += 1
        except Exception:
            log.exception("could not enqueue MQTT messages (they stay unacknowledged)")

    def _room_for(self, wanted: int) -> int:
        """Slots in the queue for up to *wanted* messages (network thread). While the queue is full
        this waits, and paho reads nothing more from the socket meanwhile: the broker keeps the rest.
        0 only when the gateway is stopping (the processing thread is gone)."""
        waits = self._capacity.waits
        room = self._capacity.take(wanted, give_up=self._interrupt.is_set)
        if self._capacity.waits != waits:
            now = time.monotonic()
            logged = self._backpressure_logged_at
            if logged is None or now - logged >= BACKPRESSURE_LOG_EVERY_S:
                self._backpressure_logged_at = now
                log.warning(
                    "the store is falling behind: the gateway stopped reading from the broker while "
                    "%d messages waited (ANBU_GATEWAY_QUEUE_MAX); %d such waits, %.1f s in all",
                    self._capacity.limit,
                    self._capacity.waits,
                    self._capacity.waited_s,
                )
        return room

    # --- processing thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while not self._interrupt.is_set():
            if self._stop.is_set() and self._queue.empty():
                break
            try:
                self._supervise()
                batch = self._take_batch()
                if batch:
                    self._process(batch)
                self._maybe_write_status()
                self._maybe_rescue()
            except Interrupted as exc:
                log.warning("gateway stopping before the database came back: %s", exc)
                break
            except Exception:
                # Never let one bad item end ingestion; the batch stays unacked and is redelivered.
                log.exception("unexpected error in the gateway processing loop")

    def _supervise(self) -> None:
        if self._stop.is_set():
            return
        self._watch_link()
        waiting_since = self._awaiting_connack_since
        if (
            self._protocol == MQTTProtocolVersion.MQTTv5
            and self._may_fall_back
            and not self._ever_connected
            and waiting_since is not None
            and time.monotonic() - waiting_since > self.v5_connack_timeout_s
        ):
            log.warning(
                "no CONNACK to MQTT 5 within %.0f s; falling back to MQTT 3.1.1", self.v5_connack_timeout_s
            )
            self._fallback_requested = True
        if not self._fallback_requested:
            return
        self._fallback_requested = False
        old = self._client
        if old is not None:
            old.disconnect()
            old.loop_stop()
        self._protocol = MQTTProtocolVersion.MQTTv311
        client = self._make_client(self._protocol)
        with self._conn_lock:
            self._client = client
        self._connect(client)

    def _watch_link(self) -> None:
        """Probe delivery when quiet, reconnect when it fails, and judge deafness (gateway/hearing.py)."""
        now = time.monotonic()
        heard = self._last_arrival
        # Silence we cause ourselves is not the session's: while a batch is being stored the broker
        # waits for our acknowledgements (receive maximum), and a full queue stops us reading the
        # socket, where the probe's echo waits behind the backlog. So a probe fails only after its
        # timeout with nothing arriving *and* nothing stored.
        action = self._link.supervise(now, max(heard, self._last_stored_at))
        if action is Action.PROBE:
            self._send_probe(now)
        elif action is Action.RECONNECT:
            log.warning(
                "our delivery probe did not come back within %.0f s: the session does not deliver "
                "(taken over by another client?); reconnecting",
                self._link.probe_timeout_s,
            )
            self._drop_connection()
        elif not self._link.probe_supported() and not self._probe_warned:
            self._probe_warned = True
            if self._shared():
                log.critical(
                    "delivery probes through the share group (%s) never come back: this broker accepts "
                    "shared subscriptions but does not deliver on them (NATS does this), or its ACL "
                    "forbids %s. Plug messages may reach no gateway: run one gateway without "
                    "ANBU_MQTT_SHARE_GROUP on such a broker (docs/architecture.md, gateway groups)",
                    self.probe_filter,
                    self._probe_topic,
                )
            else:
                log.error(
                    "delivery probes on %s never come back: allow client id %s to publish and subscribe "
                    "to it in the broker ACL; until then a session taken over is noticed only by deafness",
                    self._probe_topic,
                    self._settings.mqtt_client_id,
                )
        flapping = self._link.flapping_changed(now)
        if flapping:
            log.error(
                "the MQTT connection keeps dropping (%d times within %.0f s): another client may be "
                "using client id %s, or the broker or network is failing",
                self._link.flap_count,
                self._link.flap_window_s,
                self._settings.mqtt_client_id,
            )
        elif flapping is False:
            log.warning("the MQTT connection is stable again")
        self._judge_hearing(now, heard)

    def _judge_hearing(self, now: float, heard: float) -> None:
        self._hearing.observe(now, heard, self._deaf_limit_s)
        if self._expectation_at is None or now - self._expectation_at >= EXPECTATION_REFRESH_S:
            self._expectation_at = now
            self._device_bound = self._expected_bound(now, heard)
        limit = deaf_limit(
            self._device_bound, self._hearing.traffic_bound(now), self._settings.gateway_deaf_min_s
        )
        self._deaf_limit_s = limit
        deaf = limit is not None and now - heard > limit
        if deaf == self._deaf:
            return
        self._deaf = deaf
        if deaf:
            assert limit is not None
            log.error(
                "the gateway has heard no plug for %.0f s, longer than their reporting allows (%.0f s): "
                "it is deaf (connected=%s); resubscribing and probing delivery",
                now - heard,
                limit,
                self._connected,
            )
            with self._conn_lock:
                client, connected = self._client, self._connected
            if client is not None and connected:
                self._subscribe(client)  # lost subscriptions come back; the SUBACK triggers a probe
        else:
            log.warning("the gateway hears plugs again")

    def _expected_bound(self, now: float, heard: float) -> float | None:
        """The device bound of the deaf rule, from the plugs live when we last heard anything."""
        heard_at = self._clock.now() - timedelta(seconds=max(0.0, now - heard))
        try:
            with Session(self._engine) as session:
                intervals = live_intervals(session, heard_at, self._settings)
                group = self._settings.mqtt_share_group
                gateways = 1
                if group and not self._settings.uses_embedded_broker:
                    gateways = live_gateways(session, group, self._clock.now())
        except Exception as exc:  # keep the last bound: a database hiccup must not make us deaf
            log.warning("could not read the plugs' reporting intervals: %s", type(exc).__name__)
            return self._device_bound
        return device_bound(intervals, self._settings.offline_silence_factor, gateways)

    def _send_probe(self, now: float) -> None:
        with self._conn_lock:
            client = self._client if self._connected else None
        if client is None:
            return
        token = os.urandom(8).hex().encode()
        self._link.probe_sent(now, token)
        client.publish(self._probe_topic, token, qos=0)

    def _drop_connection(self) -> None:
        """Close the socket under paho: its loop sees the connection lost and reconnects as usual."""
        with self._conn_lock:
            client = self._client if self._connected else None
        if client is None:
            return
        self._dropping = True
        sock = client.socket()
        try:
            if isinstance(sock, socket.socket):
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed: paho is reconnecting anyway

    def _maybe_write_status(self) -> None:
        # Between batches, on this thread: never inside a batch transaction, and at most one
        # statement per interval (take_batch returns at least every 0.1 s when idle).
        now = time.monotonic()
        if self._status_written_at is not None and now - self._status_written_at < self.status_interval_s:
            return
        self._status_written_at = now
        self._write_status()

    def _write_status(self, *, stopped: bool = False) -> None:
        row = status_row(
            self._settings.mqtt_client_id,
            self._settings.mqtt_share_group,
            self.metrics(),
            self._clock.now(),
            session_lost_at=self._session_lost_at,
            stopped=stopped,
        )
        try:
            write_status(self._engine, row)
        except Exception as exc:  # figures are best effort: ingest goes on without them
            self._status_ok_since = None
            log.warning("could not write the gateway status row: %s", type(exc).__name__)
        else:
            if self._status_ok_since is None:
                self._status_ok_since = time.monotonic()

    # --- share-group rescue (gateway/rescue.py) ------------------------------------------------

    def _maybe_rescue(self) -> None:
        """Between batches: notice a dead group member and drain its session in the background."""
        group = self._settings.mqtt_share_group
        if not group or not self._shared() or self._stop.is_set():
            return
        now = time.monotonic()
        if self._rescue_checked_at is not None and now - self._rescue_checked_at < self.status_interval_s:
            return
        self._rescue_checked_at = now
        if self._rescue_thread is not None and self._rescue_thread.is_alive():
            return
        after_s = self._settings.mqtt_group_rescue_after_s
        try:
            members = group_members(self._engine, group, self._clock.now())
        except Exception as exc:
            log.warning("could not read the share group's members: %s", type(exc).__name__)
            return
        dead = dead_members(members, self._sightings, now, me=self._settings.mqtt_client_id, after_s=after_s)
        # Our own writes must have worked all along: a database outage leaves every row still.
        ok_since = self._status_ok_since
        if not dead or ok_since is None or now - ok_since < after_s:
            return
        member = dead[0]
        try:
            won = claim(self._engine, member, self._settings.mqtt_client_id, self._clock.now())
        except Exception as exc:
            log.warning("could not claim a group member's rescue: %s", type(exc).__name__)
            return
        if not won:
            return  # another member got there first, or it came back
        self._rescue_thread = threading.Thread(
            target=self._rescue, args=(member,), name="anbu-gateway-rescue", daemon=True
        )
        self._rescue_thread.start()

    def _rescue(self, member: Member) -> None:
        group = self._settings.mqtt_share_group
        filters = [*self.topic_filters(), f"$share/{group}/{probe_topic(member.client_id)}"]
        log.warning(
            "group member %s has written no status for %.0f s: draining and retiring its broker session",
            member.client_id,
            self._settings.mqtt_group_rescue_after_s,
        )
        rescue = SessionRescue(
            self._settings,
            self._engine,
            self._clock,
            member=member.client_id,
            filters=filters,
            credentials=member_credentials(self._settings, self._credentials, member.client_id),
            stop=self._stop,
            protocol=self._protocol,
        )
        try:
            outcome = rescue.run()
        except Exception:
            log.exception("the rescue of group member %s failed; another will be tried", member.client_id)
            return
        with self._metrics_lock:
            self._totals.add(outcome.result)
        if not outcome.drained:
            log.warning("rescue of group member %s did not finish: %s", member.client_id, outcome.reason)
            return
        self._rescues += 1
        try:
            finish(self._engine, member, self._settings.mqtt_client_id, self._clock.now())
        except Exception as exc:
            log.warning("could not record the rescue of %s: %s", member.client_id, type(exc).__name__)
        log.warning(
            "group member %s: its session is drained (%d messages, %d readings stored) and retired; "
            "the group now deals its messages among the live members",
            member.client_id,
            outcome.received,
            outcome.result.stored,
        )

    def _take_batch(self) -> list[_Delivery]:
        batch = take_batch(
            self._queue, max_items=BATCH_MAX_MESSAGES, max_wait_s=BATCH_WAIT_S, arrived_at=_arrived
        )
        self._capacity.give_back(len(batch))  # out of the queue: the network thread may read again
        return batch

    def _process(self, batch: list[_Delivery]) -> None:
        started = time.perf_counter()
        result = self._processor.process(batch, self._ack_in_order)
        self._last_stored_at = time.monotonic()
        elapsed_ms = (time.perf_counter() - started) * 1000
        with self._metrics_lock:
            self._totals.add(result)
            self._batches += 1
            self._last_batch_ms = elapsed_ms
            self._recent.record(time.monotonic(), len(batch), elapsed_ms)
        log.debug(
            "batch of %d: stored=%d duplicates=%d rejected=%d edges=%d in %.1f ms",
            len(batch),
            result.stored,
            result.duplicates,
            result.rejected,
            result.edges,
            elapsed_ms,
        )

    def _ack_in_order(self, deliveries: Sequence[_Delivery]) -> None:
        with self._conn_lock:
            client, generation, connected = self._client, self._generation, self._connected
            mids, skipped = ackable(deliveries, generation if connected and client is not None else None)
            if client is not None and mids:
                ack_all(client, mids)  # in arrival order; one write with the buffered client
        acked = len(mids)
        with self._metrics_lock:
            self._acked += acked
            self._stale_acks_skipped += skipped


def _reason_value(reason_code: ReasonCode | int | None) -> int | None:
    if reason_code is None:
        return None
    return reason_code if isinstance(reason_code, int) else reason_code.value


def _arrived(delivery: _Delivery) -> float:
    return delivery.arrived


def ackable(deliveries: Sequence[_Delivery], generation: int | None) -> tuple[list[int], int]:
    """Packet ids to PUBACK, in arrival order, and how many were skipped (pure).

    ``generation`` is the current connection's, or None when not connected. QoS 0 needs no ack;
    a message from an earlier connection must not be acked (its packet id may now name another
    message), the broker redelivers it instead. The subscription is QoS 1, so QoS 2 never arrives.
    """
    mids: list[int] = []
    skipped = 0
    for delivery in deliveries:
        if delivery.qos == 0:
            continue
        if generation is None or delivery.generation != generation:
            skipped += 1
            continue
        mids.append(delivery.mid)
    return mids, skipped
