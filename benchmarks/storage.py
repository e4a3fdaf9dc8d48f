"""Storage of raw readings on PostgreSQL: bytes a reading, and retention by dropping a day vs deleting it.

    .venv/bin/python benchmarks/storage.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/test \
        [--households 200] [--days 7] [--plugs 3] [--every-s 60]

Works in a private schema (dropped at the end): migrates it to head (``reading`` partitioned by
day, core/reading_partitions.py), fills ``households × plugs`` devices with one reading every
``every_s`` seconds for ``days`` days through the ingest's own bulk insert, then prints

- bytes a reading (table + indexes, all partitions, after VACUUM ANALYZE) and the projection for
  a 2,000-household district at 3 plugs × 1/min for the default retention (90 days) and for 30;
- the time to remove one day of readings by dropping its partition, and by the batched delete
  that SQLite (and PostgreSQL before the partitions) uses, as a ratio.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, text

from core import reading_partitions
from core.bulk import insert_ignore, table_of
from core.db import make_engine, session_scope
from core.enums import DeviceVendor
from core.migrate import upgrade
from core.models import Device, Household, Reading
from notifier.retention import Limits, delete_oldest
from tests.factories import make_team

COLUMNS = ("device_id", "channel", "ts", "received_at", "power_w", "energy_wh", "clock_suspect")
DISTRICT_READINGS_A_DAY = 2000 * 3 * 1440


def main() -> None:
    parser = pg_parser(__doc__, households=200)
    parser.add_argument("--plugs", type=int, default=3)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--every-s", type=int, default=60)
    args = parser.parse_args()

    with private_schema(args.pg) as url:
        run(url, args)


def pg_parser(doc: str | None, *, households: int) -> argparse.ArgumentParser:
    """A PostgreSQL benchmark's command line: its docstring, ``--pg`` and ``--households``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", required=True, help="PostgreSQL URL (a private schema is made in it)")
    parser.add_argument("--households", type=int, default=households)
    return parser


@contextmanager
def private_schema(pg_url: str) -> Iterator[str]:
    """A fresh schema in the PostgreSQL database at ``pg_url`` (dropped afterwards): its URL."""
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in pg_url else "?"
    try:
        yield f"{pg_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def add_households(
    engine: Engine, households: int, plugs: int, created: datetime, *, timezone: str = "Asia/Seoul"
) -> list[int]:
    """Households 1..n, each with ``plugs`` plugs (device ``d`` in household ``(d - 1) // plugs + 1``)."""
    with session_scope(engine) as s:
        team = make_team(s, name="bench")
        s.execute(
            insert(Household),
            [
                {"id": h, "team_id": team.id, "code": f"B-{h}", "created_at": created, "timezone": timezone}
                for h in range(1, households + 1)
            ],
        )
        devices = list(range(1, households * plugs + 1))
        s.execute(
            insert(Device),
            [
                {
                    "id": d,
                    "vendor": DeviceVendor.NATIVE,
                    "external_id": f"b-{d}",
                    "household_id": (d - 1) // plugs + 1,
                    "created_at": created,
                }
                for d in devices
            ],
        )
    return devices


def make_partitions(engine: Engine, start: datetime, days: int) -> None:
    with engine.begin() as conn:
        for n in range(days + 1):
            day = (start + timedelta(days=n)).date()
            if day not in reading_partitions.existing_days(conn):
                reading_partitions.make_partition(conn, day)


def run(url: str, args: argparse.Namespace) -> None:
    upgrade(url)
    engine = make_engine(url)
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=args.days)
    make_partitions(engine, start, args.days)
    devices = add_households(engine, args.households, args.plugs, end)
    steps = args.days * 86400 // args.every_s
    total = 0
    filled = time.perf_counter()
    table = table_of(Reading)
    for step in range(steps):
        ts = start + timedelta(seconds=step * args.every_s)
        rows = [(d, "0", ts, ts, 12.5, None, False) for d in devices]
        with engine.begin() as conn:
            total += insert_ignore(conn, table, COLUMNS, ("device_id", "channel", "ts"), rows)
    filled = time.perf_counter() - filled
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE reading"))
        size = conn.execute(
            text(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'reading'::regclass"
            )
        ).scalar_one()
    per = size / total
    print(f"readings: {total:,} ({len(devices)} plugs x {steps} steps) in {filled:.1f} s")
    print(f"bytes a reading (table + indexes): {per:.0f}")
    for days in (90, 30):
        gib = per * DISTRICT_READINGS_A_DAY * days / 2**30
        print(f"2,000-household district, 3 plugs x 1/min, {days} days kept: {gib:.0f} GiB")

    # One day removed two ways: its partition dropped, and the batched delete by arrival.
    first_day = start.date()
    t = time.perf_counter()
    dropped = reading_partitions.drop_old(engine, start + timedelta(days=1))
    drop_s = time.perf_counter() - t
    t = time.perf_counter()
    deleted = delete_oldest(
        engine,
        Reading,
        Reading.received_at,
        start + timedelta(days=2),
        Limits(batch_size=1000, max_batches=10**6),
    )
    delete_s = time.perf_counter() - t
    print(
        f"drop the partition of {first_day}: {drop_s * 1000:.0f} ms ({dropped[0]} partition, ~{dropped[1]:,} rows)"
    )
    print(
        f"batched delete of the next day: {delete_s * 1000:.0f} ms ({deleted:,} rows): {delete_s / drop_s:.0f}x the drop"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
