"""Seconds of data per hour of a household, from hourly summaries where rolled up (issue 15.3).

What the routine fit and the pattern findings take from raw readings is only *when data came
in*: :func:`anomaly.routine.add_coverage` over the household's merged reading times gives the
seconds of data per UTC hour. The worker's roll-up (anomaly/rollup.py) writes that per closed
hour into ``reading_hour``; :func:`household_coverage` answers from it and reads raw rows only
for the hours not rolled up yet (about the last hour). Switch-ons and the house level's half
hours were already their own tables. So the routine fitted from summaries is the one fitted from
raw rows (tests/integration/anomaly/test_reading_hours_db.py), and raw readings can be dropped
long before the 28 days the fit looks back.

Exact, not approximate: an hour's credit depends only on the reading times from ``gap`` before
it to ``gap`` after it (a pair of readings further apart credits nothing between them), so a
roll-up of ``[a, b)`` reads ``[a - gap, b + gap)``, and a raw tail read from ``b - gap`` credits
the hours from ``b`` on as a read of the whole window would.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from anomaly.routine import add_coverage
from core.models import Reading, ReadingHour, ReadingRollup


def floor_hour(at: datetime) -> datetime:
    ts = int(at.timestamp())
    return datetime.fromtimestamp(ts - ts % 3600, UTC)


def reading_times(
    session: Session, device_ids: Sequence[int | None], start: datetime, end: datetime
) -> list[int]:
    rows = session.exec(
        select(Reading.ts)
        .where(col(Reading.device_id).in_(device_ids), Reading.ts >= start, Reading.ts < end)
        .distinct()
        .order_by(col(Reading.ts))
    ).all()
    return [int(ts.timestamp()) for ts in rows]


def credit(times: Sequence[int], gap_s: int) -> dict[int, int]:
    coverage: dict[int, int] = {}
    prev: int | None = None
    for t in times:
        add_coverage(coverage, prev, t, gap_s)
        prev = t
    return coverage


def raw_coverage(
    session: Session, device_ids: Sequence[int | None], start: datetime, end: datetime, gap_s: int
) -> dict[int, int]:
    """``add_coverage`` over the distinct reading times of ``device_ids`` in ``[start, end)``."""
    return credit(reading_times(session, device_ids, start, end), gap_s)


def household_coverage(
    session: Session,
    household_id: int,
    device_ids: Sequence[int | None],
    start: datetime,
    end: datetime,
    gap_s: int,
    *,
    rollup: ReadingRollup | None,
) -> dict[int, int]:
    """Seconds of data per UTC hour (unix start → seconds) for the hours from ``start`` on, as
    :func:`raw_coverage` of ``[start - gap, end)`` credits them: from ``reading_hour`` for the
    hours rolled up, from raw readings for the rest. Without summaries it *is* that raw read
    (the hour holding ``start - gap`` included). ``rollup``: the household's roll-up row
    (:func:`rollup_of`; passed in, so a caller that needs it twice reads it once)."""
    gap = timedelta(seconds=gap_s)
    upto = None
    if rollup is not None and rollup.rolled_until is not None:
        # The raw tail must start at least a gap before ``end``: a summarised hour's credit may
        # come from a reading in the next hour's first ``gap`` seconds.
        upto = min(rollup.rolled_until, floor_hour(end - gap))
    if upto is None or upto <= start:
        return raw_coverage(session, device_ids, start - gap, end, gap_s)
    rows = session.exec(
        select(ReadingHour.hour, ReadingHour.covered_s).where(
            ReadingHour.household_id == household_id,
            col(ReadingHour.hour) >= start,
            col(ReadingHour.hour) < upto,
        )
    ).all()
    coverage = {int(hour.timestamp()): seconds for hour, seconds in rows}
    upto_s = int(upto.timestamp())
    tail = raw_coverage(session, device_ids, upto - gap, end, gap_s)
    coverage.update((hour, seconds) for hour, seconds in tail.items() if hour >= upto_s)
    return coverage


def rollup_of(session: Session, household_id: int) -> ReadingRollup | None:
    """The household's roll-up row (how far its hours are summarised, its first reading), if any."""
    return session.get(ReadingRollup, household_id)


def first_reading(
    session: Session, device_ids: Sequence[int | None], *, rollup: ReadingRollup | None
) -> datetime | None:
    """The household's first reading ever (kept by the roll-up, ``rollup``: retention removes it
    from ``reading``)."""
    if rollup is not None and rollup.first_reading_at is not None:
        return rollup.first_reading_at
    first: datetime | None = session.exec(
        select(func.min(Reading.ts)).where(col(Reading.device_id).in_(device_ids))
    ).one()
    return first
