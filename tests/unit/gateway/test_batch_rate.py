"""Messages per second over a sliding window and recent batch latency quantiles (gateway metrics)."""

from __future__ import annotations

from gateway.rate import RecentBatches


def test_rate_counts_only_batches_inside_the_window() -> None:
    recent = RecentBatches(window_s=10.0)
    recent.record(100.0, 500, 12.0)
    recent.record(105.0, 1500, 20.0)
    assert recent.messages_per_s(106.0) == 200.0  # 2000 messages / 10 s
    assert recent.messages_per_s(110.5) == 150.0  # the first batch has left the window
    assert recent.messages_per_s(200.0) == 0.0


def test_latency_quantiles_are_nearest_rank() -> None:
    recent = RecentBatches()
    assert recent.latency_ms(0.99) == 0.0
    for n, latency in enumerate(range(1, 101)):
        recent.record(float(n), 1, float(latency))
    assert recent.latency_ms(0.5) == 50.0
    assert recent.latency_ms(0.99) == 99.0


def test_latency_keeps_only_recent_batches() -> None:
    recent = RecentBatches(samples=3)
    for latency in (500.0, 1.0, 2.0, 3.0):
        recent.record(0.0, 1, latency)
    assert recent.latency_ms(1.0) == 3.0  # the slow first batch has been forgotten
