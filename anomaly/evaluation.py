"""``anbu eval``: inject incapacitation into real traces and score the detector against fixed rules.

For each household the detector runs causally over the whole recording (learning as it
goes). False alarms are inactivity cases that start on *normal days*: days with at least
half a day of data that are not in a known away period. At regular injection points the
run is forked twice, once per injection model (:mod:`anomaly.injection`): *all-off* (only
automatic loads continue: the house falls to its base load) and *frozen* (what was on stays
on, sub-metered appliances finish their programmes, automatic loads continue), and we measure
how long the detector takes to open an inactivity case in each (missed = none within 48 h).
Fixed 12/24/36 h rules run on the same traces with the raw switch-on
events of every channel (whole-house meter included, no subtraction of the sub-meters), no
routine and no automatic-load learning, as deployed programmes do. The routine's staff-only
warning stage is timed too (how early, how often wrongly), but never counts as an alert.

Longer than most modules (about 700 lines): it is the evaluation's whole protocol — splits,
injections, baselines, floors and the report — which must stay one reviewable piece, since every
detection figure in docs/detection.md comes from it; none of it runs in production.
"""

from __future__ import annotations

import bisect
import copy
import csv
import itertools
import math
import random
import statistics
import sys
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from anomaly.activity import AGGREGATE, residual_w
from anomaly.detector import DetectorParams, HouseholdDetector
from anomaly.injection import ALL_OFF, AUTOMATIC_CHANNELS, INJECTIONS, Injection, all_off, frozen
from anomaly.ladder import HOUSE_ON, LadderParams
from anomaly.replay import ReplayStats, read_minutes
from core.enums import CaseKind

HORIZON_S = 48 * 3600
# Apparent away periods (UTC dates, inclusive) listed in the data set's README. They are
# not normal days: a real deployment would be in away mode, so alerts there are not counted.
KNOWN_AWAY: dict[str, list[tuple[str, str]]] = {
    "refit_h02": [("2014-07-26", "2014-08-01"), ("2014-08-22", "2014-08-31")],
    "refit_h20": [("2014-05-03", "2014-05-07"), ("2014-05-13", "2014-05-15")],
    "uci_sceaux": [("2008-08-06", "2008-08-30")],
}
TRAIN = ("refit_h02", "ukdale_h02", "ideal_h065")  # parameters were chosen on these ...
TEST = ("refit_h20", "ideal_h175", "uci_sceaux")  # ... and are reported on these

Minutes = list[tuple[int, dict[str, float]]]


@dataclass(frozen=True)
class Method:
    name: str
    params: DetectorParams


def fixed_rule(hours: float) -> Method:
    return Method(
        f"fixed {hours:g} h",
        DetectorParams(
            fallback_hours=hours, use_routine=False, filter_automatic=False, aggregate_residual=False
        ),
    )


# Chosen on TRAIN (see docs/detection.md); the defaults of LadderParams are the same values,
# so the live system runs what was evaluated. New households start on a 20 h fixed window
# (24 h was no safer on TRAIN and left ~20 % of the events, those of the first ten days, at
# ~23 h).
CHOSEN_LADDER = LadderParams()
ROUTINE_FALLBACK_HOURS = 20.0


def routine_method(ladder: LadderParams | None = None, name: str = "routine") -> Method:
    params = DetectorParams(ladder=ladder or CHOSEN_LADDER, fallback_hours=ROUTINE_FALLBACK_HOURS)
    return Method(name, params)


def house_on_method(ladder: LadderParams | None = None) -> Method:
    """The routine with the quiet-with-the-house-on rule (issue 18; off by default, so reported apart)."""
    base = ladder or CHOSEN_LADDER
    return routine_method(replace(base, on_margin=HOUSE_ON.on_margin), "routine + house on")


@dataclass
class Detected:
    """How one injection model's events were detected (the same events for every model)."""

    delays_h: list[float] = field(default_factory=list)
    missed: int = 0
    # The staff-only warning stage (routine method only; never a call): how early.
    warning_delays_h: list[float] = field(default_factory=list)

    @property
    def events(self) -> int:
        return len(self.delays_h) + self.missed


