"""Batching policy: full batch at once, else wait until the first message is max_wait old."""

from __future__ import annotations

import queue

import pytest

from gateway.batching import take_batch


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _queue(items: list[int]) -> queue.SimpleQueue[int]:
    q: queue.SimpleQueue[int] = queue.SimpleQueue()
    for item in items:
        q.put(item)
    return q


def test_empty_queue_gives_empty_batch_after_the_idle_timeout() -> None:
    assert take_batch(_queue([]), max_items=10, max_wait_s=0.05, idle_timeout_s=0.01) == []


def test_already_queued_items_fill_a_batch_without_waiting() -> None:
    clock = FakeTime()
    q = _queue(list(range(25)))
    assert take_batch(q, max_items=10, max_wait_s=0.05, monotonic=clock) == list(range(10))
    assert take_batch(q, max_items=10, max_wait_s=0.05, monotonic=clock) == list(range(10, 20))
    assert q.qsize() == 5  # nothing taken beyond the limit, order kept


def test_a_partial_batch_is_closed_once_the_first_message_is_max_wait_old() -> None:
    clock = FakeTime()

    class Late(queue.SimpleQueue[int]):
        """Item 2 arrives while we wait; then time runs out."""

        def __init__(self) -> None:
            super().__init__()
            self.put(1)
            self.waits: list[float] = []

        def get(self, block: bool = True, timeout: float | None = None) -> int:
            if timeout is not None and self.qsize() == 0:
                self.waits.append(timeout)
                clock.now += timeout  # the wait used the whole timeout
                if len(self.waits) == 1:
                    clock.now -= timeout / 2
                    return 2
            return super().get(block, timeout)

    q = Late()
    assert take_batch(q, max_items=10, max_wait_s=0.05, monotonic=clock) == [1, 2]
    assert q.waits[0] == pytest.approx(0.05)  # first wait: the whole window
    assert q.waits[1] == pytest.approx(0.025)  # then only what is left of it, never a fresh window


def test_max_items_must_be_positive() -> None:
    with pytest.raises(ValueError):
        take_batch(_queue([1]), max_items=0, max_wait_s=0.05)


def test_the_wait_counts_from_when_the_first_message_arrived() -> None:
    # Under load the first message has already waited in the queue (for the previous batch's
    # commit); the batch may only wait what is left of its window, not a fresh one.
    clock = FakeTime()

    class Waits(queue.SimpleQueue[float]):
        def __init__(self) -> None:
            super().__init__()
            self.waits: list[float] = []

        def get(self, block: bool = True, timeout: float | None = None) -> float:
            if timeout is not None and self.qsize() == 0:
                self.waits.append(timeout)
                clock.now += timeout
                raise queue.Empty
            return super().get(block, timeout)

    q = Waits()
    q.put(clock.now - 0.015)  # each item is its own arrival time; this one arrived 15 ms ago
    batch = take_batch(q, max_items=10, max_wait_s=0.02, monotonic=clock, arrived_at=lambda t: t)
    assert batch == [pytest.approx(99.985)]
    assert q.waits == [pytest.approx(0.005)]

    q.put(clock.now - 0.5)  # older than the whole window: take it and go, no wait at all
    assert len(take_batch(q, max_items=10, max_wait_s=0.02, monotonic=clock, arrived_at=lambda t: t)) == 1
    assert len(q.waits) == 1
