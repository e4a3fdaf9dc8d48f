"""Per-household routine: how likely activity is, and how long quiet lasts, per local hour-of-week.

Fitted from human activity events (unix seconds) in the household's own time zone, so a
routine survives DST changes (the hour-of-week is computed from each aware UTC instant).
Stored as plain JSON (:meth:`Routine.to_json`), never as a pickle: staff and the dashboard
can read it and every alert can be explained from it.

Estimator: ``sklearn.linear_model.LogisticRegression`` on one-hot hour-of-day plus one-hot
hour-of-week. The L2 penalty shrinks each hour-of-week towards its hour-of-day, and that
towards the household's mean, so a few weeks of data give a smooth, sensible estimate
instead of a noisy 168-cell histogram (docs/detection.md says more).
"""

from __future__ import annotations

import functools
import itertools
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import ThreadpoolController

from anomaly.house_level import HouseModel

HOURS_PER_WEEK = 168
DAY_START_HOUR = 4  # local; activity before this belongs to the night, not the morning
MODEL_VERSION = 1


@dataclass(frozen=True)
class FitParams:
    window_days: int = 28  # learn from the last four weeks
    min_days: int = 10  # fewer usable days: stay on the conservative fixed rule (tuned: docs)
    min_hour_coverage_s: int = 30 * 60  # an hour with less data says nothing
    min_day_coverage: float = 0.5  # a day with less data is not used
    unusual_day_share: float = 0.25  # days with fewer events than this × median are unusual
    gap_quantile: float = 1.0  # the longest usual quiet (of the window's usual days)
    min_gap_samples: int = 6
    regularisation_c: float = 1.0
    # Learning from confirmed false alarms (docs/detection.md, "Learning from false alarms"):
    # one confirmation may raise an hour's usual gap by at most this much over what the
    # household's own data say (the alert there moves by at most gap_margin × this), ...
    confirmed_gap_max_raise_h: float = 6.0
    # ... and move the morning check's latest usual start by at most this much.
    confirmed_morning_max_shift_min: int = 180


@dataclass(frozen=True)
class ConfirmedQuiet:
    """A quiet the resident (or staff) confirmed was fine: an inactivity case's false alarm.

    ``start``: the last sign of life before the case; ``end``: the confirmation (unix s).
    """

    start: int
    end: int


