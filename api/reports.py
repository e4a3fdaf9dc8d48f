"""Programme figures per team and period: pure arithmetic over the cases opened in the period."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from statistics import median

from api.schemas import AckBucket, ReportWeek, TeamReport
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


WEEK = timedelta(days=7)
# Minutes to acknowledge, as a control room reads them: at once, within a quarter, an hour, a shift.
ACK_LIMITS = (5, 15, 60, 240)


def outcome_of(case: Case) -> str:
    """How a case ended, in one word for the outcome chart."""
    if case.status == CaseStatus.RESOLVED and case.resolution_code is not None:
        return case.resolution_code.value
    if case.status == CaseStatus.CLEARED:
        if case.clear_reason in RESIDENT_CLEAR_REASONS:
            return "cleared_by_resident"
        if case.clear_reason in ACTIVITY_CLEAR_REASONS:
            return "cleared_by_activity"
        return "cleared_other"
    return "still_open"


def weeks(cases: Sequence[Case], since: datetime, until: datetime) -> list[ReportWeek]:
    """The period in 7-day slices from its start (the last one may be shorter), with the cases
    opened in each by kind and by how they ended. Slices, not calendar weeks: the period's own
    start is the only boundary every household's time zone agrees on."""
    slices: list[ReportWeek] = []
    start = since
    while start < until:
        end = min(start + WEEK, until)
        slices.append(ReportWeek(start=start, end=end, cases_opened=0, by_kind={}, by_outcome={}))
        start = end
    for case in cases:
        # A period ending "now" includes a case opened at that very instant: the last slice's.
        index = min(int((case.opened_at - since) / WEEK), len(slices) - 1)
        if index < 0:
            continue  # the report's own query keeps this from happening; never an IndexError
        week = slices[index]
        week.cases_opened += 1
        week.by_kind[case.kind.value] = week.by_kind.get(case.kind.value, 0) + 1
        outcome = outcome_of(case)
        week.by_outcome[outcome] = week.by_outcome.get(outcome, 0) + 1
    return slices


def time_to_acknowledge(cases: Sequence[Case]) -> list[AckBucket]:
    """How long cases waited for a person: within each of ``ACK_LIMITS``, later, or never (a
    case cleared or still open without anyone taking it on)."""
    counts = Counter[str]()
    for case in cases:
        if case.acknowledged_at is None:
            counts["never"] += 1
            continue
        minutes = (case.acknowledged_at - case.opened_at).total_seconds() / 60
        key = next((f"within_{limit}" for limit in ACK_LIMITS if minutes <= limit), "later")
        counts[key] += 1
    return [
        *(
            AckBucket(key=f"within_{limit}", upto_minutes=limit, cases=counts[f"within_{limit}"])
            for limit in ACK_LIMITS
        ),
        AckBucket(key="later", upto_minutes=None, cases=counts["later"]),
        AckBucket(key="never", upto_minutes=None, cases=counts["never"]),
    ]


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
