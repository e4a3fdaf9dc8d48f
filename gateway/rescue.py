"""A gateway group that survives a member: drain a dead member's session, then retire it.

With ``ANBU_MQTT_SHARE_GROUP`` every gateway holds a *persistent* session in one shared
subscription. Mosquitto 2.0 keeps dealing the group's messages to a member whose connection is
gone, as long as its session lives: they queue there, and nobody stores them until that member
comes back (issue 15.4 measured 82,165 of 119,940 readings held back; gone for good if it stays
away past the session expiry). Clean sessions would stop that, but lose whatever was in flight to
the member when it died. So a live member *rescues* a dead one's session instead:

1. **Notice** (:func:`dead_members`, pure): a member whose ``gateway_status`` row has not changed
   for ``RESCUE_AFTER_S`` by *our* monotonic clock (no trust in its host's clock), while our own
   status writes kept succeeding (a database outage makes every row stale: not a death).
2. **Claim** (:func:`claim`): a conditional UPDATE of its row, so one member rescues it.
3. **Drain** (:class:`SessionRescue`): connect with the dead member's client id and
   ``clean_start=False``: the broker hands over its session, redelivering what was in flight
   (DUP, recognised by the member's receipts) and sending what queued. Unsubscribe its filters at
   once, so nothing new is dealt to it; store and acknowledge every message through the same
   ingest as the gateway's own.
4. **Retire**: when nothing has arrived for ``DRAIN_QUIET_S`` and every message is acknowledged,
   disconnect with session expiry 0: the broker deletes the session and deals the group's
   messages among the live members only. MQTT 3.1.1 has no session expiry (Mosquitto keeps such a
   session for ever by default, dealing it the group's share): there the rescue disconnects and
   logs in once more as the member with a clean session, which discards it. The row records who rescued it and when
   (:func:`finish`); a member that comes back later starts a new session and knows it was rescued,
   so its missing session is not an incident.

A readings' delay when a member dies is thus at most its death going unnoticed
(``RESCUE_AFTER_S`` plus a status interval) plus the drain. If the "dead" member was only slow
(its database writes stalled but its MQTT connection lives), our connect takes its session over;
it reconnects and takes it back, which ends our rescue: messages in flight are redelivered to it,
nothing is lost (docs/architecture.md, "Gateway groups").
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import ColumnElement, Engine, or_, update
from sqlmodel import Session, col, select

from core.clock import Clock, SteadyClock
from core.db import claim_row, session_scope
from core.models import GatewayStatus
from core.settings import Settings
from gateway.batches import BatchProcessor
from gateway.batching import take_batch
from gateway.ingest import BatchResult, InboundMessage
from gateway.mqtt_client import Unsubacks, ack_all, ack_barrier
from gateway.mqtt_tls import authenticate, topic_of

log = logging.getLogger(__name__)

# A member whose row has not changed for this long (6 status intervals) is dead.
RESCUE_AFTER_S = 30.0
# A rescue claimed this long ago and never finished (its rescuer died too) may be claimed again.
RESCUE_LEASE_S = 600.0
# Nothing arrived for this long after our UNSUBSCRIBE was acknowledged: the session is drained.
DRAIN_QUIET_S = 2.0
# Give up (leaving the session for a later rescue) after this long.
RESCUE_TIMEOUT_S = 300.0
CONNECT_TIMEOUT_S = 10.0
BATCH_MAX_MESSAGES = 500
BATCH_WAIT_S = 0.02
# The broker keeps the session this long if *we* die mid-rescue (the next rescuer finds it).
RESCUE_SESSION_EXPIRY_S = 3600


@dataclass
class Sighting:
    """How a member's row looked when we first saw it so (monotonic time)."""

    updated_at: datetime
    since: float


@dataclass(frozen=True)
class Member:
    client_id: str
    updated_at: datetime  # as read: the claim is conditional on it


def dead_members(
    rows: Iterable[Member],
    seen: dict[str, Sighting],
    now: float,
    *,
    me: str,
    after_s: float = RESCUE_AFTER_S,
) -> list[Member]:
    """Members whose row has stood still for *after_s* of our time (pure but for *seen*, updated).

    *rows* are the group's members not already rescued since they last wrote. *seen* remembers,
    per member, the row's ``updated_at`` and when we first saw that value; a changed value restarts
    its count. Members no longer listed are forgotten.
    """
    dead: list[Member] = []
    listed: set[str] = set()
    for row in rows:
        if row.client_id == me:
            continue
        listed.add(row.client_id)
        sighting = seen.get(row.client_id)
        if sighting is None or sighting.updated_at != row.updated_at:
            seen[row.client_id] = Sighting(row.updated_at, now)
            continue
        if now - sighting.since >= after_s:
            dead.append(row)
    for gone in set(seen) - listed:
        del seen[gone]
    return dead


