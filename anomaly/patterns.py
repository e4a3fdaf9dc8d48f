"""Unusual patterns for staff (never a call): night activity, odd days, a fading routine.

Pure part: :func:`day_features` turns human switch-ons and data coverage into one row per
covered local day; three detectors look at those rows and return a :class:`Finding` (with a
plain-language explanation) or None:

* :func:`night_activity` — last night's switch-ons (00:00–06:00 local) far above the
  household's usual nights;
* :func:`daily_use` — yesterday far outside the household's own range, judged by an
  ``IsolationForest`` over per-day features *and* at least one feature well outside the range
  of the usual days (the forest says "odd", the range says what is odd, in words);
* :func:`fading_routine` — daily active hours falling over weeks (Theil–Sen slope whose
  confidence interval excludes zero, and a decline large in hours and in share).

Each needs a conservative minimum history and says nothing before it. :func:`looks_away`
suggests "looks away" when a whole-house meter has stayed at base load for a day.

Shell: :func:`tick` (worker) judges each active household once per local day and night, opening a
low-severity, staff-only case per finding (one open per kind per household, by the database's
unique index), which never escalates: nobody is called or texted; it waits in the queue and on
the household page.

Longer than most modules (about 560 lines) on purpose: the three findings share one daily series,
one significance test and one explanation catalogue, and each finding's rule reads best beside the
others it must not overlap with; the shell at the end is small.
"""

from __future__ import annotations

import itertools
import logging
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from scipy.stats import theilslopes  # type: ignore[import-untyped]
from sklearn.ensemble import IsolationForest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from anomaly.detector import DetectorParams
from anomaly.household_state import activity_label, is_human_edge, load_routine
from anomaly.reading_hours import household_coverage, rollup_of
from anomaly.routine import local_date
from core.clock import Clock
from core.db import session_scope
from core.enums import CaseKind, EdgeKind, Language, MonitoringState, Severity
from core.i18n import Catalogue, in_every_language
from core.models import ActivityEdge, Case, Device, Household, Reading, Watch
from core.settings import Settings
from notifier import lifecycle
from notifier.policy import snapshot_for_household

log = logging.getLogger(__name__)

MESSAGES = Catalogue(Path(__file__).with_name("messages"))

PATTERN_KINDS = (CaseKind.UNUSUAL_NIGHT_ACTIVITY, CaseKind.UNUSUAL_DAILY_USE, CaseKind.FADING_ROUTINE)
# Staff-only cases the household page lists with their explanation.
NOTE_KINDS = (CaseKind.AWAY_ENDED, *PATTERN_KINDS)
NIGHT_END_HOUR = 6  # night = 00:00–06:00 local


@dataclass(frozen=True)
class DayFeatures:
    day: date
    # The day's part (06:00–24:00 local) and the night's (00:00–06:00) are kept apart so one
    # restless night is one finding (night activity), not also an "unusual day".
    events: int  # human switch-ons from 06:00
    night_events: int  # human switch-ons between 00:00 and 06:00
    active_hours: int  # hours from 06:00 with at least one human switch-on
    # Local time (hours) the day started: the first switch-on from 04:00 (night ones are the
    # night feature's business, and would make a restless night look like an early day).
    first_hour: float | None
    # Enough data to judge (missing data is not inactivity): the whole day, or just its night.
    day_covered: bool = True
    night_covered: bool = True


@dataclass(frozen=True)
class Finding:
    kind: CaseKind
    day: date  # the (last) day the finding is about
    params: dict[str, str | int | float]  # the numbers behind it (see :func:`explanation`)


@dataclass(frozen=True)
class PatternParams:
    min_hour_coverage_s: int = 30 * 60  # as the routine model: an hour with less data says nothing
    min_day_hours: int = 18  # covered hours for a day to count (missing data is not inactivity)
    min_night_hours: int = 5  # of the six night hours
    # Night activity
    night_history_days: int = 28
    night_min_history: int = 14
    night_min_events: int = 4
    night_factor: float = 3.0
    night_margin: int = 3
    # Daily use (IsolationForest)
    daily_history_days: int = 42
    daily_min_history: int = 28
    forest_trees: int = 200
    range_share: float = 0.25  # "well outside": beyond min/max by this share of the range ...
    range_min: dict[str, float] = field(
        default_factory=lambda: {"events": 4.0, "active_hours": 2.0, "first_hour": 4.0}
    )  # ... and by at least this much
    # Fading routine
    fade_window_days: int = 42
    fade_min_days: int = 28
    fade_edge_days: int = 14  # compare the first and last two weeks
    fade_min_drop_h: float = 2.0
    fade_min_drop_share: float = 0.3


