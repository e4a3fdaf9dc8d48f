"""Unusual-pattern detectors on simulated households: they find what was injected, and stay
silent on ordinary households (many seeds, every day of the evaluation period)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from anomaly.patterns import (
    DayFeatures,
    PatternParams,
    daily_use,
    day_features,
    explanation,
    fading_routine,
    looks_away,
    night_activity,
)
from core.enums import CaseKind, Language

TZ = "Asia/Seoul"
START = date(2026, 1, 5)

# (earliest hour, latest hour, probability, how many switch-ons) of an ordinary day
SLOTS = [
    (6.5, 8.0, 0.95, (1, 3)),  # kettle, rice cooker
    (11.5, 13.0, 0.8, (1, 2)),
    (14.0, 17.0, 0.7, (1, 3)),  # TV
    (18.0, 21.0, 0.95, (2, 4)),
    (21.0, 23.5, 0.6, (1, 2)),
]


def simulate(
    days: int,
    seed: int,
    *,
    tz: str = TZ,
    start: date = START,
    extra: Callable[[int, random.Random], list[float]] | None = None,
    keep: Callable[[int, float], bool] | None = None,
) -> tuple[list[int], dict[int, int]]:
    """Human switch-on times (unix s) and full data coverage of ``days`` local days.

    ``extra(day_index, rng)`` adds local hours of extra switch-ons; ``keep(day_index, hour)``
    drops ordinary ones (a fading routine)."""
    rng = random.Random(seed)
    zone = ZoneInfo(tz)
    events: list[int] = []
    coverage: dict[int, int] = {}
    for i in range(days):
        day = start + timedelta(days=i)
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
        hours: list[float] = []
        for lo, hi, p, (n_lo, n_hi) in SLOTS:
            if rng.random() < p:
                hours += [rng.uniform(lo, hi) for _ in range(rng.randint(n_lo, n_hi))]
        if rng.random() < 0.25:  # now and then up at night
            hours.append(rng.uniform(0, 6))
        if keep is not None:
            hours = [h for h in hours if keep(i, h)]
        if extra is not None:
            hours += extra(i, rng)
        events += [int((midnight + timedelta(hours=h)).timestamp()) for h in hours]
        first = int(midnight.astimezone(UTC).timestamp())
        end = int((datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(days=1)).timestamp())
        for h in range(first - first % 3600, end, 3600):
            coverage[h] = 3600
    return sorted(events), coverage


def features(events: list[int], coverage: dict[int, int]) -> list[DayFeatures]:
    return day_features(events, coverage, timezone=TZ)


def day(i: int) -> date:
    return START + timedelta(days=i)


# ---------------------------------------------------------------- features


def test_day_features_count_in_local_time_and_skip_days_without_data() -> None:
    zone = ZoneInfo(TZ)
    at = [datetime(2026, 1, 5, h, m, tzinfo=zone) for h, m in [(2, 0), (7, 10), (7, 40), (20, 5)]]
    # 23:30 local on the 5th is 14:30 UTC the same day; 00:30 local on the 6th is still the 5th in UTC.
    at.append(datetime(2026, 1, 6, 0, 30, tzinfo=zone))
    events = [int(t.timestamp()) for t in at]
    start = int(datetime(2026, 1, 5, tzinfo=zone).timestamp())
    coverage = dict.fromkeys(range(start, start + 2 * 86400, 3600), 3600)
    coverage.update(dict.fromkeys(range(start + 86400, start + 2 * 86400, 3600), 600))  # the 6th: thin data
    [row] = day_features(events, coverage, timezone=TZ)
    assert row.day == date(2026, 1, 5)
    assert (row.events, row.night_events, row.active_hours) == (3, 1, 2)
    assert row.first_hour == pytest.approx(7 + 10 / 60)  # the 02:00 switch-on is the night's


def test_day_features_across_a_dst_change() -> None:
    # Europe/London springs forward on 2026-03-29: that day has 23 hours and a 5-hour night.
    events, coverage = simulate(3, 2, tz="Europe/London", start=date(2026, 3, 28))
    rows = day_features(events, coverage, timezone="Europe/London")
    assert [r.day for r in rows] == [date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30)]
    assert all(r.day_covered and r.night_covered for r in rows)
    zone = ZoneInfo("Europe/London")
    per_day = {r.day: r.events + r.night_events for r in rows}
    for d, n in per_day.items():
        assert n == sum(1 for t in events if datetime.fromtimestamp(t, UTC).astimezone(zone).date() == d)


# ---------------------------------------------------------------- normal households stay silent


@pytest.mark.parametrize("seed", range(12))
def test_ordinary_households_raise_no_night_or_fading_finding(seed: int) -> None:
    events, coverage = simulate(100, seed)
    days = features(events, coverage)
    subjects = [day(i) for i in range(40, 100)]
    assert [f for d in subjects for f in (night_activity(days, d), fading_routine(days, d)) if f] == []


def test_ordinary_households_rarely_have_an_unusual_day_and_only_a_real_one() -> None:
    # The simulated household skips its morning now and then (5 % of days) and lunch too
    # (20 %): once in a long while nothing happens until after noon, when every day of the last
    # six weeks started by 08:00. That is the only kind of day the detector may report.
    found = []
    for seed in range(12):
        days = features(*simulate(100, seed))
        found += [f for i in range(40, 100) if (f := daily_use(days, day(i))) is not None]
    assert len(found) <= 12 * 60 // 200  # at most one per 200 ordinary household-days
    for f in found:
        assert f.params["outside"] == "first_hour"
        assert float(f.params["first_hour_value"]) >= float(f.params["first_hour_high"]) + 4


def test_nothing_is_said_before_the_minimum_history() -> None:
    p = PatternParams()
    events, coverage = simulate(p.night_min_history, 1, extra=lambda i, r: [1.0 + k / 10 for k in range(10)])
    days = features(events, coverage)
    subject = day(p.night_min_history - 1)
    assert night_activity(days, subject) is None  # 13 usual nights are not enough
    assert daily_use(days, subject) is None
    assert fading_routine(days, subject) is None


# ---------------------------------------------------------------- night activity


def test_restless_night_is_found_with_its_numbers() -> None:
    subject = 60
    events, coverage = simulate(
        61, 3, extra=lambda i, r: [r.uniform(0.5, 5.5) for _ in range(9)] if i == subject else []
    )
    finding = night_activity(features(events, coverage), day(subject))
    assert finding is not None and finding.kind == CaseKind.UNUSUAL_NIGHT_ACTIVITY
    assert int(finding.params["count"]) >= 9 and int(finding.params["usual"]) <= 1
    en = explanation(finding, Language.EN)
    assert f"{finding.params['count']} switch-ons between 00:00 and 06:00" in en
    assert "00:00–06:00" in explanation(finding, Language.KO)


def test_last_night_is_judged_before_the_day_is_over() -> None:
    # At 07:00 only the night of today is covered; the restless night is reported now, not tomorrow.
    events, coverage = simulate(
        61, 3, extra=lambda i, r: [r.uniform(0.5, 5.5) for _ in range(9)] if i == 60 else []
    )
    zone = ZoneInfo(TZ)
    seven = int(datetime(2026, 3, 6, 7, tzinfo=zone).timestamp())
    assert day(60) == date(2026, 3, 6)
    morning = {h: s for h, s in coverage.items() if h < seven}
    days = features([t for t in events if t < seven], morning)
    assert not days[-1].day_covered and days[-1].night_covered
    finding = night_activity(days, day(60))
    assert finding is not None and finding.day == day(60)
    assert daily_use(days, day(60)) is None  # the day itself is not judged yet


def test_a_night_owl_is_not_unusual_at_night() -> None:
    # Every night three or four switch-ons: five is within their range, not "far above".
    def owl(i: int, r: random.Random) -> list[float]:
        return [r.uniform(0, 5) for _ in range(5 if i == 60 else r.randint(3, 4))]

    events, coverage = simulate(61, 4, extra=owl)
    assert night_activity(features(events, coverage), day(60)) is None


# ---------------------------------------------------------------- daily use (IsolationForest)


def test_a_day_far_outside_the_households_range_is_found() -> None:
    subject = 60
    # A restless day: switching things on and off all afternoon and evening.
    events, coverage = simulate(
        61, 5, extra=lambda i, r: [r.uniform(9, 23) for _ in range(40)] if i == subject else []
    )
    finding = daily_use(features(events, coverage), day(subject))
    assert finding is not None and finding.kind == CaseKind.UNUSUAL_DAILY_USE
    assert "events" in str(finding.params["outside"]).split(",")
    text = explanation(finding, Language.EN)
    assert "switch-ons (usually" in text and "compared with" in text
    assert "가전 사용" in explanation(finding, Language.KO)


def test_a_late_start_is_found_and_explained_as_a_time() -> None:
    subject = 60
    # Nothing until the afternoon (e.g. unwell in bed all morning), otherwise an ordinary day.
    events, coverage = simulate(61, 6, keep=lambda i, h: i != subject or h >= 15.5)
    days = features(events, coverage)
    finding = daily_use(days, day(subject))
    assert finding is not None
    assert "first_hour" in str(finding.params["outside"]).split(",")
    assert "first use at 1" in explanation(finding, Language.EN)


def test_a_day_without_any_switch_on_is_left_to_the_inactivity_detector() -> None:
    events, coverage = simulate(61, 7, keep=lambda i, h: i != 60)
    assert daily_use(features(events, coverage), day(60)) is None


# ---------------------------------------------------------------- fading routine


def test_a_routine_fading_over_weeks_is_found() -> None:
    # Over the last six weeks, the afternoon and late-evening uses stop a little more each week.
    def keep(i: int, h: float) -> bool:
        weeks_in = max(0, (i - 30) / 7)
        return not (11 <= h < 17 or h >= 21) or random.Random(i * 1000 + int(h * 60)).random() > weeks_in / 5

    events, coverage = simulate(72, 8, keep=keep)
    finding = fading_routine(features(events, coverage), day(71))
    assert finding is not None and finding.kind == CaseKind.FADING_ROUTINE
    assert float(str(finding.params["before"])) - float(str(finding.params["after"])) >= 2
    assert "Daily activity is fading" in explanation(finding, Language.EN)
    assert "생활 리듬" in explanation(finding, Language.KO)


def test_a_routine_that_only_dipped_for_a_week_is_not_fading() -> None:
    events, coverage = simulate(72, 9, keep=lambda i, h: not (50 <= i < 57 and 11 <= h < 17))
    assert fading_routine(features(events, coverage), day(71)) is None


# ---------------------------------------------------------------- "looks away"


def _load(since: datetime, hours: int, watts: Callable[[int], float]) -> list[tuple[datetime, float]]:
    return [(since + timedelta(minutes=m), watts(m)) for m in range(hours * 60)]


def test_whole_house_at_base_load_for_a_day_looks_away() -> None:
    since = datetime(2026, 3, 1, tzinfo=UTC)
    before = [
        w for _, w in _load(since - timedelta(days=7), 24 * 7, lambda m: 90 + (2000 if m % 600 < 20 else 0))
    ]
    recent = _load(since, 24, lambda m: 90 + (110 if m % 45 < 15 else 0))  # fridge cycling only
    suggestion = looks_away(recent, before, since=since, human_events=0)
    assert suggestion is not None and suggestion.base_w == pytest.approx(90)
    assert suggestion.peak_w == pytest.approx(200)


def test_no_suggestion_with_human_activity_use_or_missing_data() -> None:
    since = datetime(2026, 3, 1, tzinfo=UTC)
    before = [90.0] * 2000
    quiet = _load(since, 24, lambda m: 95)
    assert looks_away(quiet, before, since=since, human_events=1) is None
    cooking = _load(since, 24, lambda m: 95 + (1800 if m % 240 < 20 else 0))
    assert looks_away(cooking, before, since=since, human_events=0) is None
    assert looks_away(quiet[: 12 * 60], before, since=since, human_events=0) is None  # half a day of data
