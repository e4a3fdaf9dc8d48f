"""The ladder's hour of the week by arithmetic is the hour of the week by conversion (issue 15).

The ladder looks up the usual activity for every 10-minute step of up to three days; converting
each step to local time was most of its cost, so over a span where the zone keeps one UTC offset
the hour is worked out from the offset. It must agree with the conversion everywhere, above all
across daylight-saving changes (whole-hour, half-hour as on Lord Howe Island) and in zones whose
offset is not whole hours (Kathmandu +5:45, Adelaide +9:30/+10:30, Chatham +12:45/+13:45).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest

from anomaly.routine import hour_of_week, hours_of_week

STEP = 600
SPAN = 72 * 3600
# Spans that start before a DST change, end after one, or hold none; and a time before 1970.
STARTS = [
    datetime(2026, 3, 7, 22, 10, tzinfo=UTC),  # US spring forward (03-08) within the span
    datetime(2026, 10, 31, 20, 0, tzinfo=UTC),  # US fall back (11-01); Europe's was 10-25
    datetime(2026, 10, 24, 5, 50, tzinfo=UTC),  # Europe's fall back (10-25)
    datetime(2026, 4, 3, 13, 20, tzinfo=UTC),  # Australia, Lord Howe and Chatham end DST (04-05)
    datetime(2026, 10, 2, 14, 40, tzinfo=UTC),  # ... and start it (10-04)
    datetime(2026, 6, 15, 0, 0, tzinfo=UTC),  # no change anywhere near
    datetime(1969, 12, 29, 3, 30, tzinfo=UTC),  # negative timestamps
]
ZONES = [
    "Asia/Seoul",
    "America/New_York",
    "Europe/London",
    "Australia/Adelaide",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "America/St_Johns",
    "UTC",
]


@pytest.mark.parametrize("zone_name", ZONES)
@pytest.mark.parametrize("start", STARTS, ids=lambda d: d.strftime("%Y-%m-%d"))
def test_the_hour_of_the_week_by_offset_is_the_hour_by_conversion(zone_name: str, start: datetime) -> None:
    zone = ZoneInfo(zone_name)
    first = int(start.timestamp()) + 7  # not on a step boundary
    hour_at = hours_of_week(first, first + SPAN, zone)
    for t in range(first, first + SPAN + 1, STEP):
        assert hour_at(t) == hour_of_week(t, zone), datetime.fromtimestamp(t, UTC)


def test_a_span_across_a_change_of_offset_is_converted_step_by_step() -> None:
    """Across New York's spring change (2026-03-08 07:00 UTC) the local hour skips 02:00: the
    hour 24 h after 01:30 is 02:30 by the offset of the start but 03:30 in fact."""
    zone = ZoneInfo("America/New_York")
    start = int(datetime(2026, 3, 8, 6, 30, tzinfo=UTC).timestamp())  # Sunday 01:30 EST
    later = start + 3600  # Sunday 03:30 EDT
    assert hours_of_week(start, later, zone)(later) == 6 * 24 + 3
    assert hours_of_week(start, start + 1800, zone)(start) == 6 * 24 + 1


class _TwoChanges(tzinfo):
    """+9:00, but +10:00 for one day in the middle of a span (two changes that cancel out)."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.end = start, end

    def utcoffset(self, dt: datetime | None) -> timedelta:
        assert dt is not None
        return timedelta(
            hours=10 if self.start <= dt.replace(tzinfo=UTC) - timedelta(hours=9) < self.end else 9
        )

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return "TWO"

    def fromutc(self, dt: datetime) -> datetime:
        utc = dt.replace(tzinfo=UTC)
        hours = 10 if self.start <= utc < self.end else 9
        return (utc + timedelta(hours=hours)).replace(tzinfo=self)


def test_an_offset_that_changes_and_changes_back_within_the_span_is_not_taken_for_one_offset() -> None:
    start = datetime(2026, 5, 1, tzinfo=UTC)
    zone = _TwoChanges(start + timedelta(hours=30), start + timedelta(hours=54))
    first = int(start.timestamp())
    hour_at = hours_of_week(first, first + SPAN, zone)  # type: ignore[arg-type]
    inside = first + 40 * 3600
    assert hour_at(inside) == hour_of_week(inside, zone)  # type: ignore[arg-type]
    assert hour_at(first) == hour_of_week(first, zone)  # type: ignore[arg-type]