@dataclass
class HouseholdResult:
    household_id: str
    method: str
    normal_days: int = 0
    false_alarms: int = 0
    offline_cases: int = 0
    # Per injection model (``anomaly.injection.INJECTIONS``): delays, misses, warnings.
    injected: dict[str, Detected] = field(default_factory=lambda: {name: Detected() for name in INJECTIONS})
    alert_times: list[int] = field(default_factory=list)
    # The staff-only warning stage: how often wrongly (on the real trace, no injection).
    false_warnings: int = 0
    # Per injected event, how long until the resident was really next active in the recording
    # (the same method's human events, no injection): no detector that stays silent on the real
    # trace can alert sooner, so this is the floor of the delay on these traces.
    floor_h: list[float] = field(default_factory=list)
    # ... and what a threshold per start hour-of-day knowing every real gap of the recording in
    # advance (0 false alarms by construction) would need: the floor of quiet-time-only rules.
    hindsight_h: list[float] = field(default_factory=list)

    # The all-off model's figures (the evaluation's figures before the frozen model existed).
    @property
    def delays_h(self) -> list[float]:
        return self.injected[ALL_OFF].delays_h

    @property
    def missed(self) -> int:
        return self.injected[ALL_OFF].missed

    @property
    def warning_delays_h(self) -> list[float]:
        return self.injected[ALL_OFF].warning_delays_h

    @property
    def events(self) -> int:
        return self.injected[ALL_OFF].events


@dataclass
class Summary:
    method: str
    households: int
    normal_days: int
    false_alarms: int
    events: int
    missed: int
    median_delay_h: float
    p90_delay_h: float

    @property
    def fa_per_day(self) -> float:
        return self.false_alarms / self.normal_days if self.normal_days else math.nan

    @property
    def missed_share(self) -> float:
        return self.missed / self.events if self.events else math.nan


def summarise(method: str, results: Sequence[HouseholdResult], injection: str = ALL_OFF) -> Summary:
    delays = sorted(d for r in results for d in r.injected[injection].delays_h)
    return Summary(
        method=method,
        households=len(results),
        normal_days=sum(r.normal_days for r in results),
        false_alarms=sum(r.false_alarms for r in results),
        events=sum(r.injected[injection].events for r in results),
        missed=sum(r.injected[injection].missed for r in results),
        median_delay_h=statistics.median(delays) if delays else math.nan,
        p90_delay_h=float(np.quantile(delays, 0.9)) if delays else math.nan,
    )


# ------------------------------------------------------------------ data


def load_minutes(path: Path) -> tuple[str, Minutes]:
    stats = ReplayStats()
    minutes: Minutes = []
    household_id = path.name.removesuffix(".gz").removesuffix(".csv")
    for household_id, ts, readings in read_minutes(path, stats):  # noqa: B007 - the file's id wins
        minutes.append((ts, readings))
    return household_id, minutes


def timezones(data_dir: Path) -> dict[str, str]:
    """Household time zones from the set's households.csv (country → zone)."""
    zones: dict[str, str] = {}
    index = data_dir / "households.csv"
    if not index.exists():
        return zones
    with index.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            country = row.get("country", "")
            zones[row["household_id"]] = (
                "Europe/London"
                if country.startswith("UK")
                else "Europe/Paris"
                if "France" in country
                else "UTC"
            )
    return zones


def away_dates(household_id: str) -> set[date]:
    out: set[date] = set()
    for start, end in KNOWN_AWAY.get(household_id, []):
        d, last = date.fromisoformat(start), date.fromisoformat(end)
        while d <= last:
            out.add(d)
            d += timedelta(days=1)
    return out


def normal_days(household_id: str, minutes: Minutes) -> set[date]:
    per_day: dict[date, int] = {}
    for ts, _ in minutes:
        d = _utc_date(ts)
        per_day[d] = per_day.get(d, 0) + 1
    away = away_dates(household_id)
    return {d for d, n in per_day.items() if n >= 720 and d not in away}


