"""A bound on the gateway's queue, kept by backpressure: when it is full the network thread waits.

The network thread takes slots before it queues messages and the processing thread gives them back
once it has taken a batch out, so the queue never holds more than the limit. A waiting network
thread reads no more from the broker's socket: TCP flow control and MQTT 5's receive maximum then
hold the rest at the broker, in its session, where it is safe. Nothing is dropped and nothing is
acknowledged before it is stored (the ack path never waits here: PUBACKs are queued for paho's
network thread, which writes them once it runs again; docs/reliability.md, section 9).

Slots are counted under one lock per socket read (a bulk of messages), not per message: the
queue itself stays a ``SimpleQueue``, whose C ``put`` is what the gateway's throughput needs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

WAIT_POLL_S = 0.5  # how often a waiting network thread re-checks whether to give up


class Capacity:
    """``limit`` slots; ``take`` blocks while none is free, ``give_back`` frees them."""

    def __init__(self, limit: int, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._in_use = 0
        self._closed = False
        self._cond = threading.Condition(threading.Lock())
        self._monotonic = monotonic
        self.waits = 0  # how many times a taker found the queue full and waited
        self.waited_s = 0.0  # for how long, in all

    @property
    def in_use(self) -> int:
        return self._in_use

    def take(self, wanted: int, *, give_up: Callable[[], bool] = lambda: False) -> int:
        """Up to *wanted* slots, at least one: waits while none is free. 0 once closed, or when
        *give_up* says so while waiting (the caller then queues nothing and acks nothing)."""
        if wanted < 1:
            return 0
        with self._cond:
            if self._in_use >= self.limit and not self._closed:
                started = self._monotonic()
                self.waits += 1
                while self._in_use >= self.limit and not self._closed and not give_up():
                    self._cond.wait(WAIT_POLL_S)
                self.waited_s += self._monotonic() - started
            if self._closed or self._in_use >= self.limit:
                return 0
            granted = min(wanted, self.limit - self._in_use)
            self._in_use += granted
            return granted

    def give_back(self, count: int) -> None:
        if count <= 0:
            return
        with self._cond:
            self._in_use = max(0, self._in_use - count)
            self._cond.notify_all()

    def close(self) -> None:
        """No more slots, ever: a waiting taker returns 0 at once (the gateway is stopping)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
