"""Throughput and batch latency over a sliding window, for the gateway's metrics (pure, injectable time)."""

from __future__ import annotations

import math
from collections import deque

WINDOW_S = 10.0
LATENCY_SAMPLES = 256


class RecentBatches:
    """Messages per second over the last ``window_s`` seconds, and latency quantiles of recent batches.

    ``now`` is a monotonic reading (``time.monotonic()``), passed in so tests control it.
    """

    def __init__(self, window_s: float = WINDOW_S, samples: int = LATENCY_SAMPLES) -> None:
        self._window_s = window_s
        self._batches: deque[tuple[float, int]] = deque()
        self._latencies_ms: deque[float] = deque(maxlen=samples)

    def record(self, now: float, messages: int, latency_ms: float) -> None:
        self._batches.append((now, messages))
        self._latencies_ms.append(latency_ms)
        self._expire(now)

    def messages_per_s(self, now: float) -> float:
        self._expire(now)
        return sum(count for _at, count in self._batches) / self._window_s

    def latency_ms(self, quantile: float) -> float:
        """Nearest-rank quantile of recent batch latencies; 0 before the first batch."""
        if not self._latencies_ms:
            return 0.0
        ordered = sorted(self._latencies_ms)
        rank = max(1, math.ceil(quantile * len(ordered)))
        return ordered[rank - 1]

    def _expire(self, now: float) -> None:
        while self._batches and self._batches[0][0] <= now - self._window_s:
            self._batches.popleft()