DAILY_FEATURES = ("events", "active_hours", "first_hour")
DAY_START_HOUR = 4


# ---------------------------------------------------------------- pure: features


def day_features(
    events: Sequence[int],
    coverage: dict[int, int],
    *,
    timezone: str,
    params: PatternParams | None = None,
) -> list[DayFeatures]:
    """One row per local day whose day or night is covered by data (sorted), from human
    switch-on times (unix s) and coverage (unix start of each UTC hour → seconds of data, as
    :func:`anomaly.routine.add_coverage`). A day still under way can have a covered night."""
    p = params or PatternParams()
    zone = ZoneInfo(timezone)
    covered = [h for h, s in coverage.items() if s >= p.min_hour_coverage_s]
    hours_per_day: Counter[date] = Counter(local_date(h, zone) for h in covered)
    night_hours: Counter[date] = Counter(
        local.date()
        for local in (datetime.fromtimestamp(h, UTC).astimezone(zone) for h in covered)
        if local.hour < NIGHT_END_HOUR
    )
    by_day: dict[date, list[datetime]] = defaultdict(list)
    for ts in events:
        local = datetime.fromtimestamp(ts, UTC).astimezone(zone)
        by_day[local.date()].append(local)
    rows = []
    for day in sorted(hours_per_day):
        day_covered = hours_per_day[day] >= p.min_day_hours
        night_covered = night_hours[day] >= p.min_night_hours
        if not (day_covered or night_covered):
            continue
        stamps = sorted(by_day.get(day, []))
        clock = [t.hour + t.minute / 60 for t in stamps if t.hour >= DAY_START_HOUR]
        rows.append(
            DayFeatures(
                day=day,
                events=sum(1 for t in stamps if t.hour >= NIGHT_END_HOUR),
                night_events=sum(1 for t in stamps if t.hour < NIGHT_END_HOUR),
                active_hours=len({t.hour for t in stamps if t.hour >= NIGHT_END_HOUR}),
                first_hour=clock[0] if clock else None,
                day_covered=day_covered,
                night_covered=night_covered,
            )
        )
    return rows


def _history(days: Sequence[DayFeatures], subject: date, span_days: int) -> list[DayFeatures]:
    start = subject - timedelta(days=span_days)
    return [d for d in days if start <= d.day < subject and d.day_covered]


def _covered_days(days: Sequence[DayFeatures]) -> list[DayFeatures]:
    return [d for d in days if d.day_covered]


# ---------------------------------------------------------------- pure: detectors


def night_activity(
    days: Sequence[DayFeatures], subject: date, params: PatternParams | None = None
) -> Finding | None:
    """Switch-ons in the night (00:00–06:00) of ``subject`` far above the household's usual nights."""
    p = params or PatternParams()
    today = next((d for d in days if d.day == subject and d.night_covered), None)
    start = subject - timedelta(days=p.night_history_days)
    history = [d for d in days if start <= d.day < subject and d.night_covered]
    if today is None or len(history) < p.night_min_history:
        return None
    usual = int(np.quantile([d.night_events for d in history], 0.9, method="higher"))
    threshold = max(p.night_min_events, math.ceil(p.night_factor * max(usual, 1)), usual + p.night_margin)
    if today.night_events < threshold:
        return None
    return Finding(
        CaseKind.UNUSUAL_NIGHT_ACTIVITY,
        subject,
        {
            "day": subject.strftime("%m-%d"),
            "count": today.night_events,
            "usual": usual,
            "nights": len(history),
        },
    )


def _vector(d: DayFeatures) -> list[float]:
    # A day without a switch-on from 04:00 never started: place it at the far end.
    return [float(d.events), float(d.active_hours), d.first_hour if d.first_hour is not None else 24.0]


