"""The ingest benchmark's lag arithmetic: lag counts from the actual send, not the schedule."""

from __future__ import annotations

from pytest import approx

from benchmarks.ingest import lag_figures


def test_publisher_lateness_is_reported_apart_from_gateway_lag() -> None:
    # 4 messages at 1,000 msg/s from t=100, due at 100.000, .001, .002, .003. The publisher
    # wrote messages 0-1 at 100.000 and 2-3 at 100.052 (about 50 ms late); each message was
    # seen stored 10 ms after it was actually written.
    writes = [(0, 100.0), (2, 100.052)]
    samples = [(100.005, 0), (100.010, 2), (100.030, 2), (100.062, 4)]
    fig = lag_figures(samples, writes, 4, 100.0, 1000.0)
    assert fig["stored"] == 4
    assert fig["lag_p50_ms"] == approx(10.0)
    assert fig["lag_p99_ms"] == approx(10.0)
    assert fig["lag_max_ms"] == approx(10.0)
    # Lateness sorted: −1, 0, 49, 50 ms (nearest rank, rounded down: p50 = 2nd, p99 = 3rd).
    assert fig["publisher_late_p50_ms"] == approx(0.0)
    assert fig["publisher_late_p99_ms"] == approx(49.0)
    assert fig["publisher_late_max_ms"] == approx(50.0)
    # The old figure, from the schedule: 10, 9, 60, 59 ms → p99 (3rd of 4) = 59.
    assert fig["lag_from_schedule_p99_ms"] == approx(59.0)


def test_messages_never_stored_are_counted_not_hidden() -> None:
    writes = [(0, 10.0)]
    samples = [(10.02, 1), (10.5, 1)]
    fig = lag_figures(samples, writes, 3, 10.0, 100.0)
    assert fig["stored"] == 1
    assert fig["lag_max_ms"] == approx(20.0)
