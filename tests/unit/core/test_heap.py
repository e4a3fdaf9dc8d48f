"""The long-running processes exempt their start-up heap from cyclic GC (core/heap.py)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from anbu import runtime
from core.clock import ManualClock
from core.db import make_engine
from core.heap import freeze_startup_objects
from core.settings import Settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the test session collects as usual


class _Node:
    pass


def test_what_is_alive_at_start_up_is_frozen_and_garbage_is_not(unfrozen: None) -> None:
    alive = [object() for _ in range(1000)]
    node = _Node()
    node.me = node  # type: ignore[attr-defined]  # garbage in a reference cycle
    ref = weakref.ref(node)
    del node
    freeze_startup_objects()
    assert ref() is None  # collected before the freeze, not pinned for the process's life
    assert gc.get_freeze_count() >= len(alive)


def test_the_worker_freezes_once_its_ticks_are_built(unfrozen: None, monkeypatch: pytest.MonkeyPatch) -> None:
    frozen: list[int] = []
    monkeypatch.setattr(runtime, "freeze_startup_objects", lambda: frozen.append(len(frozen)))
    running = runtime.Running()
    clock = ManualClock(datetime(2026, 3, 2, tzinfo=UTC))
    runtime.start_ticks(Settings(_env_file=None), make_engine("sqlite://"), clock, running, start=False)
    running.stop()
    assert frozen == [0]