@dataclass
class Routine:
    """The learned routine of one household (readable data; see module docstring)."""

    timezone: str
    fitted_at: int  # unix s
    days_used: int
    days_excluded: list[str]
    p_active: list[float]  # per hour-of-week (Monday 00:00 local = 0)
    quiet_gap_h: list[float]  # usual longest quiet gap after activity in that hour
    first_activity_min: int | None = None  # usual local minute-of-day of the first activity
    first_activity_channel: str | None = None
    # The latest first activity (after 04:00 local) of the usual days: by then, on every usual
    # day of the window, the resident had shown a sign of life (the morning check).
    first_activity_latest_min: int | None = None
    automatic: dict[str, list[int]] = field(default_factory=dict)  # channel -> power bands
    # How many confirmed false alarms of the window raised the gaps or the morning check.
    confirmed_false_alarms: int = 0
    # Quiet with the house on (issue 18): base load and usual on-quiet per hour-of-day.
    house: HouseModel | None = None
    # On far longer than usual (issue 18, anomaly/long_on.py): per plug, per hour-of-week of the
    # switch-on, its longest usual run in hours (None: too few runs at that hour).
    long_on: dict[str, list[float | None]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": MODEL_VERSION,
            "timezone": self.timezone,
            "fitted_at": self.fitted_at,
            "days_used": self.days_used,
            "days_excluded": self.days_excluded,
            "p_active": [round(p, 4) for p in self.p_active],
            "quiet_gap_h": [round(g, 3) for g in self.quiet_gap_h],
            "first_activity_min": self.first_activity_min,
            "first_activity_channel": self.first_activity_channel,
            "first_activity_latest_min": self.first_activity_latest_min,
            "automatic": {k: sorted(v) for k, v in self.automatic.items()},
            "confirmed_false_alarms": self.confirmed_false_alarms,
            "house": None if self.house is None else self.house.to_json(),
            "long_on": {k: [None if h is None else round(h, 3) for h in v] for k, v in self.long_on.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Routine:
        if data.get("version") != MODEL_VERSION:
            raise ValueError(f"unsupported routine model version {data.get('version')!r}")
        p_active = [float(x) for x in data["p_active"]]
        gaps = [float(x) for x in data["quiet_gap_h"]]
        if len(p_active) != HOURS_PER_WEEK or len(gaps) != HOURS_PER_WEEK:
            raise ValueError("routine model needs 168 hour-of-week values")
        return cls(
            timezone=str(data["timezone"]),
            fitted_at=int(data["fitted_at"]),
            days_used=int(data["days_used"]),
            days_excluded=[str(d) for d in data.get("days_excluded", [])],
            p_active=p_active,
            quiet_gap_h=gaps,
            first_activity_min=data.get("first_activity_min"),
            first_activity_channel=data.get("first_activity_channel"),
            # absent in models stored before the morning check existed: no morning check
            first_activity_latest_min=data.get("first_activity_latest_min"),
            automatic={str(k): [int(b) for b in v] for k, v in data.get("automatic", {}).items()},
            # absent in models stored before false alarms were learned from: none were
            confirmed_false_alarms=int(data.get("confirmed_false_alarms", 0)),
            # absent in models stored before issue 18: no house-on rule
            house=HouseModel.from_json(data["house"]) if data.get("house") else None,
            # absent in models stored before the long-on rule: nothing learned, no such alert
            long_on={str(k): _hours_of_week(v) for k, v in data.get("long_on", {}).items()},
        )


def _hours_of_week(values: list[Any]) -> list[float | None]:
    if len(values) != HOURS_PER_WEEK:
        raise ValueError("long-on model needs 168 hour-of-week values per plug")
    return [None if v is None else float(v) for v in values]


def add_coverage(coverage: dict[int, int], prev: int | None, ts: int, max_gap_s: int) -> None:
    """Credit the time since the previous reading (if close enough) to the hours it falls in.

    Readings closer than ``max_gap_s`` mean we would have seen a switch-on in between, so the
    time between them is "covered"; a lone reading after a gap counts one minute.
    """
    if prev is None or ts <= prev or ts - prev > max_gap_s:
        hour = ts - ts % 3600
        coverage[hour] = min(3600, coverage.get(hour, 0) + 60)
        return
    t = prev
    while t < ts:
        hour = t - t % 3600
        nxt = min(ts, hour + 3600)
        coverage[hour] = min(3600, coverage.get(hour, 0) + nxt - t)
        t = nxt


def hour_of_week(ts: float, zone: ZoneInfo) -> int:
    local = datetime.fromtimestamp(ts, UTC).astimezone(zone)
    return local.weekday() * 24 + local.hour


# Between two probes of a zone's UTC offset this far apart, no zone in the tz database changes
# its offset twice (changes are months apart), so equal offsets at every probe mean one offset.
_OFFSET_PROBE_S = 6 * 3600
_EPOCH_HOUR_OF_WEEK = 3 * 24  # 1970-01-01 00:00 was a Thursday


def hours_of_week(start: int, stop: int, zone: ZoneInfo) -> Callable[[int], int]:
    """:func:`hour_of_week` for any time in ``[start, stop]``, by arithmetic when the zone keeps
    one UTC offset over the span (the ladder asks for every 10-minute step of up to three days:
    converting each was most of its time, issue 15); by conversion when it does not (a DST
    change in the span)."""
    offset = _utc_offset(start, zone)
    probes = [*range(start + _OFFSET_PROBE_S, stop, _OFFSET_PROBE_S), stop]
    if any(_utc_offset(probe, zone) != offset for probe in probes):
        return functools.partial(hour_of_week, zone=zone)

    def by_offset(ts: int) -> int:
        return ((ts + offset) // 3600 + _EPOCH_HOUR_OF_WEEK) % HOURS_PER_WEEK

    return by_offset


def _utc_offset(ts: int, zone: ZoneInfo) -> int:
    offset = datetime.fromtimestamp(ts, UTC).astimezone(zone).utcoffset()
    assert offset is not None  # an aware time always has one
    return int(offset.total_seconds())


def local_date(ts: float, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(ts, UTC).astimezone(zone).date()


def fit_routine(
    events: Sequence[tuple[int, str]],
    coverage: dict[int, int],
    *,
    now: int,
    timezone: str,
    automatic: dict[str, set[int]] | None = None,
    params: FitParams | None = None,
    confirmed: Sequence[ConfirmedQuiet] = (),
) -> Routine | None:
    """Fit from human events ``(ts, channel)`` (sorted) and data coverage.

    ``coverage`` maps the unix start of each UTC hour to the seconds of data in it (missing
    data is not inactivity). Returns None until there are ``min_days`` usable days.
    Unusual days (away, holiday: far fewer events than usual) are excluded so they cannot
    teach the model that long silences are normal.

    ``confirmed``: quiets confirmed fine (false alarms, live only; replay has none). Those
    confirmed within the window make their quiet a usual one (:func:`_learn_confirmed`).
    """
    p = params or FitParams()
    zone = ZoneInfo(timezone)
    start = now - p.window_days * 86400
    covered_hours = {h for h, s in coverage.items() if start <= h < now and s >= p.min_hour_coverage_s}
    day_hours: Counter[date] = Counter(local_date(h, zone) for h in covered_hours)
    recent = [(ts, ch) for ts, ch in events if start <= ts < now]
    per_day: Counter[date] = Counter(local_date(ts, zone) for ts, _ in recent)
    covered_days = [d for d, n in day_hours.items() if n >= 24 * p.min_day_coverage]
    if not covered_days:
        return None
    median_events = statistics.median(per_day[d] for d in covered_days)
    good = {d for d in covered_days if per_day[d] >= p.unusual_day_share * median_events and per_day[d] > 0}
    excluded = sorted(d.isoformat() for d in covered_days if d not in good)
    if len(good) < p.min_days:
        return None

    active_hours = {ts - ts % 3600 for ts, _ in recent}
    hours = sorted(h for h in covered_hours if local_date(h, zone) in good)
    how = np.array([hour_of_week(h, zone) for h in hours])
    y = np.array([1 if h in active_hours else 0 for h in hours])
    p_active = _fit_p_active(how, y, p.regularisation_c)

    gaps = _quiet_gaps(recent, good, zone, p)
    first_min, latest_min, first_channel = _first_activity(recent, good, zone)
    used = [c for c in confirmed if start <= c.start < c.end < now]  # they age out with the window
    gaps, latest_min = _learn_confirmed(gaps, latest_min, used, zone, p)
    return Routine(
        timezone=timezone,
        fitted_at=now,
        days_used=len(good),
        days_excluded=excluded,
        p_active=p_active,
        quiet_gap_h=gaps,
        first_activity_min=first_min,
        first_activity_channel=first_channel,
        first_activity_latest_min=latest_min,
        automatic={k: sorted(v) for k, v in (automatic or {}).items()},
        confirmed_false_alarms=len(used),
    )


def _learn_confirmed(
    gaps: list[float],
    latest_min: int | None,
    confirmed: Sequence[ConfirmedQuiet],
    zone: ZoneInfo,
    p: FitParams,
) -> tuple[list[float], int | None]:
    """Make each confirmed quiet a usual one, bounded.

    * Gap: the hour-of-week the quiet started in, and its neighbours (the fit pools every
      sample over ±1 h the same way), get a usual gap of at least the confirmed length, but at
      most ``confirmed_gap_max_raise_h`` over the fitted value of that hour. Only that
      hour-of-week, not the same hour on other days: one confirmation is one week's evidence.
    * Morning: a quiet that began before a local day started (04:00) and was confirmed later
      that day says the day's first sign of life came at the confirmation, so the morning
      check's latest usual start moves to it, by at most ``confirmed_morning_max_shift_min``.
      The morning check only ever brings an alert forward, so moving it later can never put an
      alert after the gap rule's.

    The bounds are relative to the fitted values, so confirmations do not compound: the
    largest applies, never their sum.
    """
    fitted = list(gaps)
    out = list(gaps)
    latest = latest_min
    for c in confirmed:
        gap_h = (c.end - c.start) / 3600
        h = hour_of_week(c.start, zone)
        for k in (-1, 0, 1):
            i = (h + k) % HOURS_PER_WEEK
            out[i] = max(out[i], min(gap_h, fitted[i] + p.confirmed_gap_max_raise_h))
        if latest_min is None:
            continue
        confirmed_at = datetime.fromtimestamp(c.end, UTC).astimezone(zone)
        day_start = datetime.combine(confirmed_at.date(), time(DAY_START_HOUR), zone)
        if confirmed_at.hour >= DAY_START_HOUR and c.start < day_start.timestamp():
            minute = confirmed_at.hour * 60 + confirmed_at.minute
            latest = max(latest or 0, min(minute, latest_min + p.confirmed_morning_max_shift_min))
    return out, latest


def _features(how: np.ndarray) -> np.ndarray:
    x = np.zeros((len(how), 24 + HOURS_PER_WEEK))
    x[np.arange(len(how)), how % 24] = 1.0
    x[np.arange(len(how)), 24 + how] = 1.0
    return x


def _fit_p_active(how: np.ndarray, y: np.ndarray, c: float) -> list[float]:
    if y.min() == y.max():  # one class only: the mean is all there is to learn
        return [float(y[0])] * HOURS_PER_WEEK
    model = LogisticRegression(C=c, max_iter=500)
    # One thread: a 192-feature fit is far too small to share, and BLAS/OpenMP threads waiting on
    # each other made it 3-20x slower in wall time on a busy machine (issue 15.3); the numbers are
    # the same (tests/integration/anomaly/test_refit_pinned.py, `anbu eval`).
    with _threads().limit(limits=1):
        model.fit(_features(how), y)
        probs = model.predict_proba(_features(np.arange(HOURS_PER_WEEK)))[:, 1]
    return [float(v) for v in probs]


@functools.cache
def _threads() -> ThreadpoolController:
    """The BLAS and OpenMP thread pools loaded (looked up once: the lookup walks the loaded libraries)."""
    return ThreadpoolController()


def _quiet_gaps(
    events: Sequence[tuple[int, str]], good: set[date], zone: ZoneInfo, p: FitParams
) -> list[float]:
    """Per hour-of-week, a high quantile of the longest quiet that followed activity in that hour.

    One sample per day and hour (the longest gap after an event in it), so a burst of kettle
    uses does not outvote the one long afternoon nap. Pooled over neighbouring hours (±1 h)
    and backed off to the hour of day when a cell has too few samples. Gaps that span an
    unusual or uncovered day are not samples.
    """
    longest: dict[tuple[date, int], float] = {}
    for (ts, _), (nxt, _) in itertools.pairwise(events):
        day, last = local_date(ts, zone), local_date(nxt, zone)
        spanned = {day + timedelta(days=k) for k in range((last - day).days + 1)}
        if spanned <= good:  # a gap over an away day or a data gap is not a usual quiet
            key = (day, hour_of_week(ts, zone))
            longest[key] = max(longest.get(key, 0.0), (nxt - ts) / 3600)
    by_how: dict[int, list[float]] = defaultdict(list)
    for (_day, h), gap in longest.items():
        by_how[h].append(gap)
    by_hod: dict[int, list[float]] = defaultdict(list)
    for h, values in by_how.items():
        by_hod[h % 24].extend(values)
    everything = [v for values in by_how.values() for v in values]
    overall = _quantile(everything, p.gap_quantile) if everything else 12.0
    # The hour of day's pooled quantile is the same for all seven days: 24 of them, not 168.
    per_hod: list[float | None] = []
    for h in range(24):
        hod = [v for k in (-1, 0, 1) for v in by_hod.get((h + k) % 24, [])]
        per_hod.append(_quantile(hod, p.gap_quantile) if len(hod) >= p.min_gap_samples else None)
    out: list[float] = []
    for h in range(HOURS_PER_WEEK):
        # The larger of this hour-of-week's and this hour-of-day's quantile: a Saturday
        # lie-in and a weekday shift both count as usual, whichever the data shows.
        week = [v for k in (-1, 0, 1) for v in by_how.get((h + k) % HOURS_PER_WEEK, [])]
        of_week = _quantile(week, p.gap_quantile) if len(week) >= p.min_gap_samples else None
        candidates = [q for q in (of_week, per_hod[h % 24]) if q is not None]
        out.append(max(candidates) if candidates else overall)
    return out


def _quantile(values: Sequence[float], q: float) -> float:
    """``np.quantile(values, q)`` as a float. The default ``q`` of 1 is the largest value, exactly
    (numpy's linear interpolation lands on the last sorted value with weight 0), without numpy's
    ~50 µs a call: 190 calls a fit (issue 15.3)."""
    if q == 1.0:
        return float(max(values))
    return float(np.quantile(values, q))


def _first_activity(
    events: Sequence[tuple[int, str]], good: set[date], zone: ZoneInfo
) -> tuple[int | None, int | None, str | None]:
    """Usual local time (a late-ish day's, the 75th percentile) of the first activity after
    04:00, the latest such time of any usual day, and the appliance most often used first
    (a named plug rather than the whole-house meter)."""
    firsts: dict[date, int] = {}
    first_appliance: dict[date, str] = {}
    for ts, channel in events:
        local = datetime.fromtimestamp(ts, UTC).astimezone(zone)
        day = local.date()
        if local.hour < DAY_START_HOUR or day not in good:
            continue
        firsts.setdefault(day, local.hour * 60 + local.minute)
        if channel != "aggregate":
            first_appliance.setdefault(day, channel)
    if not firsts:
        return None, None, None
    minutes = sorted(firsts.values())
    usual = minutes[min(len(minutes) - 1, int(0.75 * len(minutes)))]
    named = Counter(first_appliance.values()).most_common(1)
    channel = named[0][0] if named else "aggregate"
    return usual, minutes[-1], channel
