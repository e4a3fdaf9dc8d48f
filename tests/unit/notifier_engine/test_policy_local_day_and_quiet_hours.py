"""Pure policy clock rules: the household's local calendar day (daily limits), quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifier.policy import QuietHours, in_quiet_hours, local_day_start


@pytest.mark.parametrize(
    ("now", "tz", "start"),
    [
        # Seoul (UTC+9, no DST): the local day begins at 15:00 UTC the day before.
        (datetime(2026, 3, 2, 14, 59, tzinfo=UTC), "Asia/Seoul", datetime(2026, 3, 1, 15, 0, tzinfo=UTC)),
        (datetime(2026, 3, 2, 15, 0, tzinfo=UTC), "Asia/Seoul", datetime(2026, 3, 2, 15, 0, tzinfo=UTC)),
        # Berlin on the 23-hour day (clocks go forward at 02:00): midnight was still UTC+1.
        (datetime(2026, 3, 29, 20, 0, tzinfo=UTC), "Europe/Berlin", datetime(2026, 3, 28, 23, 0, tzinfo=UTC)),
        # ... and on the 25-hour day (back at 03:00): midnight was still UTC+2.
        (
            datetime(2026, 10, 25, 20, 0, tzinfo=UTC),
            "Europe/Berlin",
            datetime(2026, 10, 24, 22, 0, tzinfo=UTC),
        ),
        # Santiago skips midnight (00:00 -> 01:00): the day starts at the first local time there is.
        (datetime(2026, 9, 6, 12, 0, tzinfo=UTC), "America/Santiago", datetime(2026, 9, 6, 4, 0, tzinfo=UTC)),
        # Havana repeats midnight (01:00 -> 00:00): counted from the first 00:00.
        (datetime(2026, 11, 1, 12, 0, tzinfo=UTC), "America/Havana", datetime(2026, 11, 1, 4, 0, tzinfo=UTC)),
        # An unknown zone is taken as UTC rather than failing a step.
        (datetime(2026, 3, 2, 14, 0, tzinfo=UTC), "Mars/Olympus", datetime(2026, 3, 2, 0, 0, tzinfo=UTC)),
    ],
)
def test_local_day_start(now: datetime, tz: str, start: datetime) -> None:
    assert local_day_start(now, tz) == start


@pytest.mark.parametrize("tz", ["Asia/Seoul", "Europe/Berlin", "America/Santiago", "America/New_York"])
def test_the_local_day_start_is_on_the_same_local_date_and_a_second_earlier_is_not(tz: str) -> None:
    zone = ZoneInfo(tz)
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    while now.year == 2026:  # every day of a year, DST changes included
        start = local_day_start(now, tz)
        assert start <= now
        assert start.astimezone(zone).date() == now.astimezone(zone).date()
        assert (start - timedelta(seconds=1)).astimezone(zone).date() < now.astimezone(zone).date()
        now += timedelta(hours=23, minutes=7)


@pytest.mark.parametrize(
    ("local", "inside"),
    [
        (time(20, 59), False),
        (time(21, 0), True),
        (time(23, 59), True),
        (time(0, 0), True),
        (time(7, 59), True),
        (time(8, 0), False),
    ],
)
def test_quiet_hours_across_midnight(local: time, inside: bool) -> None:
    assert in_quiet_hours(local, QuietHours(start="21:00", end="08:00")) is inside


def test_quiet_hours_inside_one_day() -> None:
    quiet = QuietHours(start="12:00", end="14:00")
    assert [in_quiet_hours(time(h, 0), quiet) for h in (11, 12, 13, 14)] == [False, True, True, False]