def injection_times(
    household_id: str, minutes: Minutes, normal: set[date], every_h: float = 37.0
) -> list[int]:
    """Regular event times (every ~37 h, so the hour of day rotates), jittered, seeded by household.

    Kept only when the 48 h that follow are normal days, so a miss is the detector's fault
    and not a data gap or a holiday.
    """
    rng = random.Random(zlib.crc32(household_id.encode()))
    if not minutes:
        return []
    start, end = minutes[0][0] + 86400, minutes[-1][0] - HORIZON_S
    times: list[int] = []
    t = start
    while t < end:
        candidate = t + rng.randint(-3 * 3600, 3 * 3600)
        days = {_utc_date(candidate + k * 3600) for k in range(0, 49)}
        if days <= normal:
            times.append(candidate)
        t += int(every_h * 3600)
    return times


def _utc_date(ts: int) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


# ------------------------------------------------------------------ scoring


def evaluate_household(household_id: str, minutes: Minutes, timezone: str, method: Method) -> HouseholdResult:
    normal = normal_days(household_id, minutes)
    result = HouseholdResult(household_id, method.name, normal_days=len(normal))
    injections = injection_times(household_id, minutes, normal)
    detector = HouseholdDetector(household_id, timezone, method.params)
    # The last 24 h of minutes with a whole-house reading: the injections' base loads.
    aggregate_window: deque[float] = deque(maxlen=1440)
    residual_window: deque[float] = deque(maxlen=1440)
    humans: list[int] = []
    k = 0
    for i, (ts, readings) in enumerate(minutes):
        while k < len(injections) and ts >= injections[k]:
            base_w = _quantile(aggregate_window)
            models = (
                all_off(base_w),
                frozen(minutes, i, injections[k], base_w, _quantile(residual_window)),
            )
            for model in models:
                _score_injection(detector, minutes, i, injections[k], model, result.injected[model.name])
            k += 1
        detector.feed(ts, readings)
        if detector.last_human is not None and (not humans or detector.last_human > humans[-1]):
            humans.append(detector.last_human)
        if AGGREGATE in readings:
            aggregate_window.append(readings[AGGREGATE])
            residual_window.append(residual_w(readings[AGGREGATE], _sub_meters(readings)))
    for alert in detector.alerts:
        if alert.kind == CaseKind.INACTIVITY.value:
            result.alert_times.append(alert.at)
            if _utc_date(alert.at) in normal:
                result.false_alarms += 1
        else:
            result.offline_cases += 1
    result.false_warnings = sum(1 for at in detector.warnings if _utc_date(at) in normal)
    result.floor_h = next_activity_h(injections, humans)
    result.hindsight_h = hindsight_floor_h(
        injections, humans, _data_gaps(minutes, method.params.offline_after_s), normal, ZoneInfo(timezone)
    )
    return result


def _data_gaps(minutes: Minutes, longer_than_s: int) -> list[tuple[int, int]]:
    return [(a, b) for (a, _), (b, _) in itertools.pairwise(minutes) if b - a > longer_than_s]


def hindsight_floor_h(
    injections: Sequence[int],
    humans: Sequence[int],
    data_gaps: Sequence[tuple[int, int]],
    normal: set[date],
    zone: ZoneInfo,
) -> list[float]:
    """Per injected event: the delay of an oracle alerting at the longest real quiet gap of the whole
    recording that started in the same local hour-of-day as the event's last sign of life.

    Gaps over a data gap or a day that is not normal are not quiet gaps (as the routine fit's).
    No false alarm by construction; no causal rule knows these gaps in advance
    (``benchmarks/detection_frontier.py`` has the same floor and its variants).
    """
    longest: dict[int, int] = {}
    for a, b in itertools.pairwise(humans):
        first, last = _utc_date(a), _utc_date(b)
        span = {first + timedelta(days=k) for k in range((last - first).days + 1)}
        if span <= normal and not any(s < b and e > a for s, e in data_gaps):
            hour = datetime.fromtimestamp(a, UTC).astimezone(zone).hour
            longest[hour] = max(longest.get(hour, 0), b - a)
    out: list[float] = []
    for event in injections:
        j = bisect.bisect_left(humans, event)
        if j == 0:
            out.append(HORIZON_S / 3600)
            continue
        anchor = humans[j - 1]
        threshold = longest.get(datetime.fromtimestamp(anchor, UTC).astimezone(zone).hour, 0)
        out.append(min(HORIZON_S, max(0, anchor + threshold - event)) / 3600)
    return out


