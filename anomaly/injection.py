"""What the meters show after the resident is incapacitated: the evaluation's two injection models.

``anbu eval`` forks a real trace at an event time and replaces what follows with one of these
(docs/detection.md, section 5, "Injection models"):

* **all-off** (:func:`all_off`): the house falls to its base load. Appliance plugs drop to
  standby; the whole-house meter is capped at its recent base load (the 10th percentile of the
  previous 24 h) plus the channels known to run by themselves. This is what a collapse looks
  like after the resident switched everything off (in bed), and also what a day out looks like.
* **frozen** (:func:`frozen`): the house stays as it was: the all-off house plus what was
  left on. The unmetered rest of the house (aggregate minus the sub-meters) keeps what was
  steadily on before the event above its base load (the lowest reading of its last half hour
  minus its 24 h base: lights, a TV, a heater that had been on all that time; not a kettle's
  3 minutes, nor a fridge, which cycles off within the half hour); sub-metered appliances
  whose programme was under way finish it (their real readings until they have been idle for
  a programme gap, then standby); automatic channels keep running. A collapse in the evening
  with the lights and the TV on.

Limits (both): the base load is clipped flat (anything that rises above it after the event is
removed), so unmetered automatic loads that cycle above the base (a fridge) are removed too;
a real house would show them on top (the detector's house level is the lowest reading of each
half hour, so cycles on top of it do not change it). An unmetered load switched on in the last
half hour before the event is not kept on (the model's conservative side); an unmetered oven
or washing machine that ran the whole half hour stays on for the whole horizon; a sub-metered
one that the resident really started again within a programme gap of its end counts as the
same programme. Pure functions of the recorded minutes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from anomaly.activity import AGGREGATE, StepParams, residual_w
from anomaly.house_level import ON_APPLIANCES

ALL_OFF = "all-off"
FROZEN = "frozen"
INJECTIONS = (ALL_OFF, FROZEN)
# Channels that run by themselves in the real set; they keep running after an injected event.
AUTOMATIC_CHANNELS = frozenset({"water_heater_aircon"})
STANDBY_W = 1.0
# What was steadily on before the event: the lowest residual of its last half hour.
STEADY_WINDOW_S = 30 * 60

Minutes = Sequence[tuple[int, Mapping[str, float]]]


class Injection(Protocol):
    @property
    def name(self) -> str: ...

    def apply(self, ts: int, readings: Mapping[str, float]) -> dict[str, float]:
        """The readings of minute ``ts`` (after the event) as the incapacitated house shows them."""
        ...


@dataclass(frozen=True)
class AllOff:
    """Only automatic loads go on: plugs at standby, the aggregate capped at base + automatic."""

    base_w: float
    name: str = ALL_OFF

    def apply(self, ts: int, readings: Mapping[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        automatic = sum(p for ch, p in readings.items() if ch in AUTOMATIC_CHANNELS)
        for channel, power in readings.items():
            if channel in AUTOMATIC_CHANNELS:
                out[channel] = power
            elif channel == AGGREGATE:
                out[channel] = min(power, self.base_w + automatic)
            else:
                out[channel] = min(power, STANDBY_W)
        return out


def all_off(base_w: float) -> AllOff:
    """``base_w``: the whole-house meter's recent base load (10th percentile of the last 24 h)."""
    return AllOff(base_w)


@dataclass
class Frozen:
    """The house as it was: see the module docstring. Stateful (programmes end), one per fork."""

    base_w: float  # the whole-house meter's base load (as all-off's)
    elevated_w: float  # what was steadily on in the unmetered rest above its base: stays on
    # Sub-metered channels whose programme was under way, with their last active reading.
    running: dict[str, int] = field(default_factory=dict)
    step: StepParams = field(default_factory=StepParams)
    # Plugs on a lamp, TV, heater or blanket that were on in the minute before: they stay on at
    # that reading (nobody switches them off). None of the real set's channels is one.
    left_on: dict[str, float] = field(default_factory=dict)
    name: str = FROZEN

    def apply(self, ts: int, readings: Mapping[str, float]) -> dict[str, float]:
        programmes: dict[str, float] = {}
        for channel, power in readings.items():
            if channel == AGGREGATE or channel not in self.running or channel in self.left_on:
                continue
            if ts - self.running[channel] >= self.step.programme_gap_s:
                del self.running[channel]  # finished: it never starts again
                continue
            if power > self.step.off_w:
                self.running[channel] = ts
            programmes[channel] = power
        # The all-off house without the programmes still running (and the lamps' real readings),
        # then those and what stays on.
        left_on = {ch: w for ch, w in self.left_on.items() if ch in readings}
        rest = dict(readings)
        if AGGREGATE in rest:
            real = sum(programmes.values()) + sum(readings[ch] for ch in left_on)
            rest[AGGREGATE] = max(0.0, rest[AGGREGATE] - real)
        out = AllOff(self.base_w).apply(ts, rest)
        out.update(programmes)
        out.update(left_on)
        if AGGREGATE in out:
            out[AGGREGATE] += self.elevated_w + sum(programmes.values()) + sum(left_on.values())
        return out


def frozen(minutes: Minutes, i: int, event_ts: int, base_w: float, residual_base_w: float) -> Frozen:
    """The frozen model for an event at ``event_ts``; ``minutes[i]`` is the first minute at or after it.

    ``base_w``: the whole-house meter's base load (as :func:`all_off`'s); ``residual_base_w``:
    the base load of aggregate minus sub-meters (both the 10th percentile of the last 24 h).
    Looks back over the minutes before the event for what was on.
    """
    step = StepParams()
    steady: list[float] = []
    running: dict[str, int] = {}
    j = i - 1
    while j >= 0 and minutes[j][0] >= event_ts - step.programme_gap_s:
        ts, readings = minutes[j]
        if AGGREGATE in readings and ts >= event_ts - STEADY_WINDOW_S:
            steady.append(
                residual_w(readings[AGGREGATE], [w for ch, w in readings.items() if ch != AGGREGATE])
            )
        for channel, power in readings.items():
            # A programme is under way when its appliance was on within a programme gap (it
            # may be between two phases, as the switch-on rule treats it).
            if channel != AGGREGATE and channel not in AUTOMATIC_CHANNELS and power > step.on_w:
                running.setdefault(channel, ts)  # walking backwards: the first seen is the latest
        j -= 1
    elevated = max(0.0, min(steady) - residual_base_w) if steady else 0.0
    left_on: dict[str, float] = {}
    if i > 0:
        left_on = {ch: w for ch, w in minutes[i - 1][1].items() if ch in ON_APPLIANCES and w > step.on_w}
    return Frozen(base_w, elevated, running, step, left_on)
