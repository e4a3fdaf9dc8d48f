"""One day of a household's activity, hour by hour, next to its usual for that weekday.

The household page's day view: people would rather look at "the kettle at 7, the TV at 8 in the
evening — and today nothing since" than read it. Local calendar days in the household's time
zone (a day may have 23 or 25 hours at a DST change; the hours are local clock hours).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from api.activity import HOURS_PER_DAY
from api.schemas import ActivityDay, DaySwitchOn
from core.enums import EdgeKind
from core.models import ActivityEdge, Device, Household

USUAL_WEEKS = 4  # the same weekday in each of the 4 weeks before: "usual", as in the heatmap


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar day as aware datetimes."""
    return (
        datetime.combine(day, time(0), tzinfo=zone),
        datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone),
    )


def hourly_counts(timestamps: Iterable[datetime], zone: ZoneInfo) -> list[int]:
    counts = [0] * HOURS_PER_DAY
    for ts in timestamps:
        counts[ts.astimezone(zone).hour] += 1
    return counts


def local_today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def activity_day(session: Session, household: Household, *, day: date, now: datetime) -> ActivityDay:
    """Switch-ons of *day* (up to *now*) per local hour, and the average of the same weekday over
    the :data:`USUAL_WEEKS` weeks before it."""
    assert household.id is not None
    zone = ZoneInfo(household.timezone)
    start, end = local_day_bounds(day, zone)
    earliest, _ = local_day_bounds(day - timedelta(weeks=USUAL_WEEKS), zone)
    rows = session.exec(
        select(ActivityEdge.ts, Device.appliance)
        .join(Device, col(Device.id) == col(ActivityEdge.device_id), isouter=True)
        .where(col(ActivityEdge.household_id) == household.id)
        .where(col(ActivityEdge.kind) == EdgeKind.ON)
        .where(col(ActivityEdge.ts) >= earliest)
        .where(col(ActivityEdge.ts) < min(end, now))
        .order_by(col(ActivityEdge.ts))
    ).all()
    today = [(ts, appliance) for ts, appliance in rows if ts >= start]
    usual = [0.0] * HOURS_PER_DAY
    for weeks in range(1, USUAL_WEEKS + 1):
        w_start, w_end = local_day_bounds(day - timedelta(weeks=weeks), zone)
        for hour, count in enumerate(hourly_counts((ts for ts, _ in rows if w_start <= ts < w_end), zone)):
            usual[hour] += count / USUAL_WEEKS
    return ActivityDay(
        timezone=household.timezone,
        date=day,
        until=min(end, now),
        hours=hourly_counts((ts for ts, _ in today), zone),
        usual_weeks=USUAL_WEEKS,
        usual=[round(value, 2) for value in usual],
        switch_ons=[DaySwitchOn(at=ts, appliance=appliance) for ts, appliance in today],
    )
