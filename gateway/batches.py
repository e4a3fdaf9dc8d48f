"""Commit a batch of messages exactly when it is safe to acknowledge them, and never lose one.

- A database that is down or locked (``OperationalError`` and friends) is *waited out*: the same
  batch is retried with capped backoff, and nothing is acknowledged meanwhile.
- Any other failure is treated as a possible poison message (a bug meeting odd input): the batch
  is split in halves, in order, until the culprit is alone; that one message is then kept in
  ``rejected_message`` with the error's type, so one bad message cannot stall every household.
- Devices over their message rate (``gateway/flood.py``) are judged once per batch, before any
  retry or split, so waiting out the database never spends a device's budget twice.

Callers learn what may be acknowledged through ``on_committed``, always in arrival order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from core.clock import Clock
from core.db import session_scope
from core.settings import Settings
from gateway.adapters import route_device, route_of
from gateway.flood import DeviceRateLimiter
from gateway.ingest import BatchResult, InboundMessage, ingest_batch, reject_unprocessable

log = logging.getLogger(__name__)

T = TypeVar("T")
Ingest = Callable[..., BatchResult]

# Errors that say "the database is not available right now", not "this data is wrong".
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeoutError,
)


class Interrupted(Exception):
    """Shutdown was forced while waiting for the database; the uncommitted rest stays unacknowledged."""


class Backoff:
    def __init__(self, initial_s: float = 0.1, max_s: float = 5.0) -> None:
        self.initial_s = initial_s
        self.max_s = max_s

    def delays(self) -> Callable[[], float]:
        current = [self.initial_s]

        def next_delay() -> float:
            delay = current[0]
            current[0] = min(delay * 2, self.max_s)
            return delay

        return next_delay


class BatchProcessor(Generic[T]):
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        settings: Settings,
        *,
        message_of: Callable[[T], InboundMessage],
        interrupt: threading.Event,
        ingest: Ingest = ingest_batch,
        backoff: Backoff | None = None,
        attempts_before_split: int = 2,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._settings = settings
        self._message_of = message_of
        self._interrupt = interrupt
        self._ingest = ingest
        self._backoff = backoff or Backoff()
        self._attempts_before_split = attempts_before_split
        self.db_retries = 0
        self.poison_messages = 0
        self._limiter = DeviceRateLimiter(settings.device_rate_per_min, settings.device_rate_burst)

    def allow_backlog(self, absent_s: float) -> None:
        """The gateway was away *absent_s* and its session kept messages: see gateway/flood.py."""
        self._limiter.allow_backlog(absent_s)

    def process(self, items: Sequence[T], on_committed: Callable[[Sequence[T]], None]) -> BatchResult:
        """Ingest *items*; call ``on_committed`` for each committed run, in order.

        Raises :class:`Interrupted` when ``interrupt`` is set while waiting for the database.
        """
        total = BatchResult()
        self._process(items, on_committed, total, self._over_rate(items))
        return total

    def _over_rate(self, items: Sequence[T]) -> frozenset[int]:
        """``id()`` of the messages whose device is over its rate, judged once for the whole batch."""
        settings = self._settings
        routed = [
            (message, route_device(route_of(message.topic, settings)))
            for message in map(self._message_of, items)
        ]
        known = [(message, key) for message, key in routed if key is not None]
        over = self._limiter.over_limit([key for _message, key in known])
        return frozenset(id(known[index][0]) for index in over)

    def _process(
        self,
        items: Sequence[T],
        on_committed: Callable[[Sequence[T]], None],
        total: BatchResult,
        over: frozenset[int],
    ) -> None:
        failure = self._commit(items, total, over)
        if failure is None:
            on_committed(items)
            return
        if len(items) > 1:
            middle = len(items) // 2
            self._process(items[:middle], on_committed, total, over)
            self._process(items[middle:], on_committed, total, over)
            return
        self._keep_poison(items[0], failure)
        total.rejected += 1
        on_committed(items)

    def _commit(self, items: Sequence[T], total: BatchResult, over: frozenset[int]) -> Exception | None:
        """Commit the batch; return the error if it keeps failing for a non-transient reason."""
        messages = [self._message_of(item) for item in items]
        over_rate = frozenset(index for index, message in enumerate(messages) if id(message) in over)
        extra = {"over_rate": over_rate} if over_rate else {}  # ingest fakes in tests take no such argument
        failures = 0
        next_delay = self._backoff.delays()
        while True:
            try:
                with session_scope(self._engine) as session:
                    result = self._ingest(
                        session, messages, now=self._clock.now(), settings=self._settings, **extra
                    )
                total.add(result)
                return None
            except TRANSIENT_ERRORS as exc:
                self._wait_for_database(exc, len(messages), next_delay())
            except Exception as exc:
                failures += 1
                if failures >= self._attempts_before_split:
                    return exc
                # Once more: a unique-key race with another gateway looks like this and passes on retry.
                log.warning(
                    "ingest of %d messages failed (%s); retrying once", len(messages), type(exc).__name__
                )

    def _keep_poison(self, item: T, failure: Exception) -> None:
        message = self._message_of(item)
        self.poison_messages += 1
        log.error(
            "message on topic %r made ingest fail; keeping it as rejected",
            message.topic[:200],
            exc_info=failure,
        )
        reason = f"internal error while ingesting: {type(failure).__name__}"
        next_delay = self._backoff.delays()
        while True:
            try:
                with session_scope(self._engine) as session:
                    reject_unprocessable(session, message, reason, settings=self._settings)
                return
            except Exception as exc:
                # Losing the message is worse than waiting; this only fails when the database does.
                self._wait_for_database(exc, 1, next_delay())

    def _wait_for_database(self, exc: Exception, count: int, delay: float) -> None:
        self.db_retries += 1
        log.warning(
            "database unavailable (%s: %s); holding %d messages, retry in %.1f s",
            type(exc).__name__,
            str(exc).splitlines()[0][:200] if str(exc) else "",
            count,
            delay,
        )
        if self._interrupt.wait(delay):
            raise Interrupted(f"{count} messages left unacknowledged for redelivery")
