"""Cost of the live pattern tick (``anomaly.patterns.tick``) for one household on a real database.

Seeds a fresh, migrated database with households like a live deployment's after six weeks:
``--plugs`` plugs each reporting every minute for 45 days, and a simulated routine's switch-ons
(tests/unit/anomaly/test_patterns.py's household). Then times one tick (every household judged)
and a second one (nothing to do: the memo says each was judged for this day and night).

    .venv/bin/python benchmarks/patterns_tick.py [--database-url URL] [--households 3] [--plugs 5]

Without ``--database-url`` a temporary SQLite file is used.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from anomaly import patterns
from core.clock import ManualClock
from core.db import make_engine, session_scope
from core.enums import DeviceStatus, DeviceVendor, EdgeKind
from core.migrate import upgrade
from core.models import ActivityEdge, Device, Reading, Watch
from core.settings import Settings
from tests.factories import make_household, make_team
from tests.unit.anomaly.test_patterns import simulate

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
DAYS = 45


def seed(url: str, households: int, plugs: int) -> None:
    engine = make_engine(url)
    first_day = NOW.astimezone(ZoneInfo("Asia/Seoul")).date() - timedelta(days=DAYS)
    with session_scope(engine) as s:
        team = make_team(s, name="bench")
        for n in range(households):
            h = make_household(s, team=team)
            assert h.id is not None
            s.add(Watch(household_id=h.id, updated_at=NOW))
            devices: list[int] = []
            for k in range(plugs):
                d = Device(
                    vendor=DeviceVendor.NATIVE,
                    external_id=f"bench-{n}-{k}",
                    household_id=h.id,
                    status=DeviceStatus.ASSIGNED,
                    appliance="kettle" if k == 0 else f"plug{k}",
                    created_at=NOW,
                )
                s.add(d)
                s.flush()
                assert d.id is not None
                devices.append(d.id)
            events, _ = simulate(DAYS + 1, n, start=first_day)
            start = int(datetime.combine(first_day, datetime.min.time(), ZoneInfo("Asia/Seoul")).timestamp())
            for device_id in devices:
                rows = [
                    {"device_id": device_id, "channel": "0", "ts": ts, "received_at": ts, "power_w": 1.0}
                    for ts in (datetime.fromtimestamp(t, UTC) for t in range(start, int(NOW.timestamp()), 60))
                ]
                for i in range(0, len(rows), 20000):
                    s.execute(insert(Reading), rows[i : i + 20000])
            s.execute(
                insert(ActivityEdge),
                [
                    {
                        "household_id": h.id,
                        "device_id": devices[i % plugs],
                        "channel": "0",
                        "ts": datetime.fromtimestamp(t, UTC),
                        "kind": EdgeKind.ON,
                        "power_w": 1500.0,
                    }
                    for i, t in enumerate(sorted(set(events)))
                    if t < NOW.timestamp()
                ],
            )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--households", type=int, default=3)
    parser.add_argument("--plugs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        started = time.perf_counter()
        seed(url, args.households, args.plugs)
        print(
            f"seeded {args.households} households × {args.plugs} plugs × {DAYS} days in {time.perf_counter() - started:.1f} s"
        )
        engine = make_engine(url)
        done: dict[int, tuple[date, date]] = {}
        clock = ManualClock(NOW)
        started = time.perf_counter()
        result = patterns.tick(engine, clock, Settings(_env_file=None), done=done)
        first = time.perf_counter() - started
        started = time.perf_counter()
        patterns.tick(engine, clock, Settings(_env_file=None), done=done)
        second = time.perf_counter() - started
        print(
            f"{engine.dialect.name}: first tick {first:.2f} s for {result.evaluated} households "
            f"({first / max(result.evaluated, 1) * 1000:.0f} ms each, {result.opened} findings); "
            f"second tick {second * 1000:.1f} ms"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
