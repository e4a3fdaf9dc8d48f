"""Hour-of-week activity counts: the household page's heatmap, as pure functions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

DAYS_PER_WEEK = 7
HOURS_PER_DAY = 24


def empty_grid() -> list[list[int]]:
    return [[0] * HOURS_PER_DAY for _ in range(DAYS_PER_WEEK)]


def hour_of_week_counts(timestamps: Iterable[datetime], timezone: str) -> list[list[int]]:
    """Count aware timestamps into ``grid[weekday][hour]`` (Monday = 0) in *timezone*'s local time.

    Local time, because a routine is "kettle at 7 in the morning" wherever the server runs.
    """
    zone = ZoneInfo(timezone)
    grid = empty_grid()
    for ts in timestamps:
        local = ts.astimezone(zone)
        grid[local.weekday()][local.hour] += 1
    return grid


def average_week(grid: list[list[int]], weeks: int) -> list[list[float]]:
    """A grid of counts over *weeks* weeks → the average week (rounded to 2 places)."""
    if weeks <= 0:
        return [[0.0] * HOURS_PER_DAY for _ in range(DAYS_PER_WEEK)]
    return [[round(count / weeks, 2) for count in row] for row in grid]
