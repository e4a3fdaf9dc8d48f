"""The severity ladder: when a quiet household becomes watch → warning → alert → critical.

Pure. Walking forward from the last sign of life in 10-minute steps (in UTC, reading each
step's local hour-of-week, so DST is handled by the zone database), we add up the *missed
usual activity*: the routine's probability of activity for each hour that passed quietly.
Night hours add almost nothing, a usual busy morning adds a lot. A stage is reached when

* the quiet has lasted longer than the usual quiet gap after activity at that hour
  (for the *alert*: × ``gap_margin`` + ``grace_hours``), and
* the missed activity has reached the stage's amount (``watch_mass`` … ``alert_mass``).

The alert's allowance over the usual gap is mostly a fixed ``grace_hours`` (6 h) and only
a little a multiple of the gap (``gap_margin`` 1.1): the usual gap after a morning activity
in a working household is the 10–12 h day out, and 1.5 × that pushed those alerts past the
next night, while the false alarms come from absences far longer than any margin
(docs/detection.md, section 5, compares the rules on the tuning households).

The **morning check**: when the quiet started before a local day began (04:00), the resident
has not shown the day's first sign of life by the latest time any usual day of the routine
started (``Routine.first_activity_latest_min``) plus ``morning_warning_h``, staff get the
*warning* stage then, even if the gap rule would wait longer; with ``morning_alert_h`` set,
the same check (with that grace; 1.5 h by default, chosen on the tuning households) also
brings the *alert* forward.

``alert`` is never later than ``max_hours`` (households with little routine still alert)
and never earlier than ``min_hours``; ``critical`` follows ``alert`` by ``critical_after_h``.
Only ``alert`` and ``critical`` start escalation; ``watch`` and ``warning`` are for staff.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from anomaly.long_on import LongOn, Run, long_on_alert
from anomaly.routine import DAY_START_HOUR, Routine, hour_of_week, hours_of_week
from core.enums import Severity

STEP_S = 600
ESCALATING = frozenset({Severity.ALERT, Severity.CRITICAL})


@dataclass(frozen=True)
class LadderParams:
    # Chosen on the tuning households (docs/detection.md, `benchmarks/detection_frontier.py`):
    # at most 0.02 false alarms per household-day there, then the lowest median delay.
    watch_mass: float = 0.75
    warning_mass: float = 1.5
    alert_mass: float = 1.5
    gap_margin: float = 1.1
    grace_hours: float = 6.0
    min_hours: float = 2.0
    max_hours: float = 24.0
    critical_after_h: float = 6.0
    morning_warning_h: float | None = 1.0  # morning check → warning (None = off)
    morning_alert_h: float | None = 1.5  # morning check → alert (None = off)
    # Quiet with the house on (anomaly/house_level.py, docs/detection.md §3b): alert when it has
    # lasted on_margin × its usual length at that hour + on_grace_h (never less than on_min_h) and
    # on_mass hours of usual activity were missed since it began (so a night with the heater on
    # waits for the usual morning). Chosen on the tuning households as the ladder's: 1.0 / 1 h /
    # 4 h was the fastest frozen median that added no false alarm there, but on the held-out
    # households it doubled the false alarms, so it is off by default (None; HOUSE_ON turns it on).
    on_margin: float | None = None
    on_grace_h: float = 1.0
    on_min_h: float = 1.0
    on_mass: float = 4.0
    # On far longer than usual (anomaly/long_on.py, docs/detection.md §3c): while a plug switched on
    # by a person is still on, alert at its switch-on + long_margin × its longest usual run at that
    # hour + long_grace_h, and not before long_min_quiet_h after the last sign of life (None = off).
    long_margin: float | None = 1.5
    long_grace_h: float = 1.0
    long_min_quiet_h: float = 2.0


# The house-on rule with its tuned parameters (docs/detection.md §3b, §5: off by default).
HOUSE_ON = LadderParams(on_margin=1.0)
# What every live deadline uses (gateway, refit, sweeper, household page): looked up at each call.
DEFAULT_LADDER = LadderParams()


@dataclass(frozen=True)
class Ladder:
    """Unix-second times at which each stage is reached, and the facts behind them."""

    watch: int
    warning: int
    alert: int
    critical: int
    usual_gap_h: float  # usual longest quiet after activity at the last activity's hour
    # The alert is the morning check's (the day had not started by the latest usual start +
    # grace), so the explanation can say so.
    morning_alert: bool = False
    # The alert is the house-on rule's: quiet with the house on since ``on_start`` has outlasted
    # its usual ``usual_on_h`` at that hour (the explanation says so).
    on_start: int | None = None
    usual_on_h: float | None = None
    # The alert is the long-on rule's: a plug has been on far longer than its usual run.
    long_on: LongOn | None = None

    def stage_at(self, ts: int) -> Severity | None:
        for severity in (Severity.CRITICAL, Severity.ALERT, Severity.WARNING, Severity.WATCH):
            if ts >= self.time_of(severity):
                return severity
        return None

    def time_of(self, stage: Severity) -> int:
        return {
            Severity.WATCH: self.watch,
            Severity.WARNING: self.warning,
            Severity.ALERT: self.alert,
            Severity.CRITICAL: self.critical,
        }[stage]


def ladder(
    last: int,
    routine: Routine,
    params: LadderParams | None = None,
    on_since: int | None = None,
    runs: Sequence[Run] = (),
) -> Ladder:
    """The stages after the sign of life ``last``; ``on_since``: the house has been on (not at its
    base load) since then, with no use: the quiet-with-the-house-on deadline applies too; ``runs``:
    the plugs on now (since their switch-on): the long-on deadline applies too."""
    p = params or DEFAULT_LADDER
    zone = ZoneInfo(routine.timezone)
    usual_gap_h = routine.quiet_gap_h[hour_of_week(last, zone)]
    watch_from = last + int(min(usual_gap_h, p.max_hours) * 3600)
    alert_from = last + int(max(p.min_hours, usual_gap_h * p.gap_margin + p.grace_hours) * 3600)
    cap = last + int(p.max_hours * 3600)
    stages: dict[str, int] = {}
    targets = (("watch", p.watch_mass), ("warning", p.warning_mass), ("alert", p.alert_mass))
    mass = 0.0
    t = last
    hour_at = hours_of_week(last, cap, zone)
    while len(stages) < len(targets) and t < cap:
        mass += routine.p_active[hour_at(t)] * STEP_S / 3600
        t += STEP_S
        for name, needed in targets:
            earliest = alert_from if name == "alert" else watch_from
            if name not in stages and mass >= needed and t >= earliest:
                stages[name] = t
    alert = min(stages.get("alert", cap), cap)
    by_morning = False
    if p.morning_alert_h is not None:
        morning = morning_check(last, routine, p.morning_alert_h)
        if morning is not None:
            due = max(morning, last + int(p.min_hours * 3600))
            by_morning = due <= alert
            alert = min(alert, due)
    warning = min(stages.get("warning", alert), alert)
    if p.morning_warning_h is not None:
        morning = morning_check(last, routine, p.morning_warning_h)
        if morning is not None:
            warning = min(warning, morning)
    on = house_on_alert(last, on_since, routine, p)
    on_start: int | None = None
    usual_on_h: float | None = None
    if on is not None and on[0] < alert:
        alert, on_start, usual_on_h = on
        by_morning = False
        warning = min(warning, alert)
    long_on = None
    if p.long_margin is not None and runs and routine.long_on:
        long_on = long_on_alert(
            last,
            runs,
            routine.long_on,
            routine.automatic,
            timezone=routine.timezone,
            margin=p.long_margin,
            grace_h=p.long_grace_h,
            min_quiet_h=max(p.long_min_quiet_h, p.min_hours),
            cap=cap,
        )
        if long_on is not None and long_on.alert < alert:
            alert, on_start, usual_on_h, by_morning = long_on.alert, None, None, False
            warning = min(warning, alert)
        else:
            long_on = None
    watch = min(stages.get("watch", warning), warning)
    return Ladder(
        watch=watch,
        warning=warning,
        alert=alert,
        critical=alert + int(p.critical_after_h * 3600),
        usual_gap_h=usual_gap_h,
        morning_alert=by_morning,
        on_start=on_start,
        usual_on_h=usual_on_h,
        long_on=long_on,
    )


def house_on_alert(
    last: int, on_since: int | None, routine: Routine, p: LadderParams
) -> tuple[int, int, float] | None:
    """``(alert, start, usual h)`` of the quiet with the house on, or None (house at base, not learned).

    The on-quiet starts at the later of the last sign of life and the start of the on-run: a
    quiet that began at base load and went on later (a timer) is measured from then.
    """
    if p.on_margin is None or on_since is None or routine.house is None:
        return None
    start = max(last, on_since)
    zone = ZoneInfo(routine.timezone)
    usual = routine.house.usual_on_quiet_h(start, zone)
    if usual is None:
        return None
    earliest = start + int(max(p.on_min_h, usual * p.on_margin + p.on_grace_h) * 3600)
    cap = last + int(p.max_hours * 3600)
    mass, t = 0.0, start
    hour_at = hours_of_week(start, max(start, cap), zone)
    while t < cap and (t < earliest or mass < p.on_mass):
        mass += routine.p_active[hour_at(t)] * STEP_S / 3600
        t += STEP_S
    if t >= cap:
        return None  # the base-load ladder's cap applies
    return t, start, usual


def morning_check(last: int, routine: Routine, grace_h: float) -> int | None:
    """When the next local day that began after ``last`` is overdue for its first sign of life.

    That day begins at the first local 04:00 after ``last``; it is overdue at its
    ``first_activity_latest_min`` + ``grace_h`` (local wall time, so DST shifts it with the
    clock). None without a learned morning, or when that would fall after the day's end.
    """
    if routine.first_activity_latest_min is None:
        return None
    zone = ZoneInfo(routine.timezone)
    local = datetime.fromtimestamp(last, UTC).astimezone(zone)
    day = local.date() if local.hour < DAY_START_HOUR else local.date() + timedelta(days=1)
    minutes = routine.first_activity_latest_min + round(grace_h * 60)
    if minutes >= 24 * 60:
        return None
    due = datetime.combine(day, time(minutes // 60, minutes % 60), zone)
    return int(due.timestamp())
