"""The live path (gateway ingest → watch → routine tick → sweeper) and `anbu replay` agree.

One simulated household (kettle and TV used by a person, a fridge cycling by itself) lives
its routine for six days and then stops; only the fridge goes on. The same readings go
through MQTT-format ingest with a manual clock, and through ``anomaly.replay``: both must
open inactivity cases at the same instants, and neither may count the fridge as life.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from anomaly import sweeper, training
from anomaly.detector import DetectorParams
from anomaly.replay import replay
from anomaly.routine import FitParams
from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseKind, Severity, WatchStatus
from core.models import Case, RoutineModel, Watch
from core.settings import Settings
from gateway.ingest import InboundMessage, ingest_batch
from tests.factories import make_device, make_household

ZONE = "Asia/Seoul"
SETTINGS = Settings(inactivity_default_hours=12)
START = datetime(2026, 3, 2, tzinfo=ZoneInfo(ZONE))  # Monday 00:00 local
DAYS, STOP_DAY = 8, 6
# Hourly plug reports count as full data; four usual days are enough to learn from (a short test).
PARAMS = DetectorParams(fallback_hours=12, coverage_gap_s=3600 + 60, fit=FitParams(min_days=4))
# local (hour, minute, minutes on) of the resident's day; the fridge runs 20 min every 2 h.
USES = {"kettle": [(7, 10, 3), (15, 0, 3)], "tv": [(8, 0, 60), (12, 30, 30), (19, 0, 120)]}


def readings() -> list[tuple[int, str, float]]:
    """(unix s, device/channel, W): hourly reports, plus every switch on and off."""
    rows: dict[tuple[int, str], float] = {}
    end = START + timedelta(days=DAYS)
    t = START
    while t < end:
        for device in ("kettle", "tv", "fridge"):
            rows[(int(t.timestamp()), device)] = 0.0
        t += timedelta(hours=1)
    for day in range(DAYS):
        base = START + timedelta(days=day)
        for hour in range(0, 24, 2):
            on = base + timedelta(hours=hour, minutes=5)
            for m in range(20):
                rows[(int((on + timedelta(minutes=m)).timestamp()), "fridge")] = 120.0
            rows[(int((on + timedelta(minutes=20)).timestamp()), "fridge")] = 0.0
        uses = USES if day < STOP_DAY else {"kettle": [(7, 10, 3)]} if day == STOP_DAY else {}
        for device, spans in uses.items():
            for hour, minute, length in spans:
                on = base + timedelta(hours=hour, minutes=minute)
                for m in range(0, length, 10):
                    rows[(int((on + timedelta(minutes=m)).timestamp()), device)] = 1500.0
                rows[(int((on + timedelta(minutes=length)).timestamp()), device)] = 0.0
    return sorted((ts, device, w) for (ts, device), w in rows.items())


def write_csv(path: Path, data: list[tuple[int, str, float]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["timestamp", "household_id", "channel", "power_w"])
        for ts, device, watts in data:
            writer.writerow([ts, "sim_h1", device, watts])


def run_live(engine: Engine, data: list[tuple[int, str, float]]) -> tuple[list[Case], int]:
    with session_scope(engine) as s:
        household = make_household(s, tz=ZONE)
        for device in ("kettle", "tv", "fridge"):
            make_device(s, household=household, external_id=device, appliance=device)
        household_id = household.id
    assert household_id is not None
    clock = ManualClock(datetime.fromtimestamp(data[0][0], UTC))
    zone = ZoneInfo(ZONE)
    next_midnight = datetime.combine(START.date() + timedelta(days=1), datetime.min.time(), zone)
    batches: dict[int, list[tuple[str, float]]] = {}
    for ts, device, watts in data:
        batches.setdefault(ts, []).append((device, watts))

    def run_until(until: datetime) -> None:
        """Fire what is due before ``until`` in time order: the sweeper at alert times, the refit at midnight."""
        nonlocal next_midnight
        while True:
            with Session(engine) as s:
                watch = s.get(Watch, household_id)
                due = watch.alert_after if watch and watch.status != WatchStatus.OVERDUE else None
            if due is not None and due <= until and due <= next_midnight:
                clock.set(due)
                sweeper.tick(engine, clock, SETTINGS)
                continue
            if next_midnight <= until:
                clock.set(next_midnight)
                sweeper.tick(engine, clock, SETTINGS)
                training.tick(engine, clock, SETTINGS, params=PARAMS)
                next_midnight = datetime.combine(
                    next_midnight.astimezone(zone).date() + timedelta(days=1), datetime.min.time(), zone
                )
                continue
            return

    for ts, items in sorted(batches.items()):
        at = datetime.fromtimestamp(ts, UTC)
        run_until(at)
        clock.set(at)
        messages = [
            InboundMessage(
                f"anbu/{device}/reading", json.dumps({"v": 1, "ts": ts, "power_w": w}).encode(), at
            )
            for device, w in items
        ]
        with session_scope(engine) as s:
            ingest_batch(s, messages, now=at, settings=SETTINGS)
        with Session(engine) as s:
            overdue = s.exec(select(Watch.status).where(Watch.household_id == household_id)).first()
        if overdue == WatchStatus.OVERDUE:
            sweeper.tick(engine, clock, SETTINGS)  # activity may have resumed: let the sweeper clear
    run_until(datetime.fromtimestamp(data[-1][0], UTC))
    with Session(engine) as s:
        cases = list(
            s.exec(select(Case).where(Case.kind == CaseKind.INACTIVITY).order_by(col(Case.opened_at)))
        )
        models = len(s.exec(select(RoutineModel)).all())
    return cases, models


@pytest.mark.slow
def test_live_path_and_replay_open_the_same_inactivity_cases(sqlite_engine: Engine, tmp_path: Path) -> None:
    data = readings()
    path = tmp_path / "sim.csv"
    write_csv(path, data)
    alerts, stats = replay(path, timezone=ZONE, params=PARAMS)
    replayed = [a.at for a in alerts if a.kind == CaseKind.INACTIVITY.value]
    assert stats.bad_rows == 0
    assert [a for a in alerts if a.kind != CaseKind.INACTIVITY.value] == []  # hourly reports: never offline

    cases, models = run_live(sqlite_engine, data)
    live = [int(c.opened_at.timestamp()) for c in cases]
    assert models == 1  # the routine was learned and stored
    assert live == replayed
    # Exactly one case, on the stop day, well within a day of the last kettle use (07:10 local):
    # the fridge kept cycling and did not count as life in either path.
    stop = START + timedelta(days=STOP_DAY, hours=7, minutes=10)
    assert len(live) == 1
    assert 0 < live[0] - stop.timestamp() < 12 * 3600
    assert cases[0].severity in (Severity.ALERT, Severity.CRITICAL)
