"""Programme figures from case rows: shares, median time to acknowledge, false-alarm rates, CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from api.reports import team_report, to_csv
from core.enums import CaseStatus, ResolutionCode
from core.models import Case
from tests.factories import case_row

T = datetime(2026, 3, 2, tzinfo=UTC)


def _case(status: CaseStatus, **values: object) -> Case:
    return case_row(T, status=status, **values)


def test_figures_from_a_small_period() -> None:
    cases = [
        _case(CaseStatus.CLEARED, clear_reason="resident_ok"),
        _case(CaseStatus.CLEARED, clear_reason="resident_checked_in"),
        _case(CaseStatus.CLEARED, clear_reason="activity_resumed"),
        _case(
            CaseStatus.RESOLVED,
            resolution_code=ResolutionCode.FALSE_ALARM_AWAY,
            acknowledged_at=T + timedelta(minutes=10),
        ),
        _case(
            CaseStatus.RESOLVED,
            resolution_code=ResolutionCode.HOSPITAL,
            acknowledged_at=T + timedelta(minutes=30),
        ),
        _case(CaseStatus.OPEN, acknowledged_at=T + timedelta(minutes=4)),
    ]
    r = team_report(7, "행복동", cases)
    assert (r.cases_opened, r.closed, r.cleared_by_resident, r.cleared_by_activity, r.resolved_by_staff) == (
        6,
        5,
        2,
        1,
        2,
    )
    assert r.share_closed_without_staff == 0.6
    assert r.median_minutes_to_acknowledge == 10.0
    assert r.by_outcome == {"false_alarm_away": 1, "hospital": 1}
    assert r.false_alarm_rate == {"false_alarm_away": 0.2, "false_alarm_device": 0.0}


def test_an_empty_period_has_no_made_up_ratios() -> None:
    r = team_report(1, "A", [])
    assert (r.share_closed_without_staff, r.median_minutes_to_acknowledge) == (None, None)
    assert r.false_alarm_rate == {"false_alarm_away": 0.0, "false_alarm_device": 0.0}


def test_csv_has_one_row_per_team_and_defuses_formulas() -> None:
    text = to_csv(
        [team_report(1, "=cmd()", [_case(CaseStatus.RESOLVED, resolution_code=ResolutionCode.OTHER)])]
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 1
    assert rows[0]["team_name"] == "'=cmd()"
    assert rows[0]["outcome_other"] == "1" and rows[0]["share_closed_without_staff"] == "0.0"


def test_field_visits_count_visits_and_the_share_of_cases_visited() -> None:
    cases = [
        _case(CaseStatus.RESOLVED, id=n, resolution_code=ResolutionCode.RESIDENT_FINE) for n in (1, 2, 3, 4)
    ]
    # Case 1 needed two visits, case 3 one; a visit on a case outside the period (99) is ignored.
    r = team_report(1, "A", cases, {1: 2, 3: 1, 99: 5})
    assert (r.field_visits, r.cases_with_field_visit, r.share_with_field_visit) == (3, 2, 0.5)
    empty = team_report(1, "A", [])
    assert (empty.field_visits, empty.cases_with_field_visit, empty.share_with_field_visit) == (0, 0, None)
    rows = list(csv.DictReader(io.StringIO(to_csv([r, empty]))))
    assert [row["field_visits"] for row in rows] == ["3", "0"]
    assert [row["share_with_field_visit"] for row in rows] == ["0.5", ""]
