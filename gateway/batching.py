"""When a batch is complete: as soon as it is full, or ``max_wait_s`` after its first message.

A database commit has a fixed cost, so under load big batches are cheaper per message; when the
stream is thin, waiting for a full batch would only add lag. The policy: block for the first
message, take whatever else is already queued without waiting, and only if that is not a full
batch wait for more until the first message is ``max_wait_s`` old. Pure apart from the queue;
time comes from the injected ``monotonic``.

"Old" counts from when the message *arrived* (``arrived_at``, same clock as ``monotonic``), not from
when the batcher took it: under load the first message has already waited in the queue for the
whole previous batch, and a fresh window on top of that only added lag (at 20,000 msg/s every
batch waited ~20 ms more to fill up to ``max_items``; docs/benchmarks.md).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def take_batch(
    source: queue.SimpleQueue[T],
    *,
    max_items: int,
    max_wait_s: float,
    idle_timeout_s: float = 0.1,
    monotonic: Callable[[], float] = time.monotonic,
    arrived_at: Callable[[T], float] | None = None,
) -> list[T]:
    """Up to *max_items* from *source*; ``[]`` if nothing arrives within *idle_timeout_s*."""
    if max_items < 1:
        raise ValueError("max_items must be at least 1")
    try:
        first = source.get(timeout=idle_timeout_s)
    except queue.Empty:
        return []
    deadline = (monotonic() if arrived_at is None else arrived_at(first)) + max_wait_s
    batch = [first]
    get_nowait = source.get_nowait
    while len(batch) < max_items:
        try:
            batch.append(get_nowait())  # already queued: no waiting, no clock read
            continue
        except queue.Empty:
            pass
        remaining = deadline - monotonic()
        if remaining <= 0:
            break
        try:
            batch.append(source.get(timeout=remaining))
        except queue.Empty:
            break
    return batch