def group_members(engine: Engine, group: str, now: datetime) -> list[Member]:
    """The group's rows that need watching: never rescued, or written again since (or whose rescue
    was claimed long ago and never finished: its rescuer died too)."""
    with Session(engine) as session:
        rows = session.exec(
            select(GatewayStatus.client_id, GatewayStatus.updated_at).where(
                GatewayStatus.share_group == group, _unrescued(now)
            )
        ).all()
    return [Member(client_id, updated_at) for client_id, updated_at in rows]


def _unrescued(now: datetime) -> ColumnElement[bool]:
    """Never rescued, written again since, or claimed long ago by a rescuer that never finished."""
    rescued_at = col(GatewayStatus.rescued_at)
    return or_(
        rescued_at.is_(None),
        rescued_at < col(GatewayStatus.updated_at),
        col(GatewayStatus.rescue_finished_at).is_(None)
        & (rescued_at < now - timedelta(seconds=RESCUE_LEASE_S)),
    )


def claim(engine: Engine, member: Member, me: str, now: datetime) -> bool:
    """Claim the rescue of *member*: True if we won (its row unchanged since we read it)."""
    return _update_unchanged(
        engine, member, _unrescued(now), rescued_by=me, rescued_at=now, rescue_finished_at=None
    )


def finish(engine: Engine, member: Member, me: str, now: datetime) -> bool:
    """Record a finished rescue, unless the member wrote its row again meanwhile (it came back)."""
    return _update_unchanged(engine, member, col(GatewayStatus.rescued_by) == me, rescue_finished_at=now)


def _update_unchanged(
    engine: Engine, member: Member, condition: ColumnElement[bool], **values: object
) -> bool:
    """Set *values* on *member*'s row if it is as we read it and *condition* holds: True if it was."""
    with session_scope(engine) as session:
        return claim_row(
            session,
            update(GatewayStatus)
            .where(
                col(GatewayStatus.client_id) == member.client_id,
                col(GatewayStatus.updated_at) == member.updated_at,
                condition,
            )
            .values(**values),
        )


def was_rescued(row: GatewayStatus | None) -> bool:
    """Did a group member drain and retire this client id's session after it last wrote (pure)?"""
    return (
        row is not None
        and row.rescue_finished_at is not None
        and row.rescued_at is not None
        and row.rescued_at >= row.updated_at
    )


@dataclass(slots=True)
class _Held:
    message: InboundMessage
    mid: int
    qos: int


@dataclass
class RescueOutcome:
    client_id: str
    drained: bool = False  # the session was emptied and retired
    session_present: bool = False
    received: int = 0
    result: BatchResult = field(default_factory=BatchResult)
    reason: str = ""


