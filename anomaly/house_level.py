"""Two kinds of silence: quiet at base load, and quiet with the house on (issue 18).

A resident who goes out or to bed switches things off; one who collapses in the evening leaves
the lights, the TV or the heater on. Switch-on steps cannot tell the two apart (neither makes
one), but the level the house stays at can. Pure and streaming, shared by replay and live:

* :class:`HouseLevel` reads each half hour (UTC, ``bucket_s``) of one household: the *lowest*
  reading of the unmetered rest of the house (aggregate minus sub-meters: lights, a TV, a heater
  stay in it; a fridge or a kettle, which are off for part of the half hour, do not), and
  whether a plug on a light, TV, heater or electric blanket was on at every reading of it.
* :func:`on_since`: the house is *on* in a half hour whose level is at least
  ``on_above_base_w`` over the household's base load (learned), or with such a plug on
  throughout; the on-clock runs from the start of the current run of "on" half hours.
* :func:`fit_house`: from the last weeks' half hours and human events, how long quiet with the
  house on usually lasts, per local hour-of-day of its start (pooled over ± ``pool_h``; the
  household's longest over all hours when an hour has too few samples). A quiet with the house
  on ends with a human event or with the house going back to base (a person switched things off).

The ladder (:mod:`anomaly.ladder`) brings the alert forward while the house is on and the
on-quiet has outlasted its usual length; when the house goes back to base the base-load
ladder alone applies again.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

# Appliances a person switches on and leaves on while at home and awake (or in bed): a plug
# on one of them that stays on keeps the house "on".
ON_APPLIANCES = frozenset({"tv", "lamp", "light", "heater", "electric_blanket"})


@dataclass(frozen=True)
class HouseParams:
    bucket_s: int = 30 * 60
    on_above_base_w: float = 40.0  # unmetered level this far over the base load: something is on
    base_days: int = 7  # base load: a low quantile of the last week's half-hour levels
    base_quantile: float = 0.1
    min_samples: int = 4  # fewer on-quiet samples at an hour: use the household's longest
    pool_h: int = 1  # samples of the start hour ± this
    min_buckets: int = 7 * 48  # learn nothing from less than a week of half hours


@dataclass(frozen=True, slots=True)
class Bucket:
    """One closed half hour: its start (unix s), the unmetered rest's lowest reading (None: no
    whole-house meter reported), and whether an on-type plug was on at each of its readings."""

    start: int
    level_w: float | None
    plug_on: bool

    def to_row(self) -> tuple[int, float | None, bool]:
        return (self.start, self.level_w, self.plug_on)


@dataclass(frozen=True, slots=True)
class LevelState:
    """What :class:`HouseLevel` remembers between readings (live: stored per household)."""

    bucket: int | None = None
    level_w: float | None = None
    plug_on: bool = True
    seen: bool = False


class HouseLevel:
    """Half-hour buckets of one household, fed readings in time order."""

    def __init__(self, params: HouseParams | None = None, state: LevelState | None = None) -> None:
        self.params = params or HouseParams()
        s = state or LevelState()
        self._bucket, self._level, self._plug_on, self._seen = s.bucket, s.level_w, s.plug_on, s.seen

    @property
    def state(self) -> LevelState:
        return LevelState(self._bucket, self._level, self._plug_on, self._seen)

    def feed(self, ts: int, residual_w: float | None, plug_on: bool | None) -> Bucket | None:
        """One moment's unmetered level (None: no aggregate reading now) and on-type plugs' state
        (None: the household has no such plug). Returns the half hour this closes, if any."""
        start = ts - ts % self.params.bucket_s
        closed: Bucket | None = None
        if self._bucket is not None and start < self._bucket:
            return None  # late: the past is not rewritten
        if self._bucket is not None and start != self._bucket:
            if self._seen:
                closed = Bucket(self._bucket, self._level, self._plug_on)
            self._level, self._plug_on, self._seen = None, True, False
        self._bucket = start
        if residual_w is not None:
            self._level = residual_w if self._level is None else min(self._level, residual_w)
        self._plug_on = self._plug_on and bool(plug_on)
        self._seen = True
        return closed


def is_on(bucket: Bucket, base_w: float | None, params: HouseParams) -> bool:
    if bucket.plug_on:
        return True
    return (
        bucket.level_w is not None
        and base_w is not None
        and bucket.level_w >= base_w + params.on_above_base_w
    )


def on_since(
    previous: int | None,
    last_bucket: Bucket | None,
    bucket: Bucket,
    base_w: float | None,
    params: HouseParams,
) -> int | None:
    """The on-clock after ``bucket`` closes: kept through contiguous "on" half hours."""
    if not is_on(bucket, base_w, params):
        return None
    contiguous = last_bucket is not None and last_bucket.start + params.bucket_s == bucket.start
    return previous if previous is not None and contiguous else bucket.start


@dataclass(frozen=True)
class HouseModel:
    """What was learned (stored inside the routine's JSON)."""

    base_w: float | None
    on_quiet_h: list[float | None]  # per local hour-of-day of the on-quiet's start
    samples: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "base_w": None if self.base_w is None else round(self.base_w, 1),
            "on_quiet_h": [None if h is None else round(h, 3) for h in self.on_quiet_h],
            "samples": self.samples,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HouseModel:
        hours = [None if h is None else float(h) for h in data["on_quiet_h"]]
        if len(hours) != 24:
            raise ValueError("house model needs 24 hour-of-day values")
        base = data.get("base_w")
        return cls(None if base is None else float(base), hours, int(data.get("samples", 0)))

    def usual_on_quiet_h(self, start: int, zone: ZoneInfo) -> float | None:
        return self.on_quiet_h[datetime.fromtimestamp(start, UTC).astimezone(zone).hour]


def base_load(buckets: Sequence[Bucket], now: int, params: HouseParams) -> float | None:
    levels = [
        b.level_w for b in buckets if b.level_w is not None and b.start >= now - params.base_days * 86400
    ]
    if len(levels) < params.min_buckets // 2:
        return None
    return float(np.quantile(levels, params.base_quantile))


def on_quiet_samples(
    buckets: Sequence[Bucket], humans: Sequence[int], base_w: float | None, params: HouseParams
) -> list[tuple[int, float]]:
    """``(start, hours)`` of each finished quiet with the house on: from the start of an on-run or a
    human event in it, to the next human event or the run's end. A run still going at the end of
    the history is not finished (left out)."""
    samples: list[tuple[int, float]] = []
    ordered = sorted(humans)

    def close(start: int, end: int) -> None:
        i = bisect.bisect_right(ordered, start)
        t = start
        while i < len(ordered) and ordered[i] < end:
            samples.append((t, (ordered[i] - t) / 3600))
            t = ordered[i]
            i += 1
        samples.append((t, (end - t) / 3600))

    runs: list[tuple[int, int]] = []
    current: int | None = None
    last = None
    for b in buckets:
        nxt = on_since(current, last, b, base_w, params)
        if current is not None and nxt != current:
            assert last is not None
            runs.append((current, last.start + params.bucket_s))
        current, last = nxt, b
    for start, end in runs:
        close(start, end)
    return samples


def fit_house(
    buckets: Sequence[Bucket],
    humans: Iterable[int],
    *,
    now: int,
    timezone: str,
    params: HouseParams | None = None,
) -> HouseModel | None:
    p = params or HouseParams()
    if len(buckets) < p.min_buckets:
        return None
    base = base_load(buckets, now, p)
    has_level = any(b.level_w is not None for b in buckets)
    if base is None and has_level:
        return None
    zone = ZoneInfo(timezone)
    samples = on_quiet_samples(buckets, sorted(humans), base, p)
    per_hour: list[list[float]] = [[] for _ in range(24)]
    for start, hours in samples:
        per_hour[datetime.fromtimestamp(start, UTC).astimezone(zone).hour].append(hours)
    longest = max((h for _s, h in samples), default=None)
    usual: list[float | None] = []
    for hour in range(24):
        pooled = [h for k in range(-p.pool_h, p.pool_h + 1) for h in per_hour[(hour + k) % 24]]
        usual.append(max(pooled) if len(pooled) >= p.min_samples else longest)
    return HouseModel(base, usual, len(samples))
