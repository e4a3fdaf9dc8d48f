"""Activity from power: which power changes are a person, and which are the house by itself.

Pure and streaming (one reading at a time, never looking ahead), so the same code serves the
live path and ``anbu replay``. Two steps:

1. :class:`StepDetector` turns one channel's readings into *switch-on events*: an appliance
   plug going from idle to on (with hysteresis; a restart soon after it stopped is the same
   programme, e.g. a dishwasher's second heating phase), or, on a whole-house ``aggregate``
   meter, a rise of at least ``aggregate_step_w`` above the previous minute.
2. :func:`learn_automatic` looks at a channel's own event history and marks the kinds of
   event (power bands) that are automatic: round-the-clock cycling (fridge, freezer,
   standby) fires as often at night as by day, and timer loads (night-tariff water heater)
   fire at the same night-time slot on most days. People rarely do either. Events in those
   bands are not signs of life.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

AGGREGATE = "aggregate"


@dataclass(frozen=True)
class PowerEvent:
    """A channel switched on (or the whole house stepped up) at ``ts`` (unix seconds)."""

    ts: int
    channel: str
    level_w: float  # power reached (plugs) or size of the step (aggregate)


@dataclass(frozen=True)
class StepParams:
    on_w: float = 20.0  # a plug above this is on
    off_w: float = 10.0  # ... and below this is off again (hysteresis)
    programme_gap_s: int = 30 * 60  # back on within this after stopping = same programme
    aggregate_step_w: float = 200.0  # whole-house rise that counts as switching something on
    aggregate_refractory_s: int = 5 * 60  # one step event per ramp
    max_gap_s: int = 5 * 60  # readings further apart: do not compare across the gap

    def with_threshold(self, on_w: float) -> StepParams:
        """A plug's own "in use" threshold (``Device.on_threshold_w``); off again below half of it."""
        if on_w == self.on_w:
            return self
        return replace(self, on_w=on_w, off_w=on_w / 2)


@dataclass(frozen=True, slots=True)
class StepState:
    """What a :class:`StepDetector` remembers between readings (unix s; the live gateway stores it
    per channel in ``channel_state``, so edges continue across batches and restarts)."""

    last_ts: int | None = None
    last_w: float | None = None  # the last power fed (for an aggregate: what was left after sub-meters)
    on: bool = False
    off_since: int | None = None
    last_event_ts: int | None = None


class StepDetector:
    """Switch-on events of one channel, fed in time order."""

    def __init__(
        self, channel: str, params: StepParams | None = None, state: StepState | None = None
    ) -> None:
        self.channel = channel
        self.params = params or StepParams()
        self.is_aggregate = channel == AGGREGATE
        s = state or StepState()
        self._last_ts, self._last_w, self._on = s.last_ts, s.last_w, s.on
        self._off_since, self._last_event_ts = s.off_since, s.last_event_ts

    @property
    def state(self) -> StepState:
        return StepState(self._last_ts, self._last_w, self._on, self._off_since, self._last_event_ts)

    @property
    def is_on(self) -> bool:
        return self._on

    def latest(self, ts: int) -> float | None:
        """The last power fed, if it is at most ``max_gap_s`` older than ``ts`` (else unknown)."""
        if self._last_ts is None or not 0 <= ts - self._last_ts <= self.params.max_gap_s:
            return None
        return self._last_w

    def feed(self, ts: int, power_w: float) -> PowerEvent | None:
        p = self.params
        prev_ts, prev_w = self._last_ts, self._last_w
        self._last_ts, self._last_w = ts, power_w
        if prev_ts is not None and ts < prev_ts:
            self._last_ts, self._last_w = prev_ts, prev_w
            return None  # late reading: no edge from the past
        # The same second again is fed, in arrival order: a backlog from a plug without a clock
        # arrives in one socket read (gateway/reading_time.py), its readings microseconds apart.
        contiguous = prev_ts is not None and ts - prev_ts <= p.max_gap_s
        if self.is_aggregate:
            if not contiguous or prev_w is None:
                return None
            step = power_w - prev_w
            recent = self._last_event_ts is not None and ts - self._last_event_ts < p.aggregate_refractory_s
            if step >= p.aggregate_step_w and not recent:
                self._last_event_ts = ts
                return PowerEvent(ts, self.channel, step)
            return None
        if self._on:
            if power_w < p.off_w:
                self._on = False
                self._off_since = ts
            return None
        if power_w <= p.on_w:
            return None
        self._on = True
        same_programme = self._off_since is not None and ts - self._off_since < p.programme_gap_s
        self._off_since = None
        if same_programme:
            return None
        self._last_event_ts = ts
        return PowerEvent(ts, self.channel, power_w)


def residual_w(aggregate_w: float, sub_meters_w: Iterable[float | None]) -> float:
    """The whole-house reading minus the sub-metered channels' current readings (never below 0 W).

    The aggregate includes every sub-metered appliance; a step there that one of them explains
    is that appliance's switch-on, which its own channel already reports (and whose
    automatic-ness is learned there). What is left is the unmetered rest of the house. A
    sub-meter without a recent reading (``None``) is not subtracted: unknown is not 0 W, but
    guessing would be worse.
    """
    return max(0.0, aggregate_w - sum(w for w in sub_meters_w if w is not None))


def power_band(level_w: float) -> int:
    """Half-octave bands (edges at 2^(k/2) W): 100 W and 120 W share a band, a kettle's 2 kW does not."""
    return math.floor(2 * math.log2(max(level_w, 1.0)))


@dataclass(frozen=True)
class AutomaticParams:
    min_days: float = 3.0  # learn nothing from less history than this
    cycling_per_day: float = 3.0  # a band firing this often ...
    night_share: float = 0.6  # ... with at least this share of a uniform day's night events
    timer_day_share: float = 0.5  # a night slot used on this share of days is a timer
    night_hours: tuple[int, ...] = (0, 1, 2, 3, 4, 5)


def learn_automatic(
    events: Iterable[PowerEvent], *, days: float, timezone: str, params: AutomaticParams | None = None
) -> dict[str, set[int]]:
    """Per channel, the power bands whose events are automatic loads (see module docstring)."""
    p = params or AutomaticParams()
    if days < p.min_days:
        return {}
    zone = ZoneInfo(timezone)
    per_band: dict[tuple[str, int], int] = Counter()
    night_band: dict[tuple[str, int], int] = Counter()
    slot_days: dict[tuple[str, int, int], set[str]] = defaultdict(set)
    for e in events:
        local = datetime.fromtimestamp(e.ts, UTC).astimezone(zone)
        key = (e.channel, power_band(e.level_w))
        per_band[key] += 1
        if local.hour in p.night_hours:
            night_band[key] += 1
            slot = local.hour * 2 + local.minute // 30
            slot_days[(e.channel, key[1], slot)].add(local.date().isoformat())
    uniform_night = len(p.night_hours) / 24
    automatic: dict[str, set[int]] = defaultdict(set)
    for key, n in per_band.items():
        if n / days >= p.cycling_per_day and night_band[key] / n >= p.night_share * uniform_night:
            automatic[key[0]].add(key[1])
    for (channel, band, _slot), used in slot_days.items():
        if len(used) / days >= p.timer_day_share:
            automatic[channel].add(band)
    return dict(automatic)


def is_human(event: PowerEvent, automatic: dict[str, set[int]]) -> bool:
    return power_band(event.level_w) not in automatic.get(event.channel, set())
