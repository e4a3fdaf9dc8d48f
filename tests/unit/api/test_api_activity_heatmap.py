"""Hour-of-week counting in the household's local time."""

from __future__ import annotations

from datetime import UTC, datetime

from api.activity import average_week, hour_of_week_counts


def test_counts_land_in_the_households_local_weekday_and_hour() -> None:
    # Sunday 2026-03-01 22:30 UTC is Monday 07:30 in Seoul (UTC+9).
    stamps = [datetime(2026, 3, 1, 22, 30, tzinfo=UTC), datetime(2026, 3, 1, 22, 59, tzinfo=UTC)]
    grid = hour_of_week_counts(stamps, "Asia/Seoul")
    assert grid[0][7] == 2
    assert sum(map(sum, grid)) == 2
    utc_grid = hour_of_week_counts(stamps, "UTC")
    assert utc_grid[6][22] == 2  # the same instants are Sunday 22:00 in UTC


def test_grid_is_seven_by_twenty_four_even_when_empty() -> None:
    grid = hour_of_week_counts([], "Asia/Seoul")
    assert len(grid) == 7 and all(len(row) == 24 for row in grid)
    assert sum(map(sum, grid)) == 0


def test_average_week_divides_by_weeks_and_survives_zero() -> None:
    grid = hour_of_week_counts([datetime(2026, 3, 2, 0, 0, tzinfo=UTC)] * 3, "UTC")
    assert average_week(grid, 4)[0][0] == 0.75
    assert average_week(grid, 0)[0][0] == 0.0
