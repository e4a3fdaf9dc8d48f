"""Per-household hourly summaries of raw readings, so the detector need not keep raw rows (issue 15.3).

The routine fit and the unusual-pattern findings read from raw readings only *when data came in*
(``anomaly.routine.add_coverage``): seconds of data per UTC hour. The worker rolls closed hours
up into ``reading_hour`` (anomaly/rollup.py; read by anomaly/reading_hours.py); switch-ons and
the house level's half hours were already their own tables (``activity_edge``, ``house_bucket``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from core.models._base import utc
from core.types import UTCDateTime


class ReadingHour(SQLModel, table=True):
    """One UTC hour of one household's readings: how many of its seconds were covered by data.

    Exactly what ``add_coverage`` credits that hour over the household's merged reading times
    (every plug), including the stretch up to the first reading of the next hour; hours without
    any data have no row.
    """

    __tablename__ = "reading_hour"

    household_id: int = Field(foreign_key="household.id", primary_key=True)
    hour: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    covered_s: int = 0


class ReadingRollup(SQLModel, table=True):
    """How far a household's readings are rolled up into ``reading_hour``, and who is doing it.

    ``rolled_until``: every hour before it is summarised (None: nothing yet). A reading that
    arrives late for an hour already rolled up moves it back (anomaly.rollup.rewind_late).
    ``first_reading_at``: the household's first reading ever (the routine fit's "days of data"),
    kept here because retention removes it from ``reading``.
    ``claimed_until``: a worker's lease while it rolls up (the database's clock).
    """

    __tablename__ = "reading_rollup"

    household_id: int = Field(foreign_key="household.id", primary_key=True)
    rolled_until: datetime | None = utc(nullable=True)
    first_reading_at: datetime | None = utc(nullable=True)
    claimed_until: datetime | None = utc(nullable=True)


class ReadingRollupCursor(SQLModel, table=True):
    """One row: the highest ``reading.id`` already checked for late arrivals."""

    __tablename__ = "reading_rollup_cursor"

    id: int = Field(default=1, primary_key=True)
    last_reading_id: int = Field(default=0, sa_type=BigInteger)
