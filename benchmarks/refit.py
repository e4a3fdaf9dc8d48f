"""One household's routine refit on PostgreSQL, from raw readings and from hourly summaries (issue 15.3).

    .venv/bin/python benchmarks/refit.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/test \
        [--households 30] [--histories 7,28,60] [--plugs 3] [--every-s 60]

In a private schema (dropped at the end; benchmarks/storage.py's): ``households`` households of
``plugs`` plugs, household ``h`` with ``histories[h % len]`` days of readings up to a UTC midnight,
one every ``every_s`` seconds a plug, all written interleaved in time order as the gateway
writes them (so one household's readings are spread over many pages), with 8 switch-ons and
offs a day and the house level's 48 half hours a day. Then, per history length:

- the refit (``anomaly.training.retrain_household``, rolled back) from raw readings, as before
  (medians over the households, warm cache: each is run twice and the second timed);
- the roll-up of everything (``anomaly.rollup.tick``) and its time per household-day, and the
  steady state: one more hour of readings, then the tick that rolls it up;
- the refit from the summaries (the same routine: tests/integration/anomaly/test_reading_hours_db.py);

and the bytes of ``reading_hour`` (table + index), ``activity_edge`` and ``house_bucket`` per
household-day, against a raw reading's.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, text
from sqlmodel import Session, select

from anomaly import reading_hours, rollup, training
from anomaly.detector import DetectorParams
from benchmarks.storage import COLUMNS, add_households, make_partitions, pg_parser, private_schema
from core.bulk import insert_ignore, table_of
from core.clock import ManualClock
from core.db import make_engine, session_scope
from core.enums import EdgeKind
from core.migrate import upgrade
from core.models import ActivityEdge, Device, HouseBucket, Reading, ReadingHour
from core.settings import Settings

SETTINGS = Settings(inactivity_default_hours=12)
STEPS_A_TRANSACTION = 30


def main() -> None:
    parser = pg_parser(__doc__, households=30)
    parser.add_argument("--histories", default="7,28,60", help="days of readings, households round-robin")
    parser.add_argument("--plugs", type=int, default=3)
    parser.add_argument("--every-s", type=int, default=60)
    args = parser.parse_args()
    with private_schema(args.pg) as url:
        run(url, args)


def fill(engine: Engine, args: argparse.Namespace, history: dict[int, int], end: datetime) -> int:
    days = max(history.values())
    start = end - timedelta(days=days)
    make_partitions(engine, start, days + 1)
    devices = add_households(engine, args.households, args.plugs, end, timezone="UTC")
    since = {d: end - timedelta(days=history[(d - 1) // args.plugs + 1]) for d in devices}
    table = table_of(Reading)
    steps = days * 86400 // args.every_s
    total = 0
    for first in range(0, steps, STEPS_A_TRANSACTION):
        rows = []
        for step in range(first, min(steps, first + STEPS_A_TRANSACTION)):
            for d in devices:
                # Each plug on its own second of the minute, as real plugs report.
                ts = start + timedelta(seconds=step * args.every_s + d % args.every_s)
                if ts >= since[d]:
                    rows.append((d, "0", ts, ts, 12.5, None, False))
        with engine.begin() as conn:
            total += insert_ignore(conn, table, COLUMNS, ("device_id", "channel", "ts"), rows)
    edges, buckets = switch_ons_and_half_hours(history, start, days, args.plugs)
    with session_scope(engine) as s:
        s.execute(insert(ActivityEdge), edges)
        s.execute(insert(HouseBucket), buckets)
    return total


def switch_ons_and_half_hours(
    history: dict[int, int], start: datetime, days: int, plugs: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Household ``h``'s last ``history[h]`` of ``days`` days from ``start``: 8 switch-ons (and offs 3
    minutes later) a day at random between 06:00 and 23:00 on its first plug, and the house
    level's 48 half hours a day; rows for ``insert(ActivityEdge)`` and ``insert(HouseBucket)``,
    each in time order."""
    rng = random.Random(1)
    edges, buckets = [], []
    for day in range(days):
        midnight = start + timedelta(days=day)
        for h, n in history.items():
            if midnight < start + timedelta(days=days - n):
                continue
            device = (h - 1) * plugs + 1
            for _ in range(8):
                on = midnight + timedelta(hours=rng.uniform(6, 23))
                edges += [
                    {
                        "household_id": h,
                        "device_id": device,
                        "channel": "0",
                        "ts": on,
                        "kind": EdgeKind.ON,
                        "power_w": 1800.0,
                    },
                    {
                        "household_id": h,
                        "device_id": device,
                        "channel": "0",
                        "ts": on + timedelta(minutes=3),
                        "kind": EdgeKind.OFF,
                        "power_w": 0.0,
                    },
                ]
            buckets += [
                {
                    "household_id": h,
                    "start": midnight + timedelta(minutes=30 * k),
                    "level_w": 150.0,
                    "plug_on": False,
                }
                for k in range(48)
            ]
    return sorted(edges, key=lambda e: e["ts"]), sorted(buckets, key=lambda b: b["start"])