def daily_use(
    days: Sequence[DayFeatures], subject: date, params: PatternParams | None = None
) -> Finding | None:
    """``subject`` far outside the household's usual days (IsolationForest + range check)."""
    p = params or PatternParams()
    today = next((d for d in _covered_days(days) if d.day == subject), None)
    # Days without any switch-on are away days or an inactivity case, not a usage pattern.
    history = [d for d in _history(days, subject, p.daily_history_days) if d.events > 0]
    if today is None or today.events == 0 or len(history) < p.daily_min_history:
        return None
    x = np.array([_vector(d) for d in history])
    y = np.array([_vector(today)])
    outside = []
    for i, name in enumerate(DAILY_FEATURES):
        low, high = float(x[:, i].min()), float(x[:, i].max())
        margin = max(p.range_min[name], p.range_share * (high - low))
        value = float(y[0, i])
        if value < low - margin or value > high + margin:
            outside.append((name, value, low, high))
    if not outside:
        return None
    # The range says what is odd; the forest (over all features together) must agree that the
    # day is an outlier (its own "auto" threshold, from the original paper). Fitted only when needed.
    forest = IsolationForest(n_estimators=p.forest_trees, random_state=0).fit(x)
    if forest.predict(y)[0] != -1:
        return None
    return Finding(
        CaseKind.UNUSUAL_DAILY_USE,
        subject,
        {
            "day": subject.strftime("%m-%d"),
            "days": len(history),
            **{f"{n}_value": v for n, v, _, _ in outside},
            **{f"{n}_low": lo for n, _, lo, _ in outside},
            **{f"{n}_high": hi for n, _, _, hi in outside},
            "outside": ",".join(n for n, _, _, _ in outside),
        },
    )


def fading_routine(
    days: Sequence[DayFeatures], subject: date, params: PatternParams | None = None
) -> Finding | None:
    """Daily active hours falling over the weeks up to ``subject``."""
    p = params or PatternParams()
    start = subject - timedelta(days=p.fade_window_days - 1)
    window = [d for d in _covered_days(days) if start <= d.day <= subject and d.events > 0]
    if len(window) < p.fade_min_days or (window[-1].day - window[0].day).days < p.fade_min_days:
        return None
    x = np.array([(d.day - start).days for d in window], dtype=float)
    y = np.array([d.active_hours for d in window], dtype=float)
    slope, _intercept, _low, high = theilslopes(y, x, alpha=0.95)
    early = [d.active_hours for d in window if (d.day - start).days < p.fade_edge_days]
    late = [d.active_hours for d in window if (subject - d.day).days < p.fade_edge_days]
    if not early or not late or high >= 0 or slope >= 0:
        return None
    before, after = statistics.fmean(early), statistics.fmean(late)
    drop = before - after
    if drop < p.fade_min_drop_h or drop < p.fade_min_drop_share * before:
        return None
    return Finding(
        CaseKind.FADING_ROUTINE,
        subject,
        {
            "weeks": round(p.fade_window_days / 7),
            "before": f"{before:.1f}",
            "after": f"{after:.1f}",
            "per_week": f"{-slope * 7:.1f}",
        },
    )


def explanation(finding: Finding, language: Language = Language.KO) -> str:
    """The finding in words a caseworker understands (daily use lists what was out of range)."""
    if finding.kind != CaseKind.UNUSUAL_DAILY_USE:
        return MESSAGES.text(f"pattern.{finding.kind.value}", language, **finding.params)
    parts = []
    for name in str(finding.params["outside"]).split(","):
        value, low, high = (finding.params[f"{name}_{k}"] for k in ("value", "low", "high"))
        parts.append(
            MESSAGES.text(
                f"pattern.feature.{name}",
                language,
                value=_fmt(name, float(value)),
                low=_fmt(name, float(low)),
                high=_fmt(name, float(high)),
            )
        )
    separator = MESSAGES.text("pattern.separator", language)
    return MESSAGES.text(
        "pattern.unusual_daily_use",
        language,
        day=finding.params["day"],
        details=separator.join(parts),
        days=finding.params["days"],
    )


def _fmt(name: str, value: float) -> str:
    if name == "first_hour":
        minutes = round(value * 60)
        return "–" if minutes >= 24 * 60 else f"{minutes // 60:02d}:{minutes % 60:02d}"
    return f"{value:g}"


def detect(
    days: Sequence[DayFeatures],
    subject: date,
    params: PatternParams | None = None,
    *,
    night: date | None = None,
) -> list[Finding]:
    """All findings about the day ``subject`` (and the night of ``night``, default the same day)."""
    found = [night_activity(days, night or subject, params), daily_use(days, subject, params)]
    found.append(fading_routine(days, subject, params))
    return [f for f in found if f is not None]


# ---------------------------------------------------------------- pure: "looks away"


