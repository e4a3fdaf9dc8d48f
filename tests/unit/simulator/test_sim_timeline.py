from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from simulator.sim_timeline import Timeline

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def test_advances_simulated_time_without_waiting_at_pace_zero():
    stopping = threading.Event()
    line = Timeline(T0, pace=0.0, stopping=stopping)
    assert line.advance(90) and line.advance(30.5)
    assert line.now() == T0 + timedelta(seconds=120.5)
    stopping.set()
    assert not line.advance(1)  # the worker is told to quit
    assert line.stopping


def test_waiting_is_cut_short_by_stop():
    stopping = threading.Event()
    stopping.set()
    assert not Timeline(T0, pace=1000.0, stopping=stopping).advance(3600)  # would be 41 days


def test_needs_an_aware_start():
    with pytest.raises(ValueError, match="aware"):
        Timeline(datetime(2026, 3, 2), pace=0, stopping=threading.Event())
