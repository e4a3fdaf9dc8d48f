"""Unusual-pattern findings and "looks away" on the real-household traces (issue #4, staff-only).

For each household of ``--data`` (the real-household set's schema): switch-ons are taken from the
live detector's own code (``HouseholdDetector``: step detection, aggregate residual, automatic
loads learned causally at each local midnight), then every covered local day is judged as
``anomaly.patterns.tick`` would judge it the morning after (its night, the day, the fading trend;
each with only the days before it). Days in the README's apparent away periods are left out, as
a live deployment would be in away mode then. "Looks away" is checked for every day against the
aggregate meter: how often it is suggested on the known away days and on the other days.

    .venv/bin/python benchmarks/patterns_real.py --data ../shared/data/real-households

Prints a Markdown table; nothing from the traces is written anywhere.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from anomaly.activity import PowerEvent, is_human
from anomaly.detector import HouseholdDetector
from anomaly.evaluation import away_dates, load_minutes, timezones
from anomaly.patterns import DayFeatures, day_features, detect, explanation, looks_away
from anomaly.routine import add_coverage
from core.enums import Language


class Recorder(HouseholdDetector):
    """The live detector, also keeping every human switch-on and the whole coverage."""

    def __init__(self, household_id: str, timezone: str) -> None:
        super().__init__(household_id, timezone)
        self.human: list[int] = []
        self.all_coverage: dict[int, int] = {}
        self._prev: int | None = None

    def feed(self, ts: int, readings: dict[str, float]) -> None:
        if self._prev is None or ts > self._prev:
            add_coverage(self.all_coverage, self._prev, ts, self.params.coverage_gap_s)
            self._prev = ts
        super().feed(ts, readings)

    def _on_event(self, event: PowerEvent) -> None:
        if not self.params.filter_automatic or is_human(event, self.automatic):
            self.human.append(event.ts)
        super()._on_event(event)


def judge(days: list[DayFeatures]) -> tuple[list[tuple[date, str, str]], list[float]]:
    """Cases that would be opened: a finding on a day whose previous judged day had no finding
    of that kind (live, the open case is re-detected instead, one per kind and household)."""
    opened: list[tuple[date, str, str]] = []
    timings: list[float] = []
    before: set[str] = set()
    for d in days:
        if not d.day_covered:
            continue
        started = time.perf_counter()
        findings = detect(days, d.day, night=d.day)
        timings.append(time.perf_counter() - started)
        kinds = {f.kind.value for f in findings}
        opened += [
            (d.day, f.kind.value, explanation(f, Language.EN)) for f in findings if f.kind.value not in before
        ]
        before = kinds
    return opened, timings


def away_suggestions(
    minutes: list[tuple[int, dict[str, float]]], human: list[int], zone: ZoneInfo, away: set[date]
) -> tuple[int, int, int, int]:
    """(suggested on away days, away days judged, suggested on other days, other days judged)."""
    agg = [(ts, r["aggregate"]) for ts, r in minutes if "aggregate" in r]
    if not agg:
        return 0, 0, 0, 0
    first, last = agg[0][0], agg[-1][0]
    day = datetime.fromtimestamp(first, UTC).astimezone(zone).date() + timedelta(days=8)
    counts = [0, 0, 0, 0]
    human_sorted = sorted(human)
    while True:
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
        if end.timestamp() > last:
            break
        since = end - timedelta(days=1)
        s, e, b = int(since.timestamp()), int(end.timestamp()), int(since.timestamp()) - 7 * 86400
        recent = [(datetime.fromtimestamp(ts, UTC), w) for ts, w in agg if s <= ts < e]
        before = [w for ts, w in agg if b <= ts < s]
        events = sum(1 for t in human_sorted if s <= t < e)
        if len(recent) < 0.8 * 1440:  # not enough data that day to judge (gap between segments)
            day += timedelta(days=1)
            continue
        hit = looks_away(recent, before, since=since, human_events=events) is not None
        slot = 0 if day in away else 2
        counts[slot] += int(hit)
        counts[slot + 1] += 1
        day += timedelta(days=1)
    return counts[0], counts[1], counts[2], counts[3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--show", type=int, default=20, help="list at most this many findings")
    args = parser.parse_args()
    zones = timezones(args.data)
    rows, listed, all_timings = [], [], []
    for path in sorted(args.data.glob("*.csv.gz")):
        household_id, minutes = load_minutes(path)
        tz = zones.get(household_id, "UTC")
        recorder = Recorder(household_id, tz)
        for ts, readings in minutes:
            recorder.feed(ts, readings)
        away = away_dates(household_id)
        days = [
            d for d in day_features(recorder.human, recorder.all_coverage, timezone=tz) if d.day not in away
        ]
        found, timings = judge(days)
        all_timings += timings
        kinds = Counter(kind for _, kind, _ in found)
        judged = sum(1 for d in days if d.day_covered)
        a_hit, a_n, o_hit, o_n = away_suggestions(minutes, recorder.human, ZoneInfo(tz), away)
        rows.append(
            f"| {household_id} | {judged} | {kinds['unusual_night_activity']} | {kinds['unusual_daily_use']} "
            f"| {kinds['fading_routine']} | {len(found) / max(judged, 1):.3f} | {a_hit}/{a_n} | {o_hit}/{o_n} |"
        )
        listed += [f"- {household_id} {d.isoformat()} {kind}: {text}" for d, kind, text in found]
    print(
        "| household | days judged | night | daily use | fading | cases/day | looks away: away days | other days |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print("\n".join(listed[: args.show]))
    if all_timings:
        print()
        print(
            f"judging one day (pure part, 3 detectors): median {statistics.median(all_timings) * 1000:.2f} ms, "
            f"max {max(all_timings) * 1000:.1f} ms over {len(all_timings)} days"
        )


if __name__ == "__main__":
    main()
