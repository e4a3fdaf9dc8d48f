"""On far longer than usual: a plug left on well past its usual running time (issue 18).

Someone who collapses while watching TV, or under the electric blanket, leaves that plug on; the
switch-on was their last sign of life, so the base-load ladder waits for the long usual quiet
after it. But how long this household's TV (blanket, heater, washing machine...) usually stays
on when switched on at that hour is known from its own history, and "the TV has been on since
21:40 without a break; usually off by 23:30" is a sharper question. Pure, shared by replay and
live:

* A **run** is one programme of one plug: from its switch-on (an ON edge, so a restart within
  the programme gap is the same run, as the switch-on rule has it) to its last switch-off before
  the next switch-on. :func:`programme_runs` builds them from the ON and OFF edges, the same
  edges the gateway stores (``activity_edge``) and replay's detector sees.
* :func:`fit_long_on` learns, per plug and hour-of-week of the switch-on, how long its runs last
  at most: pooled over ±1 h, the larger of the hour-of-week's and the hour-of-day's longest (each
  only with enough runs), as the quiet gaps are (``anomaly/routine.py``). Only runs whose
  switch-on was human: an automatic load (a fridge's cycles, a timer) is never judged, and a plug
  that is always on has no finished runs, so nothing is learned for it.
* :func:`long_on_alert` (called by the ladder): while such a plug is on, the alert is at
  ``start + margin × usual + grace`` — and not before ``min_quiet_h`` after the last sign of life
  (a person still busy elsewhere in the house is not lying on the floor). Switched off (a
  person acted, or the programme ended), the rule no longer applies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from anomaly.activity import AGGREGATE, PowerEvent, is_human
from anomaly.routine import HOURS_PER_WEEK, hour_of_week


@dataclass(frozen=True)
class LongOnParams:
    min_samples: int = 5  # runs (pooled) at an hour before its usual length is trusted
    pool_h: int = 1  # runs started at the hour ± this
    programme_gap_s: int = 30 * 60  # an off this long (StepParams.programme_gap_s) ends a run


@dataclass(frozen=True, slots=True)
class Run:
    """One programme of one plug: switched on at ``start`` (unix s) at ``power_w`` (its power band
    tells an automatic load); ``end`` is its last switch-off (None while it is still on)."""

    channel: str
    start: int
    power_w: float
    end: int | None = None


@dataclass(frozen=True, slots=True)
class LongOn:
    """The long-on rule's alert: ``run`` has outlasted its usual ``usual_h`` at that hour."""

    alert: int
    run: Run
    usual_h: float


def programme_runs(
    switches: Iterable[tuple[int, str, bool, float]], *, now: int, params: LongOnParams | None = None
) -> list[Run]:
    """Finished runs from time-ordered ``(ts, channel, on?, power W)`` switch-ons and switch-offs.

    A run ends at the last switch-off before the channel's next switch-on; the last run of a
    channel is finished once it has been off for a programme gap by ``now`` (it cannot resume).
    Switch-offs before a channel's first switch-on belong to a run that began earlier: ignored.
    """
    p = params or LongOnParams()
    open_runs: dict[str, tuple[int, float, int | None]] = {}  # channel -> (start, power, last off)
    runs: list[Run] = []
    for ts, channel, on, power in switches:
        if channel == AGGREGATE:
            continue
        current = open_runs.get(channel)
        if on:
            if current is not None and current[2] is not None:
                runs.append(Run(channel, current[0], current[1], current[2]))
            open_runs[channel] = (ts, power, None)
        elif current is not None:
            open_runs[channel] = (current[0], current[1], ts)
    for channel, (start, power, off) in open_runs.items():
        if off is not None and now - off >= p.programme_gap_s:
            runs.append(Run(channel, start, power, off))
    return sorted(runs, key=lambda r: (r.start, r.channel))


def switch_stream(
    switch_ons: Iterable[PowerEvent], switch_offs: Iterable[tuple[int, str]]
) -> list[tuple[int, str, bool, float]]:
    """Switch-ons (new programmes) and switch-offs ``(ts, channel)`` as :func:`programme_runs` reads them."""
    stream = [(e.ts, e.channel, True, e.level_w) for e in switch_ons]
    stream += [(ts, channel, False, 0.0) for ts, channel in switch_offs]
    return sorted(stream, key=lambda s: (s[0], s[1], s[2]))


def fit_long_on(
    runs: Iterable[Run],
    automatic: Mapping[str, Iterable[int]],
    *,
    timezone: str,
    params: LongOnParams | None = None,
) -> dict[str, list[float | None]]:
    """Per plug, per hour-of-week of the switch-on: the longest usual run in hours (None: too few)."""
    p = params or LongOnParams()
    zone = ZoneInfo(timezone)
    auto = {channel: set(bands) for channel, bands in automatic.items()}
    by_how: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        if run.end is None or run.channel == AGGREGATE or not is_human(_switch_on(run), auto):
            continue
        by_how[run.channel][hour_of_week(run.start, zone)].append((run.end - run.start) / 3600)
    out: dict[str, list[float | None]] = {}
    for channel, hours in sorted(by_how.items()):
        by_hod: dict[int, list[float]] = defaultdict(list)
        for how, values in hours.items():
            by_hod[how % 24].extend(values)
        usual: list[float | None] = []
        for how in range(HOURS_PER_WEEK):
            week = [
                v for k in range(-p.pool_h, p.pool_h + 1) for v in hours.get((how + k) % HOURS_PER_WEEK, [])
            ]
            day = [v for k in range(-p.pool_h, p.pool_h + 1) for v in by_hod.get((how + k) % 24, [])]
            candidates = [max(v) for v in (week, day) if len(v) >= p.min_samples]
            usual.append(max(candidates) if candidates else None)
        if any(u is not None for u in usual):
            out[channel] = usual
    return out


def long_on_alert(
    last: int,
    runs: Sequence[Run],
    usual: Mapping[str, Sequence[float | None]],
    automatic: Mapping[str, Iterable[int]],
    *,
    timezone: str,
    margin: float,
    grace_h: float,
    min_quiet_h: float,
    cap: int,
) -> LongOn | None:
    """The earliest alert of the plugs on now (``runs``, ``end`` None) that outlast their usual run
    at the hour they were switched on, or None (nothing learned, automatic, or past ``cap``)."""
    zone = ZoneInfo(timezone)
    auto = {channel: set(bands) for channel, bands in automatic.items()}
    best: LongOn | None = None
    for run in runs:
        hours = usual.get(run.channel)
        if hours is None or run.channel == AGGREGATE or not is_human(_switch_on(run), auto):
            continue
        usual_h = hours[hour_of_week(run.start, zone)]
        if usual_h is None:
            continue
        due = max(run.start + int((margin * usual_h + grace_h) * 3600), last + int(min_quiet_h * 3600))
        if due < cap and (best is None or due < best.alert):
            best = LongOn(due, run, usual_h)
    return best


def _switch_on(run: Run) -> PowerEvent:
    return PowerEvent(run.start, run.channel, run.power_w)
