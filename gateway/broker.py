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
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session as AmqttSession

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

    def __init__(self, port: int, host: str = "127.0.0.1", *, session_expiry_s: int | None = 3600) -> None:
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
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self._requested_port}"}},
            # Only our auth plugin: no $SYS publisher, no packet logger on the hot path.
            "plugins": {f"{__name__}.{LoopbackAuthPlugin.__name__}": {}},
            "session_expiry_interval": self._session_expiry_s,
        }

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
        broker = Broker(self.config())
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