def _quantile(window: deque[float], q: float = 0.1) -> float:
    """The base load of a window of whole-house readings (its 10th percentile; 0 W if empty)."""
    return float(np.quantile(window, q)) if window else 0.0


def _sub_meters(readings: dict[str, float]) -> list[float]:
    return [w for channel, w in readings.items() if channel != AGGREGATE]


def next_activity_h(injections: Sequence[int], humans: Sequence[int]) -> list[float]:
    """Hours from each injection to the next real human event (48 h when none followed)."""
    out: list[float] = []
    for event in injections:
        j = bisect.bisect_left(humans, event)
        out.append(min(HORIZON_S, humans[j] - event) / 3600 if j < len(humans) else HORIZON_S / 3600)
    return out


def _score_injection(
    detector: HouseholdDetector,
    minutes: Minutes,
    i: int,
    event_ts: int,
    injection: Injection,
    result: Detected,
) -> None:
    if detector.alerted:  # a case is already open for this quiet spell: detected at once
        result.delays_h.append(0.0)
        result.warning_delays_h.append(0.0)
        return
    fork = copy.deepcopy(detector)
    seen, seen_warnings = len(fork.alerts), len(fork.warnings)
    for ts, readings in minutes[i:]:
        if ts >= event_ts + HORIZON_S:
            break
        fork.feed(ts, injection.apply(ts, readings))
    fork.finish(event_ts + HORIZON_S)
    hits = [a.at for a in fork.alerts[seen:] if a.kind == CaseKind.INACTIVITY.value and a.at >= event_ts]
    if hits and hits[0] - event_ts <= HORIZON_S:
        result.delays_h.append((hits[0] - event_ts) / 3600)
    else:
        result.missed += 1
    if detector.warned:  # staff were already warned about this quiet spell
        result.warning_delays_h.append(0.0)
        return
    warned = [at for at in fork.warnings[seen_warnings:] if at >= event_ts]
    if warned and warned[0] - event_ts <= HORIZON_S:
        result.warning_delays_h.append((warned[0] - event_ts) / 3600)


# ------------------------------------------------------------------ running and reporting


def progress(done: int, total: int, label: str) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label:<40}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def run(
    data_dir: Path,
    methods: Sequence[Method],
    households: Sequence[str] | None = None,
    on_progress: Callable[[int, int, str], None] = progress,
) -> list[HouseholdResult]:
    zones = timezones(data_dir)
    paths = sorted(data_dir.glob("*.csv.gz"))
    if households is not None:
        paths = [p for p in paths if p.name.removesuffix(".csv.gz") in households]
    total = len(paths) * len(methods)
    results: list[HouseholdResult] = []
    done = 0
    for path in paths:
        household_id, minutes = load_minutes(path)
        for method in methods:
            on_progress(done, total, f"{household_id} ({method.name})")
            results.append(evaluate_household(household_id, minutes, zones.get(household_id, "UTC"), method))
            done += 1
    on_progress(done, total, "done")
    return results


def tune(
    data_dir: Path, grid: Sequence[LadderParams]
) -> tuple[LadderParams, list[tuple[LadderParams, Summary]]]:
    """Pick ladder parameters on the TRAIN households: meet the false-alarm target, then fastest."""
    scored: list[tuple[LadderParams, Summary]] = []
    cache = {p.name.removesuffix(".csv.gz"): load_minutes(p)[1] for p in sorted(data_dir.glob("*.csv.gz"))}
    zones = timezones(data_dir)
    for n, params in enumerate(grid):
        progress(n, len(grid), f"tuning {n + 1}")
        method = routine_method(params)
        results = [evaluate_household(h, cache[h], zones.get(h, "UTC"), method) for h in TRAIN if h in cache]
        scored.append((params, summarise("routine", results)))
    progress(len(grid), len(grid), "tuned")

    def key(item: tuple[LadderParams, Summary]) -> tuple[float, ...]:
        s = item[1]
        return (s.fa_per_day > 0.02, s.missed_share > 0.05, s.median_delay_h, s.fa_per_day)

    return min(scored, key=key)[0], scored