def refit_ms(engine: Engine, household_id: int, now: datetime) -> tuple[float, float, float]:
    """The second of two refits (the first warms the cache), rolled back: its wall time, this
    process's CPU time (the fit itself; the database works in its own process), and the wall
    time of reading the readings alone (first reading and seconds of data per hour), in ms."""
    params = DetectorParams()
    end = training.last_local_midnight(now, "UTC")
    start = end - timedelta(days=params.fit.window_days)
    figures = (0.0, 0.0, 0.0)
    for _ in range(2):
        with Session(engine) as s:
            t, cpu = time.perf_counter(), time.process_time()
            training.retrain_household(s, household_id, now, SETTINGS, params)
            s.flush()
            wall, cpu = time.perf_counter() - t, time.process_time() - cpu
            s.rollback()
            devices = s.exec(select(Device.id).where(Device.household_id == household_id)).all()
            t = time.perf_counter()
            rollup = reading_hours.rollup_of(s, household_id)
            reading_hours.first_reading(s, devices, rollup=rollup)
            reading_hours.household_coverage(
                s, household_id, devices, start, end, params.coverage_gap_s, rollup=rollup
            )
            figures = (wall * 1000, cpu * 1000, (time.perf_counter() - t) * 1000)
    return figures


def vacuum(engine: Engine) -> None:
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        for model in (Reading, ReadingHour, ActivityEdge, HouseBucket):
            conn.execute(text(f"VACUUM ANALYZE {table_of(model).name}"))


def size(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT pg_total_relation_size('{table}')")).scalar_one())


def run(url: str, args: argparse.Namespace) -> None:
    upgrade(url)
    engine = make_engine(url)
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    lengths = [int(x) for x in args.histories.split(",")]
    history = {h: lengths[h % len(lengths)] for h in range(1, args.households + 1)}
    t = time.perf_counter()
    readings = fill(engine, args, history, end)
    print(f"readings: {readings:,} in {time.perf_counter() - t:.0f} s; households {args.households}")
    vacuum(engine)
    now = end + timedelta(hours=1)
    raw: dict[int, list[tuple[float, float, float]]] = defaultdict(list)
    for h, n in history.items():
        raw[n].append(refit_ms(engine, h, now))

    with engine.begin() as conn:  # as the migration does: rows already stored are not late arrivals
        conn.execute(text("UPDATE reading_rollup_cursor SET last_reading_id = (SELECT max(id) FROM reading)"))
    clock = ManualClock(now)
    t = time.perf_counter()
    rolled = rollup.tick(engine, clock, SETTINGS, budget_s=10**6)
    roll_s = time.perf_counter() - t
    household_days = sum(history.values())
    print(
        f"roll-up of {rolled} households' whole history: {roll_s:.1f} s, {roll_s / household_days * 1000:.1f} ms a household-day"
    )
    vacuum(engine)
    summary: dict[int, list[tuple[float, float, float]]] = defaultdict(list)
    for h, n in history.items():
        summary[n].append(refit_ms(engine, h, now))

    print(
        "| history (days) | from raw readings: refit wall / CPU, reading the readings (ms) "
        "| from summaries: refit wall / CPU, reading the summaries (ms) |"
    )
    print("|---|---|---|")
    for n in lengths:
        cells = []
        for figures in (raw[n], summary[n]):
            wall, cpu, read = (statistics.median(f[k] for f in figures) for k in range(3))
            cells.append(f"{wall:.0f} / {cpu:.0f}, {read:.0f}")
        print(f"| {n} | {cells[0]} | {cells[1]} |")
    print("(medians over the households of each history length)")
    hours = size(engine, "reading_hour")
    edges, buckets = size(engine, table_of(ActivityEdge).name), size(engine, table_of(HouseBucket).name)
    with engine.connect() as conn:
        reading_bytes = int(
            conn.execute(
                text(
                    "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'reading'::regclass"
                )
            ).scalar_one()
        )
    print(
        f"bytes a household-day: reading_hour {hours / household_days:.0f}, activity_edge (16 edges) "
        f"{edges / household_days:.0f}, house_bucket {buckets / household_days:.0f}; "
        f"raw readings {reading_bytes / household_days:.0f} ({reading_bytes / readings:.0f} a reading)"
    )
    steady_state(engine, args, end)
    engine.dispose()


def steady_state(engine: Engine, args: argparse.Namespace, end: datetime) -> None:
    """The next hour's readings, then the tick that rolls it up: the worker's hourly work."""
    devices = range(1, args.households * args.plugs + 1)
    rows = [
        (d, "0", end + timedelta(seconds=step * args.every_s + d % args.every_s), end, 12.5, None, False)
        for step in range(3600 // args.every_s)
        for d in devices
    ]
    with engine.begin() as conn:
        insert_ignore(conn, table_of(Reading), COLUMNS, ("device_id", "channel", "ts"), rows)
    clock = ManualClock(end + timedelta(hours=1) + rollup.SETTLE + timedelta(minutes=6))
    t = time.perf_counter()
    rolled = rollup.tick(engine, clock, SETTINGS, budget_s=10**6)
    tick_s = time.perf_counter() - t
    print(
        f"steady state: the tick rolling up the next hour of {rolled} households took {tick_s * 1000:.0f} ms, "
        f"{tick_s * 1000 / max(rolled, 1):.1f} ms a household-hour"
    )


if __name__ == "__main__":
    main()