class SessionRescue:
    """Drain one dead member's session and retire it (steps 3 and 4 of the module docstring)."""

    drain_quiet_s = DRAIN_QUIET_S
    timeout_s = RESCUE_TIMEOUT_S

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        clock: Clock,
        *,
        member: str,
        filters: Sequence[str],
        credentials: tuple[str, str] | None = None,
        stop: threading.Event | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
    ) -> None:
        self._member = member
        self._protocol = protocol  # the one the gateway speaks to this broker
        # Receipts are the dead member's: its in-flight messages come back with DUP and its ids.
        self._settings = settings.model_copy(update={"mqtt_client_id": member})
        self._engine = engine
        self._filters = list(filters)
        self._credentials = credentials
        self._stop = stop or threading.Event()
        self._receive_clock = SteadyClock(clock)
        self._queue: queue.SimpleQueue[_Held] = queue.SimpleQueue()
        self._connack: threading.Event = threading.Event()
        self._unsubscribed = threading.Event()
        self._unsubscribe_mid: int | None = None
        self._unsubacks = Unsubacks()
        self._lost = threading.Event()  # the connection ended before we retired it
        self._monotonic = monotonic
        self._last_arrival = monotonic()
        self._arrival = 0
        self._session_present = False
        self._refused: str | None = None
        self._processor: BatchProcessor[_Held] = BatchProcessor(
            engine, clock, self._settings, message_of=lambda h: h.message, interrupt=self._stop
        )

    def run(self) -> RescueOutcome:
        outcome = RescueOutcome(self._member)
        client = self._client(clean=False)
        endpoint = self._settings.mqtt_endpoint
        try:
            if self._v5:
                properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                properties.SessionExpiryInterval = RESCUE_SESSION_EXPIRY_S
                client.connect(
                    endpoint.host, endpoint.port, keepalive=30, clean_start=False, properties=properties
                )
            else:
                client.connect(endpoint.host, endpoint.port, keepalive=30)  # clean_session=False: its session
        except OSError as exc:
            outcome.reason = f"could not connect: {type(exc).__name__}"
            return outcome
        client.loop_start()
        try:
            return self._drain(client, outcome)
        finally:
            client.loop_stop()

    def _drain(self, client: mqtt.Client, outcome: RescueOutcome) -> RescueOutcome:
        monotonic = self._monotonic
        if not self._connack.wait(CONNECT_TIMEOUT_S) or self._refused is not None:
            outcome.reason = self._refused or "no CONNACK"
            client.disconnect()
            return outcome
        outcome.session_present = self._session_present
        started = monotonic()
        while not self._stop.is_set():
            batch = take_batch(self._queue, max_items=BATCH_MAX_MESSAGES, max_wait_s=BATCH_WAIT_S)
            if batch:
                outcome.received += len(batch)
                outcome.result.add(self._processor.process(batch, lambda done: _ack(client, done)))
                # The quiet counts from our last ack too: while a commit was slow the broker held
                # the rest back (its in-flight window was full), so silence then proves nothing.
                self._last_arrival = monotonic()
                continue
            if self._lost.is_set():
                outcome.reason = "connection lost (the member came back and took its session?)"
                return outcome
            quiet = monotonic() - self._last_arrival >= self.drain_quiet_s
            if self._unsubscribed.is_set() and quiet and self._queue.empty():
                break
            if monotonic() - started > self.timeout_s:
                outcome.reason = "timed out before the session was drained"
                client.disconnect()  # keep the session: a later rescue finds what is left
                return outcome
        else:
            client.disconnect()
            outcome.reason = "stopped"
            return outcome
        ack_barrier(client, self._unsubacks, CONNECT_TIMEOUT_S)  # every PUBACK processed first
        if self._v5:
            retire = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
            retire.SessionExpiryInterval = 0
            client.disconnect(properties=retire)
        else:
            client.disconnect()
            self._lost.wait(CONNECT_TIMEOUT_S)  # the broker has let the member's id go
            if not self._discard_session_v311():
                outcome.reason = "drained, but its 3.1.1 session could not be discarded"
                return outcome
        outcome.drained = True
        return outcome

    @property
    def _v5(self) -> bool:
        return self._protocol == MQTTProtocolVersion.MQTTv5

    def _discard_session_v311(self) -> bool:
        """Log in as the member with a clean session (3.1.1: the broker discards the stored one,
        and keeps none once we leave). True once the broker has accepted that login."""
        accepted = threading.Event()

        def on_connect(client: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
            if not reason.is_failure:
                accepted.set()
            client.disconnect()

        client = self._client(clean=True)
        client.on_connect = on_connect
        client.on_message = None
        client.on_disconnect = None
        endpoint = self._settings.mqtt_endpoint
        try:
            client.connect(endpoint.host, endpoint.port, keepalive=30)
        except OSError:
            return False
        client.loop_start()
        try:
            return accepted.wait(CONNECT_TIMEOUT_S)
        finally:
            client.loop_stop()

    def _client(self, *, clean: bool) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._member,
            protocol=self._protocol,
            clean_session=None if self._v5 else clean,
            manual_ack=True,
        )
        client.suppress_exceptions = True
        authenticate(client, self._settings, self._credentials)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_unsubscribe = self._on_unsubscribe
        client.on_disconnect = self._on_disconnect
        return client

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self._refused = f"refused: {reason_code}"
        else:
            self._session_present = flags.session_present
            # Nothing new for this session from now on; what queued still comes.
            _result, self._unsubscribe_mid = client.unsubscribe(self._filters)
        self._connack.set()

    def _on_unsubscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        mid: int,
        _reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        if mid == self._unsubscribe_mid:
            self._last_arrival = self._monotonic()  # the quiet counts from here at the earliest
            self._unsubscribed.set()
        self._unsubacks.seen(mid)

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        _reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._lost.set()
        self._connack.set()

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = topic_of(msg)
            self._last_arrival = self._monotonic()
            self._arrival += 1
            inbound = InboundMessage(
                topic,
                bytes(msg.payload),
                self._receive_clock.now(),
                msg.mid if msg.qos else 0,
                bool(msg.dup),
                self._arrival,
            )
            self._queue.put(_Held(inbound, msg.mid, msg.qos))
        except Exception:
            log.exception("could not enqueue a rescued message (it stays unacknowledged)")


def _ack(client: mqtt.Client, done: Sequence[_Held]) -> None:
    # The member's subscriptions are QoS 1 (gateway/service.py), so QoS 2 never arrives.
    ack_all(client, [held.mid for held in done if held.qos])
