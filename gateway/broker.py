"""An in-process MQTT broker (amqtt) for the one-machine profile: ``anbu up`` without ANBU_MQTT_URL.

What amqtt 0.12.1 gives us, checked against its source and by tests (details in docs/devices.md):

- MQTT 3.1.1 only: a v5 CONNECT is refused with "unsupported protocol version", so the gateway
  speaks 3.1.1 with ``clean_session=False`` to this broker.
- Persistent sessions and offline QoS 1 queueing work, but amqtt drops them for *anonymous*
  sessions. :class:`LoopbackAuthPlugin` admits every client (the broker listens on loopback
  only) without marking it anonymous, so the gateway's session survives a reconnect.
- QoS 1 messages in flight (sent, not yet acknowledged) are *not* redelivered after a reconnect,
  and amqtt gives up on a PUBACK after 5 s. Everything lives in memory and dies with the process.
  Use Mosquitto or EMQX (ANBU_MQTT_URL) when that matters.

Trust (docs/security.md): given an :class:`~gateway.auth.authority.Authority`, the broker admits
only the gateway and devices with credentials (anonymous clients too with ``ANBU_MQTT_AUTH=off``),
and fences each into its topics. amqtt 0.12.1 checks credentials only *after* it has acted on the
CONNECT: a clean session wiped the stored session of that client id, a persistent one took it over
(username and will included), and a connected client of that id was kicked, all before
authentication. :class:`TrustingBroker` therefore decides at the CONNECT packet itself, before any
session is touched. A device's client id is replaced by its username (Mosquitto's
``use_username_as_clientid``), so nobody can take over another's session; the gateway's client id
is reserved for the gateway. A will is refused at connect unless its topic is one the client may
publish. Rotated and revoked identities are disconnected within about a second
(:class:`~gateway.auth.directory.CredentialDirectory`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import threading
from collections import Counter
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from amqtt.adapters import BufferReader, ReaderAdapter
from amqtt.broker import Broker
from amqtt.contexts import Action, ListenerConfig
from amqtt.errors import MQTTError
from amqtt.mqtt.connack import ConnackPacket
from amqtt.mqtt.connect import ConnectPacket
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session as AmqttSession
from amqtt.utils import gen_client_id

from gateway.auth.authority import Admission, Authority, Principal, Refusal

log = logging.getLogger(__name__)


class LoopbackAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]  # amqtt ships no type hints
    """Admit everyone, and treat every session as identified so clean_session=False is honoured."""

    @dataclass
    class Config:
        pass

    async def authenticate(self, *, session: AmqttSession) -> bool | None:
        # amqtt discards persistent sessions of anonymous clients; on loopback nobody is anonymous.
        session.is_anonymous = False
        return True


_PRINCIPAL = "anbu.principal"  # amqtt Session.attributes key


def principal_of(session: AmqttSession) -> Principal | None:
    found = session.attributes.get(_PRINCIPAL)
    return found if isinstance(found, Principal) else None


class _RecordingReader(ReaderAdapter):  # type: ignore[misc]
    """Reads through to the connection and keeps the bytes, so amqtt can parse the CONNECT again."""

    def __init__(self, inner: ReaderAdapter) -> None:
        self._inner = inner
        self.recorded = b""

    async def read(self, n: int = -1) -> bytes:
        data: bytes = await self._inner.read(n)
        self.recorded += data
        return data

    def feed_eof(self) -> None:
        self._inner.feed_eof()


def _quiet_refusals(record: logging.LogRecord) -> bool:
    return "refused: " not in record.getMessage()


class TrustingBroker(Broker):  # type: ignore[misc]  # amqtt ships no type hints
    """amqtt's Broker, deciding who connects before any session is touched (see the module docstring).

    The overridden methods are amqtt 0.12.1's private ones (the dependency is pinned below 0.13);
    ``_initialize_client_session`` repeats amqtt's own session lookup after our admission.
    """

    def __init__(self, config: dict[str, Any], authority: Authority) -> None:
        super().__init__(config)
        self.authority = authority
        self.refusals: Counter[str] = Counter()  # reason -> connections refused
        # amqtt warns about every connection we refuse; a flood of them must not flood the log.
        logging.getLogger("amqtt.broker").addFilter(_quiet_refusals)

    async def _initialize_client_session(
        self, reader: ReaderAdapter, writer: Any, remote_address: str, remote_port: int
    ) -> tuple[BrokerProtocolHandler, AmqttSession]:
        # Decide on the bare CONNECT packet: amqtt's own parsing builds a Session (a `transitions`
        # state machine, ~2 ms) first, which a flood of refused clients would pay for.
        recorder = _RecordingReader(reader)
        connect = await ConnectPacket.from_stream(recorder)
        admission = self._admit(connect)
        if admission.principal is None:
            assert admission.refusal is not None
            self.refusals[admission.reason] += 1
            log.debug("MQTT connection refused from %s: %s", remote_address, admission.reason)
            await ConnackPacket.build(0, int(admission.refusal)).to_stream(writer)
            await writer.close()
            raise MQTTError(f"refused: {admission.reason}")
        handler, session = await BrokerProtocolHandler.init_from_connect(
            BufferReader(recorder.recorded), writer, self.plugins_manager
        )
        principal = admission.principal
        if principal.device is not None:
            session.client_id = principal.device.username  # use_username_as_clientid
        session.attributes[_PRINCIPAL] = principal
        return handler, await self._resume(session)

    def _admit(self, connect: ConnectPacket) -> Admission:
        payload = connect.payload
        client_id = (payload.client_id if payload is not None else None) or ""
        admission = self.authority.admit(connect.username, connect.password, client_id)
        if admission.principal is not None and connect.will_flag:
            will_topic = connect.will_topic or ""
            if not self.authority.may_publish(admission.principal, will_topic):
                return Admission(None, Refusal.NOT_AUTHORISED, "will on a topic it may not publish")
        return admission

    async def _resume(self, session: AmqttSession) -> AmqttSession:
        """amqtt 0.12.1's session lookup (Broker._initialize_client_session after CONNECT), unchanged."""
        if session.clean_session:
            if session.client_id:
                await self._delete_session(session.client_id)
            else:
                session.client_id = gen_client_id()
            session.parent = 0
        elif session.client_id in self._sessions:
            existing, _ = self._sessions[session.client_id]
            for name in (
                "will_flag",
                "will_message",
                "will_topic",
                "will_qos",
                "keep_alive",
                "username",
                "password",
            ):
                setattr(existing, name, getattr(session, name))
            existing.attributes[_PRINCIPAL] = session.attributes[_PRINCIPAL]
            session = existing
            session.parent = 1
        else:
            session.parent = 0
        delay = self.config.get("timeout-disconnect-delay", 0)
        if session.keep_alive > 0 and isinstance(delay, int):
            session.keep_alive += delay
        return session

    async def _authenticate(self, session: AmqttSession, _listener: ListenerConfig) -> bool:
        # Decided at CONNECT; admitted clients are never anonymous (amqtt drops anonymous sessions).
        session.is_anonymous = False
        return principal_of(session) is not None

    async def _topic_filtering(self, session: AmqttSession, topic: str, action: Action) -> bool:
        principal = principal_of(session)
        if principal is None:
            return False
        if action == Action.PUBLISH:
            allowed = self.authority.may_publish(principal, topic)
        elif action == Action.SUBSCRIBE:
            allowed = self.authority.may_subscribe(principal, topic)
        elif principal.kind == "gateway":
            return True  # it only ever subscribed to device topics; skip a check per message
        else:
            allowed = self.authority.may_receive(principal, topic)
        if not allowed:
            log.info("MQTT %s refused for %s on %r", action.value, principal.name, topic[:200])
        return allowed

    async def close_sessions_of(self, usernames: set[str]) -> int:
        """Disconnect every connected client authenticated as one of *usernames* (no will is sent)."""
        closed = 0
        for session, handler in list(self._sessions.values()):
            principal = principal_of(session)
            if principal is None or principal.device is None or principal.device.username not in usernames:
                continue
            if session.transitions.is_connected() and handler is not None:
                session.will_flag = False
                await handler.handle_connection_closed()
                closed += 1
        if closed:
            log.info("closed %d MQTT session(s) of rotated or revoked identities", closed)
        return closed


