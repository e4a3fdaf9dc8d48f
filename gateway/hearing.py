"""When is a gateway that hears nothing *deaf*? The rule, from the plugs' own reporting rhythm.

Every plug reports at its own interval (Tasmota ``TelePeriod``, 300 s by default; a Shelly every
30-60 s); ingest learns it per device (``Device.report_interval_s``, gateway/connectivity.py).
A gateway that hears *nothing at all* for longer than the quickest plug's silence allowance is
not looking at quiet plugs but at a broken link (a session taken over, subscriptions lost, a
broker listener down), because that plug alone must have spoken by then. So:

    deaf after  max(ANBU_GATEWAY_DEAF_MIN_S,
                    min(device bound, traffic bound))

- **device bound** = ``ANBU_OFFLINE_SILENCE_FACTOR`` × the shortest reporting interval among the
  assigned plugs that were live when the gateway last heard anything (× the number of live
  gateways in its share group, which split the traffic). None when no assigned plug was live:
  nothing is expected, so nothing is judged.
- **traffic bound** = the same factor × the longest gap between two messages this gateway saw in
  the last hour (once it has 30 min of history). Many plugs with independent rhythms make the
  gateway's traffic far denser than any one plug (100 Tasmota plugs: a message every ~3 s), so
  this usually decides, and quickly; plugs that report in step (a power cut rebooted them
  together) give long gaps and it backs off on its own. Gaps longer than the limit in force are
  outages, not rhythm, and teach nothing.

Pure apart from :func:`live_intervals`, which reads the devices table. Times are ``time.monotonic()``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from core.enums import DeviceStatus
from core.models import Device
from core.settings import Settings
from gateway.connectivity import silence_limit

HISTORY_WINDOW_S = 3600.0
BUCKET_S = 300.0
MIN_HISTORY_S = 1800.0
# Devices heard longer ago than this before the gateway's last message are not looked at at all.
LOOKBACK = timedelta(hours=2)


def device_bound(intervals: Iterable[float], factor: float, gateways: int = 1) -> float | None:
    """Seconds the quickest live plug may be silent, scaled for a share group (pure)."""
    quickest = min(intervals, default=None)
    if quickest is None:
        return None
    return factor * quickest * max(1, gateways)


def deaf_limit(device: float | None, traffic: float | None, floor_s: float) -> float | None:
    """The rule in the module docstring (pure). None = nothing expected, never deaf."""
    if device is None:
        return None
    bound = device if traffic is None else min(device, traffic)
    return max(floor_s, bound)


def live_intervals(session: Session, heard_at: datetime, settings: Settings) -> list[float]:
    """Reporting intervals of the assigned plugs that were live when the gateway last heard anything.

    A plug counts when its last message came within its own silence allowance before
    ``heard_at``: one that had already gone quiet then (unplugged, broken) is expected by nobody.
    """
    rows = session.exec(
        select(Device.report_interval_s, Device.last_seen_at).where(
            Device.status == DeviceStatus.ASSIGNED,
            col(Device.last_seen_at) >= heard_at - LOOKBACK,
        )
    ).all()
    intervals = []
    for interval, last_seen_at in rows:
        if last_seen_at is None or heard_at - last_seen_at > silence_limit(interval, settings):
            continue
        intervals.append(interval or settings.offline_default_interval_s)
    return intervals


class Hearing:
    """The longest recent gap between messages, learned by sampling when the last one arrived.

    The processing thread calls :meth:`observe` between batches (at least every 0.1 s when
    idle); the network thread only stores each read's arrival time. A sampled gap overstates the
    true one by at most the sampling period, which is nothing against limits of a minute or more.
    """

    def __init__(
        self,
        factor: float,
        *,
        window_s: float = HISTORY_WINDOW_S,
        bucket_s: float = BUCKET_S,
        min_history_s: float = MIN_HISTORY_S,
    ) -> None:
        self._factor = factor
        self._bucket_s = bucket_s
        self._buckets_kept = max(1, round(window_s / bucket_s))
        self._min_history_s = min_history_s
        self._buckets: list[tuple[int, float]] = []  # (bucket number, longest gap in it)
        self._previous: float | None = None
        self._first: float | None = None

    def observe(self, now: float, last_heard: float, limit: float | None) -> None:
        """Learn from a new arrival (``last_heard`` moved); ``limit`` is the deaf limit in force."""
        if self._previous is None:
            self._previous = self._first = last_heard
            return
        if last_heard <= self._previous:
            return
        gap = last_heard - self._previous
        self._previous = last_heard
        if limit is not None and gap > limit:
            return  # an outage (or deafness) is not the traffic's rhythm
        number = int(now // self._bucket_s)
        if self._buckets and self._buckets[-1][0] == number:
            if gap > self._buckets[-1][1]:
                self._buckets[-1] = (number, gap)
        else:
            self._buckets.append((number, gap))
            del self._buckets[: -self._buckets_kept]

    def traffic_bound(self, now: float) -> float | None:
        if self._first is None or now - self._first < self._min_history_s:
            return None
        oldest = int(now // self._bucket_s) - self._buckets_kept + 1
        gaps = [gap for number, gap in self._buckets if number >= oldest]
        if not gaps:
            return None
        return self._factor * max(gaps)
