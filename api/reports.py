"""Programme figures per team and period: pure arithmetic over the cases opened in the period."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from statistics import median

from api.schemas import TeamReport
from core.enums import CaseStatus, ResolutionCode
from core.models import Case

# Clear reasons (notifier.calls, notifier.sms, anomaly.sweeper) meaning "the resident answered".
RESIDENT_CLEAR_REASONS = frozenset({"resident_ok", "resident_checked_in"})
ACTIVITY_CLEAR_REASONS = frozenset({"activity_resumed"})
FALSE_ALARMS = (ResolutionCode.FALSE_ALARM_AWAY, ResolutionCode.FALSE_ALARM_DEVICE)


def team_report(
    team_id: int, team_name: str, cases: Sequence[Case], visits: Mapping[int, int] | None = None
) -> TeamReport:
    """*visits*: case id -> field visits recorded on it (cases without any may be absent)."""
    visits = visits or {}
    cleared = [c for c in cases if c.status == CaseStatus.CLEARED]
    resolved = [c for c in cases if c.status == CaseStatus.RESOLVED]
    by_resident = sum(1 for c in cleared if c.clear_reason in RESIDENT_CLEAR_REASONS)
    by_activity = sum(1 for c in cleared if c.clear_reason in ACTIVITY_CLEAR_REASONS)
    closed = len(cleared) + len(resolved)
    waits = [
        (c.acknowledged_at - c.opened_at).total_seconds() / 60 for c in cases if c.acknowledged_at is not None
    ]
    outcomes = Counter(c.resolution_code.value for c in resolved if c.resolution_code is not None)
    visit_counts = [visits.get(c.id, 0) for c in cases if c.id is not None]
    visited = sum(1 for n in visit_counts if n)
    return TeamReport(
        team_id=team_id,
        team_name=team_name,
        cases_opened=len(cases),
        closed=closed,
        cleared_by_resident=by_resident,
        cleared_by_activity=by_activity,
        resolved_by_staff=len(resolved),
        share_closed_without_staff=round((by_resident + by_activity) / closed, 4) if closed else None,
        median_minutes_to_acknowledge=round(median(waits), 1) if waits else None,
        by_outcome=dict(sorted(outcomes.items())),
        false_alarm_rate={
            code.value: round(outcomes[code.value] / closed, 4) if closed else 0.0 for code in FALSE_ALARMS
        },
        field_visits=sum(visit_counts),
        cases_with_field_visit=visited,
        share_with_field_visit=round(visited / len(cases), 4) if cases else None,
    )


CSV_COLUMNS = (
    "team_id",
    "team_name",
    "cases_opened",
    "closed",
    "cleared_by_resident",
    "cleared_by_activity",
    "resolved_by_staff",
    "share_closed_without_staff",
    "median_minutes_to_acknowledge",
    "field_visits",
    "cases_with_field_visit",
    "share_with_field_visit",
    *(f"false_alarm_rate_{code.value}" for code in FALSE_ALARMS),
    *(f"outcome_{code.value}" for code in ResolutionCode),
)


def to_csv(reports: Sequence[TeamReport]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in reports:
        writer.writerow(
            [
                r.team_id,
                _safe_cell(r.team_name),
                r.cases_opened,
                r.closed,
                r.cleared_by_resident,
                r.cleared_by_activity,
                r.resolved_by_staff,
                "" if r.share_closed_without_staff is None else r.share_closed_without_staff,
                "" if r.median_minutes_to_acknowledge is None else r.median_minutes_to_acknowledge,
                r.field_visits,
                r.cases_with_field_visit,
                "" if r.share_with_field_visit is None else r.share_with_field_visit,
                *(r.false_alarm_rate[code.value] for code in FALSE_ALARMS),
                *(r.by_outcome.get(code.value, 0) for code in ResolutionCode),
            ]
        )
    return out.getvalue()


def _safe_cell(text: str) -> str:
    # A team name like "=HYPERLINK(...)" must not become a formula when the file opens in Excel.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