def _require_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError as exc:
        raise ValueError(f"embedded broker host must be a loopback address, got {host!r}") from exc
    if not loopback:
        raise ValueError(f"embedded broker listens on loopback only, got {host!r}")


class EmbeddedBroker:
    """amqtt running its own asyncio loop in a daemon thread.

    ``port=0`` picks a free port; read it back from :attr:`port` after :meth:`start`.
    """

    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        *,
        session_expiry_s: int | None = 3600,
        authority: Authority | None = None,
    ) -> None:
        """Without an *authority* the broker admits everyone (tests of the gateway alone)."""
        _require_loopback(host)
        if not 0 <= port <= 65535:
            raise ValueError(f"port out of range: {port}")
        self.host = host
        self._requested_port = port
        self._bound_port: int | None = None
        self._session_expiry_s = session_expiry_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Broker | None = None
        self._authority = authority

    @property
    def port(self) -> int:
        return self._bound_port if self._bound_port is not None else self._requested_port

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def config(self) -> dict[str, Any]:
        # No $SYS publisher, no packet logger on the hot path; with an authority, no plugin at all
        # (TrustingBroker decides itself), without one only the admit-everyone plugin.
        plugins: dict[str, object] = (
            {} if self._authority is not None else {f"{__name__}.{LoopbackAuthPlugin.__name__}": {}}
        )
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self._requested_port}"}},
            "plugins": plugins,
            "session_expiry_interval": self._session_expiry_s,
        }

    def close_sessions_of(self, usernames: set[str], timeout: float = 5.0) -> int:
        """From any thread: disconnect the clients of rotated or revoked identities."""
        loop, broker = self._loop, self._broker
        if loop is None or not isinstance(broker, TrustingBroker) or not self.running:
            return 0
        return int(
            asyncio.run_coroutine_threadsafe(broker.close_sessions_of(usernames), loop).result(timeout)
        )

    def start(self, timeout: float = 10.0) -> None:
        """Return once the broker accepts connections; raise if it could not start."""
        if self.running:
            raise RuntimeError("embedded broker already running")
        started = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_broker())
            except BaseException as exc:  # reported to start()'s caller below
                failure.append(exc)
                started.set()
                _close_loop(loop)
                return
            started.set()
            loop.run_forever()
            _close_loop(loop)

        self._thread = threading.Thread(target=run, name=f"anbu-mqtt-broker:{self.port}", daemon=True)
        self._thread.start()
        if not started.wait(timeout):
            raise TimeoutError(f"embedded MQTT broker did not start within {timeout} s")
        if failure:
            self._thread.join(timeout)
            self._thread = None
            raise RuntimeError(
                f"embedded MQTT broker failed to start on {self.url}: {failure[0]}"
            ) from failure[0]
        log.info("embedded MQTT broker listening on %s", self.url)

    async def _start_broker(self) -> None:
        config = self.config()
        broker = Broker(config) if self._authority is None else TrustingBroker(config, self._authority)
        await broker.start()
        self._broker = broker
        # amqtt does not expose the bound port; read it from the listener to support port=0.
        server = broker._servers["default"].instance
        self._bound_port = int(server.sockets[0].getsockname()[1])

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the broker down (closing client connections) and join its thread. Idempotent."""
        loop, thread, broker = self._loop, self._thread, self._broker
        if loop is None or thread is None or not thread.is_alive():
            return
        if broker is not None:
            future = asyncio.run_coroutine_threadsafe(broker.shutdown(), loop)
            try:
                future.result(timeout)
            except Exception:
                log.exception("embedded MQTT broker did not shut down cleanly")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if thread.is_alive():
            log.error("embedded MQTT broker thread did not stop within %s s", timeout)
        self._thread = None
        self._broker = None
        log.info("embedded MQTT broker on %s stopped", self.url)

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what amqtt left running so closing the loop does not warn about pending tasks."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    with contextlib.suppress(Exception):
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