def default_methods(ladder: LadderParams | None = None) -> list[Method]:
    return [routine_method(ladder), house_on_method(ladder), fixed_rule(12), fixed_rule(24), fixed_rule(36)]


def markdown_report(results: Sequence[HouseholdResult], ladder: LadderParams, command: str) -> str:
    methods = list(dict.fromkeys(r.method for r in results))
    lines = [
        "# Anbu detection evaluation",
        "",
        f"Command: `{command}`",
        "",
        f"Routine ladder parameters (chosen on {', '.join(TRAIN)}): `{replace(ladder)}`",
        "",
        f"Routine fit parameters: `{routine_method(ladder).params.fit}`",
        "",
    ]
    for split, members in (("Held-out households", TEST), ("Tuning households", TRAIN), ("All", None)):
        lines += [f"## {split}", "", _table(methods, results, members), ""]
    lines += [
        "## Staff-only warning stage (routine; never a call)",
        "",
        "| split | injection | household-days | false warnings | per household-day | events | "
        "median delay h | p90 delay h | not warned ≤48 h |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for split, members in (("held-out", TEST), ("tuning", TRAIN), ("all", None)):
        chosen = [
            r for r in results if r.method == "routine" and (members is None or r.household_id in members)
        ]
        for name in INJECTIONS:
            lines.append(_warning_row(split, chosen, name))
    lines.append("")
    lines += [
        "## Floor: when the resident was really next active (routine's human events, no injection)",
        "",
        "No rule that stays silent on the real recording can alert before this.",
        "",
        "| split | events | median h | p90 h | share ≤ 4 h |",
        "|---|---|---|---|---|",
    ]
    for split, members in (("held-out", TEST), ("tuning", TRAIN), ("all", None)):
        floors = [
            f
            for r in results
            if r.method == "routine" and (members is None or r.household_id in members)
            for f in r.floor_h
        ]
        lines.append(_floor_row(split, floors))
    lines.append("")
    lines += [
        "## Per household",
        "",
        "| household | method | normal days | false alarms | FA/day | events | "
        + " | ".join(f"{name}: median delay h | missed" for name in INJECTIONS)
        + " | offline cases |",
        "|---|---|---|---|---|---|" + "---|---|" * len(INJECTIONS) + "---|",
    ]
    for r in results:
        s = summarise(r.method, [r])
        cells = " | ".join(
            f"{summarise(r.method, [r], name).median_delay_h:.1f} | {r.injected[name].missed}"
            for name in INJECTIONS
        )
        lines.append(
            f"| {r.household_id} | {r.method} | {r.normal_days} | {r.false_alarms} | {s.fa_per_day:.3f} | "
            f"{r.events} | {cells} | {r.offline_cases} |"
        )
    return "\n".join(lines) + "\n"


def _floor_row(split: str, floors: Sequence[float]) -> str:
    if not floors:
        return f"| {split} | 0 | – | – | – |"
    share = sum(1 for f in floors if f <= 4.0) / len(floors)
    return (
        f"| {split} | {len(floors)} | {statistics.median(floors):.1f} | "
        f"{float(np.quantile(floors, 0.9)):.1f} | {100 * share:.0f} % |"
    )


def _warning_row(split: str, results: Sequence[HouseholdResult], injection: str = ALL_OFF) -> str:
    days = sum(r.normal_days for r in results)
    false = sum(r.false_warnings for r in results)
    events = sum(r.injected[injection].events for r in results)
    delays = sorted(d for r in results for d in r.injected[injection].warning_delays_h)
    median = statistics.median(delays) if delays else math.nan
    p90 = float(np.quantile(delays, 0.9)) if delays else math.nan
    missed = events - len(delays)
    share = 100 * missed / events if events else math.nan
    return (
        f"| {split} | {injection} | {days} | {false} | {false / days if days else math.nan:.3f} | {events} | "
        f"{median:.1f} | {p90:.1f} | {missed} ({share:.0f} %) |"
    )


def _table(methods: Sequence[str], results: Sequence[HouseholdResult], members: Sequence[str] | None) -> str:
    """One row per method with both injection models side by side, then the delay floors."""
    delay_heads = " | ".join(f"{name}: median h | p90 h | missed ≤48 h" for name in INJECTIONS)
    rows = [
        f"| method | households | household-days | false alarms | FA / household-day | events | {delay_heads} |",
        "|---|---|---|---|---|---|" + "---|---|---|" * len(INJECTIONS),
    ]
    for method in methods:
        chosen = [r for r in results if r.method == method and (members is None or r.household_id in members)]
        s = summarise(method, chosen)
        cells = []
        for name in INJECTIONS:
            d = summarise(method, chosen, name)
            cells.append(
                f"{d.median_delay_h:.1f} | {d.p90_delay_h:.1f} | {d.missed} ({100 * d.missed_share:.0f} %)"
            )
        rows.append(
            f"| {method} | {s.households} | {s.normal_days} | {s.false_alarms} | {s.fa_per_day:.3f} | "
            f"{s.events} | {' | '.join(cells)} |"
        )
    routine = [r for r in results if r.method == "routine" and (members is None or r.household_id in members)]
    for label, values in (
        ("floor: resident's real next activity", [f for r in routine for f in r.floor_h]),
        ("floor: hindsight longest gap per start hour-of-day", [f for r in routine for f in r.hindsight_h]),
    ):
        if not values:
            continue
        median, p90 = statistics.median(values), float(np.quantile(values, 0.9))
        cell = f"{median:.1f} | {p90:.1f} | –"
        rows.append(f"| {label} | – | – | – | – | {len(values)} | {' | '.join([cell] * len(INJECTIONS))} |")
    return "\n".join(rows)


def write_plots(results: Sequence[HouseholdResult], data_dir: Path, out: Path) -> list[str]:
    """Delay distribution per method, and one household's week: activity vs routine vs alerts."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plots are optional; the report says so
        return []
    names: list[str] = []
    fig, ax = plt.subplots(figsize=(7, 4))
    methods = list(dict.fromkeys(r.method for r in results))
    ax.boxplot(
        [[d for r in results if r.method == m for d in r.delays_h] or [math.nan] for m in methods],
        tick_labels=methods,
    )
    ax.set_ylabel("detection delay (h)")
    ax.set_title("Delay after an injected incapacitation (all households)")
    fig.tight_layout()
    fig.savefig(out / "delays.png", dpi=100)
    plt.close(fig)
    names.append("delays.png")

    household = TEST[0]
    path = data_dir / f"{household}.csv.gz"
    if path.exists():
        _week_plot(household, path, timezones(data_dir).get(household, "UTC"), out / "week.png", plt)
        names.append("week.png")
    path = data_dir / f"{INJECTION_PLOT_HOUSEHOLD}.csv.gz"
    if path.exists():
        _injection_plot(path, out / "injection.png", plt)
        names.append("injection.png")
    return names


# The household whose misses led to the aggregate-minus-sub-meters step detection.
INJECTION_PLOT_HOUSEHOLD = "uci_sceaux"


def _injection_plot(path: Path, target: Path, plt: Any) -> None:
    """The first injected event of a household, 24 h before and 48 h after: what the whole-house
    meter shows, what is left after the sub-meters, and the steps each would count as a person."""
    from anomaly.activity import StepDetector
    from anomaly.detector import minute_residual

    household_id, minutes = load_minutes(path)
    normal = normal_days(household_id, minutes)
    injections = injection_times(household_id, minutes, normal)
    if not injections:
        return
    event = injections[0]
    window: deque[float] = deque(maxlen=1440)  # the same 24 h base as _score_injection's
    rows: list[tuple[int, dict[str, float]]] = []
    for ts, readings in minutes:
        if ts >= event + HORIZON_S:
            break
        if ts >= event:
            readings = all_off(_quantile(window)).apply(ts, readings)
        else:
            window.append(readings.get(AGGREGATE, 0.0))
        if ts >= event - 86400:
            rows.append((ts, readings))
    raw, residual = StepDetector(AGGREGATE), StepDetector(AGGREGATE)
    sub_meters: dict[str, StepDetector] = {}  # only for their latest readings
    raw_steps: list[int] = []
    residual_steps: list[int] = []
    residuals: list[float] = []
    for ts, readings in rows:
        if AGGREGATE in readings:
            left = minute_residual(ts, readings, sub_meters)
            if raw.feed(ts, readings[AGGREGATE]) is not None:
                raw_steps.append(ts)
            if residual.feed(ts, left) is not None:
                residual_steps.append(ts)
        residuals.append(left if AGGREGATE in readings else math.nan)
        for channel, power in readings.items():
            if channel != AGGREGATE:
                sub_meters.setdefault(channel, StepDetector(channel)).feed(ts, power)
    times = [datetime.fromtimestamp(ts, UTC) for ts, _ in rows]
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(times, [r.get(AGGREGATE, math.nan) for _, r in rows], lw=0.6, label="whole house (aggregate)")
    ax.plot(
        times,
        residuals,
        lw=0.6,
        label="aggregate − sub-meters",
    )
    for channel in sorted(AUTOMATIC_CHANNELS & set(rows[0][1])):
        ax.plot(times, [r.get(channel, math.nan) for _, r in rows], lw=0.6, label=channel)
    top = max((r.get(AGGREGATE, 0.0) for _, r in rows), default=1.0)
    for steps, y, style, label in (
        (raw_steps, 1.08 * top, "k|", "step on aggregate"),
        (residual_steps, 1.16 * top, "g|", "step on aggregate − sub-meters"),
    ):
        ax.plot(
            [datetime.fromtimestamp(t, UTC) for t in steps],
            [y] * len(steps),
            style,
            markersize=10,
            label=label,
        )
    ax.axvline(datetime.fromtimestamp(event, UTC), color="r", ls="--", label="injected incapacitation")
    ax.set_ylabel("W")
    ax.set_title(f"{household_id}: an injected event; only automatic loads continue after the red line")
    ax.legend(loc="upper right", fontsize=7)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)


def _week_plot(household_id: str, path: Path, timezone: str, target: Path, plt: Any) -> None:
    _, minutes = load_minutes(path)
    detector = HouseholdDetector(household_id, timezone, routine_method().params)
    humans: list[int] = []
    seen = 0
    for ts, readings in minutes:
        detector.feed(ts, readings)
        if detector.last_human is not None and detector.last_human != seen:
            seen = detector.last_human
            humans.append(seen)
    routine = detector.routine
    end = minutes[-1][0]
    start = end - 7 * 86400
    fig, ax = plt.subplots(figsize=(10, 4))
    if routine is not None:
        from anomaly.routine import hour_of_week

        zone = ZoneInfo(timezone)
        hours = list(range(start - start % 3600, end, 3600))
        ax.step(
            [datetime.fromtimestamp(h, UTC) for h in hours],
            [routine.p_active[hour_of_week(h, zone)] for h in hours],
            where="post",
            label="learned P(activity in hour)",
        )
    acts = [datetime.fromtimestamp(t, UTC) for t in humans if t >= start]
    ax.plot(acts, [1.05] * len(acts), "|", markersize=12, label="human activity")
    alerts = [datetime.fromtimestamp(a.at, UTC) for a in detector.alerts if a.at >= start]
    ax.plot(alerts, [1.15] * len(alerts), "rv", label="case opened")
    ax.set_ylim(0, 1.25)
    ax.set_title(f"{household_id}: last week, activity vs learned routine vs alerts")
    ax.legend(loc="lower left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)