@dataclass(frozen=True)
class LooksAway:
    since: datetime  # start of the quiet day looked at
    peak_w: float  # 95th percentile of the whole-house load over it
    base_w: float  # the household's usual base load (10th percentile of the week before)


LOOKS_AWAY_HOURS = 24
LOOKS_AWAY_MARGIN_W = 150.0  # a fridge's compressor above base load is still "base"
LOOKS_AWAY_MIN_SHARE = 0.8  # of the day covered by readings (no data is not absence)


def looks_away(
    recent: Sequence[tuple[datetime, float]],
    before: Sequence[float],
    *,
    since: datetime,
    human_events: int,
    interval_s: float = 60.0,
) -> LooksAway | None:
    """A whole-house meter at base load for a day, and no human switch-on: suggest "away"."""
    if human_events > 0 or len(before) < 60 or not recent:
        return None
    covered = len(recent) * interval_s / 3600
    if covered < LOOKS_AWAY_HOURS * LOOKS_AWAY_MIN_SHARE:
        return None
    base = float(np.quantile(np.array(before), 0.1))
    peak = float(np.quantile(np.array([w for _, w in recent]), 0.95))
    if peak > base + LOOKS_AWAY_MARGIN_W:
        return None
    return LooksAway(since=since, peak_w=round(peak, 1), base_w=round(base, 1))


AGGREGATE_APPLIANCE = "aggregate"


def looks_away_for(session: Session, household: Household, now: datetime) -> LooksAway | None:
    """The suggestion for the household page (computed when asked; nothing is stored)."""
    if household.id is None or household.monitoring == MonitoringState.PAUSED:
        return None
    meters = session.exec(
        select(Device.id).where(Device.household_id == household.id, Device.appliance == AGGREGATE_APPLIANCE)
    ).all()
    if not meters:
        return None
    since = now - timedelta(hours=LOOKS_AWAY_HOURS)
    rows = session.exec(
        select(Reading.ts, Reading.power_w).where(
            col(Reading.device_id).in_(meters),
            Reading.ts >= since - timedelta(days=7),
            Reading.ts < now,
            col(Reading.power_w).is_not(None),
        )
    ).all()
    recent = [(ts, float(w)) for ts, w in rows if ts >= since and w is not None]
    before = [float(w) for ts, w in rows if ts < since and w is not None]
    human = _human_events(session, household, since, now)
    interval = _median_interval([ts for ts, _ in recent])
    return looks_away(recent, before, since=since, human_events=len(human), interval_s=interval)


def _median_interval(stamps: list[datetime]) -> float:
    ordered = sorted(stamps)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ordered) if b > a]
    return min(statistics.median(gaps), 300.0) if gaps else 60.0


# ---------------------------------------------------------------- shell


@dataclass
class PatternResult:
    evaluated: int = 0
    opened: int = 0
    findings: list[Finding] = field(default_factory=list)


def tick(
    engine: Engine,
    clock: Clock,
    settings: Settings,
    *,
    done: dict[int, tuple[date, date]] | None = None,
    params: PatternParams | None = None,
) -> PatternResult:
    """Evaluate each active household once per local day and night (``done`` remembers what each
    household was last evaluated for; it only saves work — the database keeps findings unique)."""
    now = clock.now()
    result = PatternResult()
    with session_scope(engine) as session:
        ids = session.exec(select(Watch.household_id).order_by(col(Watch.household_id))).all()
    for household_id in ids:
        try:
            with session_scope(engine) as session:
                evaluate_household(session, household_id, now, result, done=done, params=params)
        except Exception:  # one household's bad data must not stop the others
            log.exception("pattern check of household %s failed", household_id)
    if result.opened:
        log.info("patterns: evaluated=%d opened=%d", result.evaluated, result.opened)
    return result


