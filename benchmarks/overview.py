"""Cost of the district overview (api/overview.py) against the number of households.

Seeds a fresh, migrated database (``benchmarks.ticks.database``: a temporary SQLite file, or a
private schema on PostgreSQL dropped afterwards) with N households over 4 teams and 20 동, each
with a watch (10 % overdue), 3 plugs (2 % of households all offline) and cases (5 % with an open
one of mixed severity, 20 % with a closed one); then times the overview (counts per team and 동)
and the list behind one number, as an admin sees them (every team), median of the repeats.

    .venv/bin/python benchmarks/overview.py --households 7000
    ANBU_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python benchmarks/overview.py --households 7000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert
from sqlmodel import Session

from api.overview import households_in, overview
from benchmarks.ticks import database
from core.enums import (
    CaseKind,
    CaseStatus,
    DeviceStatus,
    DeviceVendor,
    MonitoringState,
    ResolutionCode,
    Role,
    Severity,
    WatchStatus,
)
from core.models import Case, Device, Household, Organisation, Team, User, Watch

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
SEVERITIES = list(Severity)


def seed(engine: Engine, n: int) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Organisation).values(id=1, name="Org"))
        conn.execute(
            insert(Team), [{"id": t, "organisation_id": 1, "name": f"Team {t}"} for t in range(1, 5)]
        )
        # Bulk inserts bypass the ORM, so the 동 is written here as the model would derive it.
        conn.execute(
            insert(Household),
            [
                {
                    "id": i,
                    "team_id": 1 + i % 4,
                    "code": f"HH-{i:06d}",
                    "address": f"서울특별시 강남구 {i % 20}길 (가상{i % 20}동)",
                    "dong": f"가상{i % 20}동",
                    "timezone": "Asia/Seoul",
                    "monitoring": MonitoringState.PAUSED if i % 50 == 0 else MonitoringState.ACTIVE,
                    "created_at": NOW,
                }
                for i in range(1, n + 1)
            ],
        )
        conn.execute(
            insert(Watch),
            [
                {
                    "household_id": i,
                    "status": WatchStatus.OVERDUE if i % 10 == 0 else WatchStatus.UP,
                    "last_activity_at": NOW - timedelta(hours=3),
                    "explanation": "",
                    "updated_at": NOW,
                }
                for i in range(1, n + 1)
            ],
        )
        conn.execute(
            insert(Device),
            [
                {
                    "vendor": DeviceVendor.NATIVE,
                    "external_id": f"plug-{i}-{k}",
                    "household_id": i,
                    "status": DeviceStatus.ASSIGNED,
                    "online": i % 50 != 7,
                    "created_at": NOW,
                }
                for i in range(1, n + 1)
                for k in range(3)
            ],
        )
        cases: list[tuple[int, CaseStatus, Severity, ResolutionCode | None]] = []
        for i in range(1, n + 1):
            if i % 20 == 0:
                cases.append((i, CaseStatus.OPEN, SEVERITIES[(i // 20) % 4], None))
            if i % 5 == 0:
                cases.append((i, CaseStatus.RESOLVED, Severity.ALERT, ResolutionCode.RESIDENT_FINE))
        conn.execute(
            insert(Case),
            [
                {
                    "household_id": h,
                    "kind": CaseKind.INACTIVITY if status == CaseStatus.OPEN else CaseKind.HELP_REQUESTED,
                    "status": status,
                    "severity": severity,
                    "resolution_code": code,
                    "opened_at": NOW - timedelta(hours=2),
                    "last_seen_at": NOW,
                    "policy_snapshot": {},
                    "escalation_token": f"bench-{h}-{status}",
                }
                for h, status, severity, code in cases
            ],
        )
        conn.execute(
            insert(User).values(id=1, username="admin", password_hash="x", role=Role.ADMIN, created_at=NOW)
        )


def timed(run: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--households", type=int, default=7000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or os.environ.get("ANBU_DATABASE_URL") or os.environ.get("ANBU_TEST_DATABASE_URL")
    with database(url, args.households) as engine:
        seed(engine, args.households)
        with Session(engine) as session:
            admin = session.get(User, 1)
            assert admin is not None
            result = overview(session, admin, NOW)
            out = {
                "dialect": engine.dialect.name,
                "households": result.counts.households,
                "groups": sum(len(t.dongs) for t in result.teams),
                "counts": result.counts.model_dump(),
                "overview_ms": timed(lambda: overview(session, admin, NOW), args.repeat),
                "list_quiet_200_ms": timed(
                    lambda: households_in(
                        session, admin, "quiet", team_id=None, dong=None, limit=200, offset=0
                    ),
                    args.repeat,
                ),
                "list_one_dong_ms": timed(
                    lambda: households_in(
                        session, admin, "households", team_id=1, dong="가상4동", limit=200, offset=0
                    ),
                    args.repeat,
                ),
            }
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
