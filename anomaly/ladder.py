"""The severity ladder: when a quiet household becomes watch → warning → alert → critical.

Pure. Walking forward from the last sign of life in 10-minute steps (in UTC, reading each
step's local hour-of-week, so DST is handled by the zone database), we add up the *missed
usual activity*: the routine's probability of activity for each hour that passed quietly.
Night hours add almost nothing, a usual busy morning adds a lot. A stage is reached when

* the quiet has lasted longer than the usual quiet gap after activity at that hour
  (× ``gap_margin``), and
* the missed activity has reached the stage's amount (``watch_mass`` … ``alert_mass``).

``alert`` is never later than ``max_hours`` (households with little routine still alert)
and never earlier than ``min_hours``; ``critical`` follows ``alert`` by ``critical_after_h``.
Only ``alert`` and ``critical`` start escalation; ``watch`` and ``warning`` are for staff.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from anomaly.routine import Routine, hour_of_week
from core.enums import Severity

STEP_S = 600
ESCALATING = frozenset({Severity.ALERT, Severity.CRITICAL})


@dataclass(frozen=True)
class LadderParams:
    # Chosen on the tuning households (docs/detection.md): meet the false-alarm target first.
    watch_mass: float = 0.75
    warning_mass: float = 1.5
    alert_mass: float = 3.0
    gap_margin: float = 1.5
    grace_hours: float = 2.0
    min_hours: float = 2.0
    max_hours: float = 24.0
    critical_after_h: float = 6.0


@dataclass(frozen=True)
class Ladder:
    """Unix-second times at which each stage is reached, and the facts behind them."""

    watch: int
    warning: int
    alert: int
    critical: int
    usual_gap_h: float  # usual longest quiet after activity at the last activity's hour

    def stage_at(self, ts: int) -> Severity | None:
        for severity, at in (
            (Severity.CRITICAL, self.critical),
            (Severity.ALERT, self.alert),
            (Severity.WARNING, self.warning),
            (Severity.WATCH, self.watch),
        ):
            if ts >= at:
                return severity
        return None


def ladder(last: int, routine: Routine, params: LadderParams | None = None) -> Ladder:
    p = params or LadderParams()
    zone = ZoneInfo(routine.timezone)
    usual_gap_h = routine.quiet_gap_h[hour_of_week(last, zone)]
    watch_from = last + int(min(usual_gap_h, p.max_hours) * 3600)
    alert_from = last + int(max(p.min_hours, usual_gap_h * p.gap_margin + p.grace_hours) * 3600)
    cap = last + int(p.max_hours * 3600)
    stages: dict[str, int] = {}
    targets = (("watch", p.watch_mass), ("warning", p.warning_mass), ("alert", p.alert_mass))
    mass = 0.0
    t = last
    while len(stages) < len(targets) and t < cap:
        mass += routine.p_active[hour_of_week(t, zone)] * STEP_S / 3600
        t += STEP_S
        for name, needed in targets:
            earliest = alert_from if name == "alert" else watch_from
            if name not in stages and mass >= needed and t >= earliest:
                stages[name] = t
    alert = min(stages.get("alert", cap), cap)
    warning = min(stages.get("warning", alert), alert)
    watch = min(stages.get("watch", warning), warning)
    return Ladder(
        watch=watch,
        warning=warning,
        alert=alert,
        critical=alert + int(p.critical_after_h * 3600),
        usual_gap_h=usual_gap_h,
    )
