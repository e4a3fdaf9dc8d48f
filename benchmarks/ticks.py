"""Cost of the worker's ticks against the number of households, old per-household loops vs set-based.

Seeds a fresh, migrated database (a temporary SQLite file, or a private schema on PostgreSQL that
is dropped afterwards) with N households of 3 plugs each, every plug heard a minute ago, every
watch armed, every routine fitted last local midnight; then 1 % of the households have plugs
silent past their limit (connectivity has work) and another 1 % are past their deadline (the
sweeper has work). Each tick runs on the same state for the old loop (``tests/oracles``) and the
set-based code (mutable rows are reset between runs), then again on the unchanged state
("again"; "then", after three more: for the sweeper, the first re-check of the households it
made overdue, then the steady state), and is printed in ms and as a ratio to a reference measured in
the same run: a bare ``SELECT count(*)`` over the tables the ticks read (device, household,
watch), so figures from different machines and loads can be compared.

    .venv/bin/python benchmarks/ticks.py --households 1000,10000
    ANBU_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python benchmarks/ticks.py --households 1000,10000,100000 --old-up-to 10000

``--database-url`` wins over ``ANBU_DATABASE_URL``, which wins over ``ANBU_TEST_DATABASE_URL``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, insert, text, update
from sqlmodel import col

from anomaly import sweeper, training
from core.clock import ManualClock
from core.db import make_engine, session_scope
from core.enums import DeviceStatus, DeviceVendor, WatchStatus
from core.migrate import upgrade
from core.models import Case, CaseEvent, Device, Household, RoutineModel, Watch
from core.settings import Settings
from gateway import connectivity
from tests.factories import make_team
from tests.integration.anomaly.test_sweeper_batched import fitted_routine_json
from tests.oracles import per_household_ticks as old

NOW = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)  # 14:00 in Seoul
TZ = "Asia/Seoul"
PLUGS = 3
SETTINGS = Settings(_env_file=None)
SILENT, DUE = 50, 0  # household id % 100: plugs silent / past the deadline
SETTLE_TICKS = 3  # untimed ticks between "again" and "then"


def seed(engine: Engine, households: int) -> None:
    model = fitted_routine_json(NOW)
    fitted = training.last_local_midnight(NOW, TZ)
    with session_scope(engine) as s:
        team = make_team(s, name="bench")
        for lo in range(1, households + 1, 5000):
            ids = range(lo, min(households, lo + 4999) + 1)
            s.execute(
                insert(Household),
                [
                    {"id": i, "team_id": team.id, "code": f"B-{i}", "timezone": TZ, "created_at": NOW}
                    for i in ids
                ],
            )
            s.execute(
                insert(Device),
                [
                    {
                        "id": (i - 1) * PLUGS + k + 1,
                        "vendor": DeviceVendor.NATIVE,
                        "external_id": f"b-{i}-{k}",
                        "household_id": i,
                        "status": DeviceStatus.ASSIGNED,
                        "appliance": "kettle" if k == 0 else f"plug{k}",
                        "created_at": NOW,
                        "online": True,
                        "last_seen_at": NOW - timedelta(seconds=60),
                        "last_reading_at": NOW - timedelta(seconds=60),
                        "report_interval_s": 60.0,
                    }
                    for i in ids
                    for k in range(PLUGS)
                ],
            )
            s.execute(
                insert(Watch),
                [
                    {
                        "household_id": i,
                        "status": WatchStatus.UP,
                        "last_activity_at": NOW - timedelta(hours=1),
                        "last_activity_device_id": (i - 1) * PLUGS + 1,
                        "alert_after": NOW + timedelta(hours=6),
                        "updated_at": NOW,
                    }
                    for i in ids
                ],
            )
            s.execute(
                insert(RoutineModel),
                [{"household_id": i, "fitted_at": fitted, "days_used": 28, "model": model} for i in ids],
            )
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for table in ("household", "device"):
                conn.execute(text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))
            # This schema's tables only: a bare ANALYZE walks every schema on the server and
            # waits behind other sessions' locks on theirs.
            tables = [
                t
                for (t,) in conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
                )
            ]
            conn.execute(text("ANALYZE " + ", ".join(f'"{t}"' for t in tables)))


def reset(engine: Engine) -> None:
    """Back to the seeded state: plugs online, no cases, watches armed; then 1 % silent, 1 % due."""
    with engine.begin() as conn:
        conn.execute(delete(CaseEvent))
        conn.execute(delete(Case))
        conn.execute(update(Device).values(online=True, last_seen_at=NOW - timedelta(seconds=60)))
        conn.execute(
            update(Device)
            .where(col(Device.household_id) % 100 == SILENT)
            .values(last_seen_at=NOW - timedelta(hours=2))
        )
        conn.execute(
            update(Watch).values(
                status=WatchStatus.UP,
                alert_after=NOW + timedelta(hours=6),
                last_activity_at=NOW - timedelta(hours=1),
                checked_inputs=None,
                next_recheck_at=None,
            )
        )
        conn.execute(
            update(Watch)
            .where(col(Watch.household_id) % 100 == DUE)
            .values(alert_after=NOW - timedelta(minutes=1), last_activity_at=NOW - timedelta(hours=30))
        )
    vacuum(engine)


# The tables reset() rewrites whole. This machine's PostgreSQL runs with autovacuum off, so every
# reset left a dead copy of each row: after a few runs the device table was 1.3 GB for 38 MB of
# rows, and a tick's scans read the dead rows (0.35 s for connectivity's offline query at 100k,
# 0.01 s after). A server with autovacuum on frees them for reuse, as VACUUM does here.
RESET_TABLES = ("device", "watch", "alert_case", "caseevent")


def vacuum(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"VACUUM (ANALYZE) {', '.join(RESET_TABLES)}"))


def reference(engine: Engine) -> float:
    with engine.connect() as conn:
        started = time.perf_counter()
        conn.execute(
            text(
                "SELECT (SELECT count(*) FROM device) + (SELECT count(*) FROM household)"
                " + (SELECT count(*) FROM watch)"
            )
        ).scalar_one()
        return time.perf_counter() - started


def timed(run: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


@contextmanager
def database(url: str | None, households: int) -> Iterator[Engine]:
    if url and url.startswith("postgresql"):
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = make_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        scoped = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
        try:
            upgrade(scoped)
            engine = make_engine(scoped)
            yield engine
            engine.dispose()
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
        return
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / f'ticks-{households}.db'}"
        upgrade(sqlite_url)
        engine = make_engine(sqlite_url)
        yield engine
        engine.dispose()


TICKS: dict[str, tuple[Callable[..., object], Callable[..., object]]] = {
    "connectivity": (old.connectivity_tick, connectivity.tick),
    "routine_check": (old.training_tick, training.tick),
    "sweeper": (old.sweeper_tick, sweeper.tick),
}


def run(url: str | None, households: int, repeat: int, with_old: bool, ticks: list[str]) -> dict[str, Any]:
    with database(url, households) as engine:
        started = time.perf_counter()
        seed(engine, households)
        seeded = time.perf_counter() - started
        clock = ManualClock(NOW)
        refs = [reference(engine) for _ in range(5)]
        ref = statistics.median(refs)
        out: dict[str, Any] = {
            "dialect": engine.dialect.name,
            "households": households,
            "seed_s": round(seeded, 1),
            "reference_ms": round(ref * 1000, 2),
            "ticks": {},
        }
        for name in ticks:
            old_tick, new_tick = TICKS[name]
            row: dict[str, Any] = {}
            for label, tick in (("old", old_tick), ("new", new_tick)):
                if label == "old" and not with_old:
                    continue
                times, steady, then = [], [], []
                for _ in range(1 if label == "old" else repeat):
                    reset(engine)
                    elapsed, result = timed(lambda t=tick: t(engine, clock, SETTINGS))  # type: ignore[misc]
                    times.append(elapsed)
                    # The same tick again: nothing has changed since. For the sweeper this is the
                    # first re-check of the households it just made overdue (and, past 50k
                    # households, the opening of what its 500-a-tick limit left).
                    steady.append(timed(lambda t=tick: t(engine, clock, SETTINGS))[0])  # type: ignore[misc]
                    # Settle: the sweeper raises the cases to critical (the seeded quiet is past
                    # the ladder's critical time) and re-checks them once more (their case
                    # changed); then nothing changes any more: the steady state ("then").
                    for _ in range(SETTLE_TICKS):
                        tick(engine, clock, SETTINGS)
                    then.append(timed(lambda t=tick: t(engine, clock, SETTINGS)))  # type: ignore[misc]
                row[label] = {
                    "ms": round(statistics.median(times) * 1000, 1),
                    "ratio": round(statistics.median(times) / ref, 1),
                    "again_ms": round(statistics.median(steady) * 1000, 1),
                    "then_ms": round(statistics.median(t for t, _ in then) * 1000, 1),
                    "result": _plain(result),
                    "then_result": _plain(then[-1][1]),
                }
            out["ticks"][name] = row
        return out


def _plain(result: object) -> object:
    return getattr(result, "__dict__", result)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--households", default="1000,10000", help="comma-separated sizes")
    parser.add_argument("--ticks", default=",".join(TICKS), help="comma-separated: " + ", ".join(TICKS))
    parser.add_argument("--repeat", type=int, default=3, help="runs of each set-based tick (median)")
    parser.add_argument(
        "--old-up-to", type=int, default=10_000, help="time the old loops only up to this many households"
    )
    args = parser.parse_args()
    url = args.database_url or os.environ.get("ANBU_DATABASE_URL") or os.environ.get("ANBU_TEST_DATABASE_URL")
    for n in (int(x) for x in args.households.split(",")):
        result = run(url, n, args.repeat, n <= args.old_up_to, args.ticks.split(","))
        print(json.dumps(result), flush=True)
        ref = result["reference_ms"]
        print(f"# {result['dialect']} {n} households, reference {ref} ms (seeded in {result['seed_s']} s)")
        for name, row in result["ticks"].items():
            line = ", ".join(
                f"{label} {v['ms']} ms ({v['ratio']}× ref; again {v['again_ms']} ms, then {v['then_ms']} ms)"
                for label, v in row.items()
            )
            print(f"#   {name}: {line}")


if __name__ == "__main__":
    main()