def evaluate_household(
    session: Session,
    household_id: int,
    now: datetime,
    result: PatternResult,
    *,
    done: dict[int, tuple[date, date]] | None = None,
    params: PatternParams | None = None,
) -> None:
    """Judge yesterday (daily use, fading routine) and the last night that has ended."""
    p = params or PatternParams()
    household = session.get(Household, household_id)
    if household is None or household.monitoring == MonitoringState.PAUSED:
        return
    local_now = now.astimezone(ZoneInfo(household.timezone))
    yesterday = local_now.date() - timedelta(days=1)
    night = local_now.date() if local_now.hour >= NIGHT_END_HOUR else yesterday
    if done is not None and done.get(household_id) == (yesterday, night):
        return
    window = max(p.daily_history_days, p.fade_window_days, p.night_history_days) + 2
    days = load_days(session, household, now - timedelta(days=window), now, p)
    ended = household.paused_until
    if ended is not None:
        # The days of an away period are not the resident's usual life: without a single
        # switch-on up to its end, leave them out (the pause's start is not recorded).
        last_away = ended.astimezone(ZoneInfo(household.timezone)).date()
        days = [d for d in days if d.day > last_away or d.events + d.night_events > 0]
    result.evaluated += 1
    if done is not None:
        done[household_id] = (yesterday, night)
    for finding in detect(days, yesterday, p, night=night):
        result.findings.append(finding)
        if record_finding(session, household, finding, now):
            result.opened += 1


def load_days(
    session: Session, household: Household, start: datetime, end: datetime, params: PatternParams
) -> list[DayFeatures]:
    """Per-day features of ``[start, end)`` from the household's human switch-ons and readings."""
    assert household.id is not None
    device_ids = session.exec(select(Device.id).where(Device.household_id == household.id)).all()
    if not device_ids:
        return []
    # The roll-up's hourly summaries, raw readings only for the hours not rolled up yet.
    coverage = household_coverage(
        session,
        household.id,
        device_ids,
        start,
        end,
        DetectorParams().coverage_gap_s,
        rollup=rollup_of(session, household.id),
    )
    events = [int(ts.timestamp()) for ts in _human_events(session, household, start, end)]
    return day_features(events, coverage, timezone=household.timezone, params=params)


def _human_events(session: Session, household: Household, start: datetime, end: datetime) -> list[datetime]:
    """Switch-ons that are signs of life (the household's learned automatic loads left out)."""
    assert household.id is not None
    routine = load_routine(session, household.id)
    rows = session.exec(
        select(ActivityEdge, Device)
        .join(Device, col(Device.id) == ActivityEdge.device_id)
        .where(
            ActivityEdge.household_id == household.id,
            ActivityEdge.kind == EdgeKind.ON,
            ActivityEdge.ts >= start,
            ActivityEdge.ts < end,
        )
        .order_by(col(ActivityEdge.ts))
    ).all()
    return [e.ts for e, d in rows if is_human_edge(routine, activity_label(d, e.channel), e.power_w)]


# A fading routine changes over weeks: once staff closed one, it is not raised again sooner.
FADING_REOPEN_AFTER = timedelta(days=14)


def reported_since(finding: Finding, timezone: str, now: datetime) -> datetime:
    """A case of the finding's kind opened since then already reported it (and staff may have
    closed it: it is not raised again). Night and daily findings are about one night or day."""
    zone = ZoneInfo(timezone)
    if finding.kind == CaseKind.UNUSUAL_NIGHT_ACTIVITY:
        knowable = datetime.combine(finding.day, datetime.min.time(), zone) + timedelta(hours=NIGHT_END_HOUR)
    elif finding.kind == CaseKind.UNUSUAL_DAILY_USE:
        knowable = datetime.combine(finding.day + timedelta(days=1), datetime.min.time(), zone)
    else:
        return now - FADING_REOPEN_AFTER
    return knowable.astimezone(UTC)


def record_finding(session: Session, household: Household, finding: Finding, now: datetime) -> bool:
    """Open (or refresh) the staff-only case of a finding; returns whether one was opened."""
    assert household.id is not None
    active = lifecycle.active_case(session, household.id, finding.kind)
    if active is None:
        cutoff = reported_since(finding, household.timezone, now)
        recent = session.exec(
            select(Case.id).where(
                Case.household_id == household.id, Case.kind == finding.kind, col(Case.opened_at) >= cutoff
            )
        ).first()
        if recent is not None:
            return False
    case, opened = lifecycle.open_or_redetect(
        session,
        household_id=household.id,
        kind=finding.kind,
        severity=Severity.WATCH,
        explanation=in_every_language(lambda language: explanation(finding, language)),
        policy_snapshot=snapshot_for_household(session, household.id),
        now=now,
    )
    if opened:
        # A finding waits for a person in the queue: no escalation step, nobody is messaged.
        lifecycle.advance_escalation(
            session,
            case,
            token=case.escalation_token,
            step_index=case.step_index,
            repeat_count=case.repeat_count,
            next_action_at=None,
        )
        log.info("%s finding for household %s (case %s)", finding.kind.value, household.code, case.id)
    return opened
