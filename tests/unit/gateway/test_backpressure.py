"""Slots of the gateway's bounded queue (gateway/backpressure.py): waiting, giving back, stopping."""

from __future__ import annotations

import threading

import pytest

from gateway.backpressure import Capacity


def test_takes_at_most_what_is_free() -> None:
    capacity = Capacity(10)
    assert capacity.take(4) == 4
    assert capacity.take(50) == 6  # a socket read larger than the room gets the room, no more
    assert capacity.in_use == 10
    capacity.give_back(3)
    assert capacity.take(5) == 3


def test_a_full_queue_makes_the_taker_wait_until_room_is_given_back() -> None:
    capacity = Capacity(2)
    assert capacity.take(2) == 2
    got: list[int] = []
    taker = threading.Thread(target=lambda: got.append(capacity.take(5)))
    taker.start()
    taker.join(0.3)
    assert taker.is_alive() and got == []  # waiting: it reads nothing more meanwhile
    capacity.give_back(1)
    taker.join(5)
    assert got == [1] and capacity.waits == 1 and capacity.waited_s > 0


def test_closing_releases_a_waiting_taker_with_nothing() -> None:
    capacity = Capacity(1)
    capacity.take(1)
    got: list[int] = []
    taker = threading.Thread(target=lambda: got.append(capacity.take(1)))
    taker.start()
    taker.join(0.2)
    capacity.close()
    taker.join(5)
    assert got == [0]
    capacity.give_back(1)
    assert capacity.take(1) == 0  # closed for good: the gateway is stopping


def test_giving_up_while_waiting_takes_nothing() -> None:
    capacity = Capacity(1)
    capacity.take(1)
    stop = threading.Event()
    stop.set()
    assert capacity.take(1, give_up=stop.is_set) == 0


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        Capacity(0)
