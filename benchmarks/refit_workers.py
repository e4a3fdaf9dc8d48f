"""The night's refits on K worker processes, on PostgreSQL (issue 15: 278k households in 4 h on 2 workers).

    .venv/bin/python benchmarks/refit_workers.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/test \
        [--households 200] [--days 28] [--workers 1,2]

In a private schema (dropped at the end): ``households`` watched households in UTC, each with
``days`` days of what a refit reads (benchmarks/refit.py's switch-ons and half hours, every hour
summarised in ``reading_hour`` as fully covered, the roll-up done up to the midnight). Then, for
each worker count K: no routine anywhere, and K processes each running the routine tick
(``anomaly.training.tick``: due query, claim, refit, re-arm the watch, record) with the refit
spread off, until nothing is due. Printed: the wall time until the last refit, refits a second,
and what that rate means for 278,000 households. ``--freeze off,on`` runs each worker count
without and then with the worker's start-up ``gc.freeze`` (core/heap.py), in the same run.
"""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier

from sqlalchemy import Engine, delete, func, insert
from sqlmodel import select

from anomaly import training
from benchmarks.refit import switch_ons_and_half_hours
from benchmarks.storage import add_households, pg_parser, private_schema
from core.clock import ManualClock
from core.db import make_engine, session_scope
from core.enums import WatchStatus
from core.heap import freeze_startup_objects
from core.migrate import upgrade
from core.models import (
    ActivityEdge,
    HouseBucket,
    ReadingHour,
    ReadingRollup,
    RoutineModel,
    RoutineRefit,
    Watch,
)
from core.settings import Settings

SETTINGS = Settings(inactivity_default_hours=12, routine_refit_spread_h=0)
COUNTRY = 278_000
NIGHT_H = 4


def main() -> None:
    parser = pg_parser(__doc__, households=200)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--workers", default="1,2", help="worker counts to run, in turn")
    parser.add_argument(
        "--freeze", default="on", help="off,on: without and/or with the worker's start-up gc.freeze, in turn"
    )
    args = parser.parse_args()
    with private_schema(args.pg) as url:
        upgrade(url)
        end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        engine = make_engine(url)
        fill(engine, args.households, args.days, end)
        print(f"{args.households} households of {args.days} days")
        runs = [(int(k), f == "on") for k in args.workers.split(",") for f in args.freeze.split(",")]
        for k, freeze in runs:
            reset(engine)
            wall = run_workers(url, k, end + timedelta(hours=1), freeze=freeze)
            with session_scope(engine) as s:
                fitted = s.exec(select(func.count()).select_from(RoutineModel)).one()
            rate = fitted / wall
            print(
                f"{k} worker(s), gc.freeze {'on' if freeze else 'off'}: {fitted} refits in {wall:.1f} s, {rate:.1f} refits/s "
                f"({wall * 1000 * k / max(fitted, 1):.0f} ms a refit a worker); "
                f"{COUNTRY:,} households: {COUNTRY / rate / 3600:.2f} h (target {NIGHT_H} h)"
            )
        engine.dispose()


def fill(engine: Engine, households: int, days: int, end: datetime) -> None:
    start = end - timedelta(days=days)
    add_households(engine, households, 3, start, timezone="UTC")
    edges, buckets = switch_ons_and_half_hours(dict.fromkeys(range(1, households + 1), days), start, days, 3)
    hours = [start + timedelta(hours=k) for k in range(days * 24)]
    with session_scope(engine) as s:
        s.execute(insert(ActivityEdge), edges)
        s.execute(insert(HouseBucket), buckets)
        for h in range(1, households + 1):
            s.execute(
                insert(ReadingHour), [{"household_id": h, "hour": at, "covered_s": 3600} for at in hours]
            )
        s.execute(
            insert(ReadingRollup),
            [
                {"household_id": h, "rolled_until": end, "first_reading_at": start}
                for h in range(1, households + 1)
            ],
        )
        s.execute(
            insert(Watch),
            [
                {
                    "household_id": h,
                    "status": WatchStatus.UP,
                    "last_activity_at": end,
                    "alert_after": end + timedelta(hours=12),
                    "updated_at": end,
                }
                for h in range(1, households + 1)
            ],
        )


def reset(engine: Engine) -> None:
    with session_scope(engine) as s:
        s.execute(delete(RoutineModel))
        s.execute(delete(RoutineRefit))


def run_workers(url: str, workers: int, now: datetime, *, freeze: bool = True) -> float:
    """Wall seconds from starting ``workers`` processes to the last one finding nothing due."""
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Barrier(workers + 1)
    procs = [ctx.Process(target=worker, args=(url, now, ready, freeze)) for _ in range(workers)]
    for p in procs:
        p.start()
    ready.wait()  # every worker imported and connected: time the refits only
    t = time.perf_counter()
    for p in procs:
        p.join()
    return time.perf_counter() - t


def worker(url: str, now: datetime, ready: Barrier, freeze: bool) -> None:
    engine = make_engine(url)
    with session_scope(engine) as s:
        training.due_refits(s, now, SETTINGS)  # connect and warm up before the clock starts
    if freeze:
        freeze_startup_objects()  # as anbu.runtime.start_ticks does in the worker
    ready.wait()
    clock = ManualClock(now)
    while True:
        training.tick(engine, clock, SETTINGS, budget_s=10**6)
        with session_scope(engine) as s:
            if not training.due_refits(s, now, SETTINGS):
                break
    engine.dispose()


if __name__ == "__main__":
    main()
