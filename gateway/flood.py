"""Floods: too many unknown devices, or one device talking far faster than any plug does.

Both are refused *with a reason*, in ``rejected_message`` and the gateway's counters, never
silently (issue 12, item 6):

- **Pending devices are capped** (``ANBU_PENDING_DEVICES_MAX``): an unknown device is created
  *pending* only while fewer than that many await assignment; past it, its messages are kept as
  rejected (with the reason) and no device row is made. 10,000 fake devices cost at most the cap
  in device rows; plugs already known are untouched.
- **Per-device message rate** (``ANBU_DEVICE_RATE_PER_MIN`` sustained, ``ANBU_DEVICE_RATE_BURST``
  at once): a token bucket per device, in the gateway process. A real plug reports every 10 s to
  5 min (Tasmota ``TelePeriod``, Shelly every 30-60 s, a few more while power changes), far below
  the default 60 a minute; the burst (600) covers the backlog a persistent session delivers after
  an outage (an hour of a plug reporting every 10 s is 360 messages). Messages over the limit are
  counted (``rate_limited``) and, per device and batch, the first is kept in ``rejected_message``
  with the reason and the count: recording every one would hand the chatty device the very
  database writes the limit is there to spare.

Buckets are judged on the gateway's monotonic clock, at batch granularity; a device's bucket is
forgotten once it would be full again, so the table holds only devices heard recently.

**A backlog is not a flood.** After the gateway was away for ``A`` seconds (disconnected, or a
process restart) the broker delivers what each plug published meanwhile, all at once. Judged by
arrival, a plug reporting every 10 s for two hours (720 messages) would overrun the burst and lose
its *newest* readings, the very signs of life an alarm waits for. So when a session comes back
with messages kept for us, :meth:`DeviceRateLimiter.allow_backlog` raises every bucket's cap by
what the sustained rate allowed during the absence (``A × per_min / 60``) for as long as the
absence lasted (a drain is faster than the time it took to queue). A flooder gains nothing it was
not allowed anyway: the budget of the time we could not hear it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

PRUNE_EVERY_S = 60.0
# A backlog allowance lasts at least this long after a session came back (allow_backlog).
BACKLOG_WINDOW_MIN_S = 60.0


def pending_refused_reason(limit: int) -> str:
    return (
        f"pending device limit reached ({limit} devices await assignment): this device was not created "
        "and its message not stored; assign or remove pending devices, or raise ANBU_PENDING_DEVICES_MAX"
    )


def rate_limited_reason(count: int, per_min: float, burst: int) -> str:
    return (
        f"device over its message rate (limit {per_min:g}/min, burst {burst}): {count} message(s) of this "
        "batch not stored; this is the first of them, all are counted in anbu_gateway_rate_limited_total"
    )


class DeviceRateLimiter:
    """A token bucket per device key: ``burst`` tokens, refilled at ``per_min`` per minute."""

    def __init__(
        self, per_min: float, burst: int, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        if per_min <= 0 or burst < 1:
            raise ValueError("per_min must be > 0 and burst >= 1")
        self.per_min = per_min
        self.burst = burst
        self._rate_s = per_min / 60.0
        self._monotonic = monotonic
        self._buckets: dict[Hashable, tuple[float, float]] = {}  # key -> (tokens, at)
        self._pruned_at = monotonic()
        # The backlog allowance (allow_backlog): extra cap, and until when (monotonic).
        self._backlog_tokens = 0.0
        self._backlog_until = 0.0

    def allow_backlog(self, absent_s: float) -> None:
        """The gateway heard nothing for *absent_s* and the broker kept what was sent meanwhile:
        for the next *absent_s* (at least a minute) each device may deliver what the sustained rate
        allowed during that time on top of its burst."""
        if absent_s <= 0:
            return
        self._backlog_tokens = absent_s * self._rate_s
        self._backlog_until = self._monotonic() + max(BACKLOG_WINDOW_MIN_S, absent_s)

    def cap(self, now: float) -> float:
        """How many tokens a bucket may hold now (the burst, plus a backlog allowance)."""
        return self.burst + (self._backlog_tokens if now < self._backlog_until else 0.0)

    def over_limit(self, keys: Sequence[K]) -> list[int]:
        """Indices of *keys* (one per message, in arrival order) over their device's budget.

        Each device's first messages use its tokens; the rest of its messages in the batch are over.
        """
        now = self._monotonic()
        counts = Counter(keys)
        exhausted: dict[Hashable, int] = {}  # key -> how many of its messages in this batch may pass
        buckets = self._buckets
        burst, rate = self.cap(now), self._rate_s
        for key, count in counts.items():
            tokens, at = buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - at) * rate) if now > at else tokens
            if count <= tokens:
                buckets[key] = (tokens - count, now)
                continue
            allowed = int(tokens)
            buckets[key] = (tokens - allowed, now)
            exhausted[key] = allowed
        if now - self._pruned_at >= PRUNE_EVERY_S:
            self._prune(now)
        if not exhausted:
            return []
        over: list[int] = []
        for index, key in enumerate(keys):
            left = exhausted.get(key)
            if left is None:
                continue
            if left > 0:
                exhausted[key] = left - 1
            else:
                over.append(index)
        return over

    def _prune(self, now: float) -> None:
        """Forget buckets that are full again: the same as never having seen the device."""
        self._pruned_at = now
        burst, rate = self.burst, self._rate_s
        full = [key for key, (tokens, at) in self._buckets.items() if tokens + (now - at) * rate >= burst]
        for key in full:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)
