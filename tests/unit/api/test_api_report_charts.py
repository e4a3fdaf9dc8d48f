"""The reports page's chart data: cases per 7-day slice by kind and by how they ended, and how
long cases waited for a person (api/reports.py: weeks, time_to_acknowledge)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.reports import time_to_acknowledge, weeks
from core.enums import CaseKind, CaseStatus, ResolutionCode
from core.models import Case
from tests.factories import case_row

SINCE = datetime(2026, 3, 2, tzinfo=UTC)


def _case(opened: timedelta, status: CaseStatus = CaseStatus.OPEN, **values: object) -> Case:
    return case_row(SINCE + opened, status=status, **values)


def test_cases_fall_in_the_slice_they_opened_in_by_kind_and_outcome() -> None:
    until = SINCE + timedelta(days=17)  # two whole slices and a three-day one
    cases = [
        _case(timedelta(0)),
        _case(timedelta(days=6, hours=23), CaseStatus.CLEARED, clear_reason="resident_ok"),
        _case(timedelta(days=7), CaseStatus.RESOLVED, resolution_code=ResolutionCode.HOSPITAL),
        _case(
            timedelta(days=8),
            CaseStatus.CLEARED,
            clear_reason="activity_resumed",
            kind=CaseKind.HELP_REQUESTED,
        ),
        _case(timedelta(days=16), CaseStatus.CLEARED, clear_reason="away", kind=CaseKind.DEVICE_OFFLINE),
        _case(timedelta(days=17)),  # opened at the very end of a period ending "now": the last slice
    ]
    slices = weeks(cases, SINCE, until)
    assert [(w.start, w.end) for w in slices] == [
        (SINCE, SINCE + timedelta(days=7)),
        (SINCE + timedelta(days=7), SINCE + timedelta(days=14)),
        (SINCE + timedelta(days=14), until),
    ]
    assert [w.cases_opened for w in slices] == [2, 2, 2]
    assert slices[0].by_outcome == {"still_open": 1, "cleared_by_resident": 1}
    assert slices[1].by_kind == {"inactivity": 1, "help_requested": 1}
    assert slices[1].by_outcome == {"hospital": 1, "cleared_by_activity": 1}
    assert slices[2].by_outcome == {"cleared_other": 1, "still_open": 1}
    assert weeks([], SINCE, SINCE + timedelta(hours=1))[0].cases_opened == 0


def test_time_to_acknowledge_in_buckets_with_the_cases_nobody_took_on() -> None:
    waits = [None, None, 0, 5, 5.5, 15, 59, 61, 240, 241, 2000]
    cases = [
        _case(timedelta(0), acknowledged_at=None if m is None else SINCE + timedelta(minutes=m))
        for m in waits
    ]
    buckets = {b.key: (b.upto_minutes, b.cases) for b in time_to_acknowledge(cases)}
    assert buckets == {
        "within_5": (5, 2),
        "within_15": (15, 2),
        "within_60": (60, 1),
        "within_240": (240, 2),
        "later": (None, 2),
        "never": (None, 2),
    }
