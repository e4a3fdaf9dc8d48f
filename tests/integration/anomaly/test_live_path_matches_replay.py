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

from anomaly import ladder, sweeper, training
from anomaly.deadlines import MESSAGES, explain_data_gap
from anomaly.detector import DetectorParams
from anomaly.house_level import HouseParams
from anomaly.ladder import HOUSE_ON
from anomaly.replay import replay
from anomaly.routine import FitParams
from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseKind, Language, Severity, WatchStatus
from core.models import Case, RoutineModel, Watch
from core.settings import Settings
from gateway.ingest import InboundMessage, ingest_batch
from tests.factories import make_device, make_household

ZONE = "Asia/Seoul"
# Replay refits at midnight exactly; live spreads refits over the night (ANBU_ROUTINE_REFIT_SPREAD_H),
# using yesterday's routine until then. Off here: the same routine at the same instant.
SETTINGS = Settings(inactivity_default_hours=12, routine_refit_spread_h=0)
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


def run_live(
    engine: Engine,
    data: list[tuple[int, str, float]],
    devices: dict[str, str] | None = None,
    params: DetectorParams = PARAMS,
) -> tuple[list[Case], int]:
    """Ingest ``data`` batch by batch with the sweeper and the routine tick run when due.

    ``devices``: external id -> appliance (default: kettle, TV and fridge plugs); each device's
    threshold is replay's (20 W).
    """
    with session_scope(engine) as s:
        household = make_household(s, tz=ZONE)
        for device, appliance in (devices or {d: d for d in ("kettle", "tv", "fridge")}).items():
            make_device(s, household=household, external_id=device, appliance=appliance, on_threshold_w=20.0)
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
                training.tick(engine, clock, SETTINGS, params=params)
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
    alerts, stats = replay(path, timezone=ZONE, params=PARAMS, language=Language.KO)
    replayed = [(a.at, a.explanation) for a in alerts if a.kind == CaseKind.INACTIVITY.value]
    assert stats.bad_rows == 0
    assert [a for a in alerts if a.kind != CaseKind.INACTIVITY.value] == []  # hourly reports: never offline

    cases, models = run_live(sqlite_engine, data)
    live = [int(c.opened_at.timestamp()) for c in cases]
    assert models == 1  # the routine was learned and stored
    assert [(at, c.explanation) for at, c in zip(live, cases, strict=True)] == replayed  # and the same words
    # Exactly one case, on the stop day, well within a day of the last kettle use (07:10 local):
    # the fridge kept cycling and did not count as life in either path.
    stop = START + timedelta(days=STOP_DAY, hours=7, minutes=10)
    assert len(live) == 1
    assert 0 < live[0] - stop.timestamp() < 12 * 3600
    assert cases[0].severity in (Severity.ALERT, Severity.CRITICAL)


# --- a whole-house meter with a metered water heater ---------------------------------------------

# The resident's kettle is on a plug; the oven is not metered and shows only on the whole-house
# meter. A water heater on its own plug heats 30 min every 4 h whatever happens (an automatic
# load) and draws about what the oven does: on the whole house alone, the two would be one kind of
# event, round the clock (automatic), and the oven would be lost with the heater.
HOUSE_USES = {"kettle": [(7, 10, 6), (15, 0, 6)], "oven": [(8, 0, 60), (12, 30, 30), (19, 0, 120)]}
HOUSE_WATTS = {"kettle": 2000.0, "oven": 1100.0, "heater": 1200.0}
HOUSE_PARAMS = DetectorParams(fallback_hours=12, fit=FitParams(min_days=4))  # 5-min reports: full data


def house_readings(gap_hours: tuple[int, int] | None = None) -> list[tuple[int, str, float]]:
    """Every 5 min and at every change: the kettle and heater plugs, and the whole house (base 250 W).

    ``gap_hours``: on the stop day, no device reports from the first local hour to the second.
    """
    minutes = DAYS * 1440
    power = {name: [0.0] * minutes for name in HOUSE_WATTS}
    for day in range(DAYS):
        for hour in range(1, 24, 4):
            start = day * 1440 + hour * 60 + 20
            power["heater"][start : start + 30] = [HOUSE_WATTS["heater"]] * 30
        uses = HOUSE_USES if day < STOP_DAY else {"kettle": [(7, 10, 6)]} if day == STOP_DAY else {}
        for name, spans in uses.items():
            for hour, minute, length in spans:
                start = day * 1440 + hour * 60 + minute
                power[name][start : start + length] = [HOUSE_WATTS[name]] * length
    series = {
        "kettle": power["kettle"],
        "heater": power["heater"],
        "mains": [250.0 + sum(power[n][m] for n in HOUSE_WATTS) for m in range(minutes)],
    }
    silent = range(0)
    if gap_hours is not None:
        silent = range(STOP_DAY * 1440 + gap_hours[0] * 60, STOP_DAY * 1440 + gap_hours[1] * 60)
    rows = []
    for device, values in series.items():
        for m, watts in enumerate(values):
            if (m % 5 == 0 or watts != values[m - 1]) and m not in silent:
                rows.append((int((START + timedelta(minutes=m)).timestamp()), device, watts))
    return sorted(rows)


@pytest.mark.slow
@pytest.mark.parametrize("gap_hours", [None, (9, 14)], ids=["no-gap", "data-gap"])
def test_live_path_and_replay_agree_on_a_whole_house_meter(
    sqlite_engine: Engine, tmp_path: Path, gap_hours: tuple[int, int] | None
) -> None:
    """With a 5 h data gap after the last use, both hold the quiet clock for it (no data is not
    inactivity): the case opens later than without the gap, at the same instant in both."""
    data = house_readings(gap_hours)
    path = tmp_path / "house.csv"
    # Replay's channel names are the appliances, as the live path labels each device's events.
    label = {"mains": "aggregate", "kettle": "kettle", "heater": "water_heater"}
    write_csv(path, [(ts, label[device], w) for ts, device, w in data])
    alerts, stats = replay(path, timezone=ZONE, params=HOUSE_PARAMS, language=Language.KO)
    replayed = [(a.at, a.explanation) for a in alerts if a.kind == CaseKind.INACTIVITY.value]
    assert stats.bad_rows == 0

    cases, models = run_live(sqlite_engine, data, label, HOUSE_PARAMS)
    live = [int(c.opened_at.timestamp()) for c in cases]
    assert models == 1
    # The same instants and the same explanation (Korean, the stored language), which with the
    # gap says how long the clock stood still.
    assert [(at, c.explanation) for at, c in zip(live, cases, strict=True)] == replayed
    if gap_hours is not None:
        assert (
            explain_data_gap((gap_hours[1] - gap_hours[0]) * 3600 + 5 * 60, Language.KO)
            in cases[0].explanation
        )
    # One case on the stop day: the heater (its own plug, and its steps on the whole-house meter)
    # kept running and did not count as life; the oven before the stop was seen on the meter alone.
    stop = START + timedelta(days=STOP_DAY, hours=7, minutes=10)
    assert len(live) == 1
    gap_s = 0 if gap_hours is None else (gap_hours[1] - gap_hours[0]) * 3600
    assert 0 < live[0] - stop.timestamp() < 12 * 3600 + gap_s
    if gap_hours is not None:
        write_csv(path, [(ts, label[device], w) for ts, device, w in house_readings()])
        without_gap = [
            a.at for a in replay(path, timezone=ZONE, params=HOUSE_PARAMS)[0] if a.kind == "inactivity"
        ]
        assert live[0] > without_gap[0] + 3600  # the gap held the clock


# --- a frozen house: the resident collapses in the evening with the lights and the TV on ---------

# A resident at home: the kettle (a plug) at ten past every hour from 08:10 to 22:10, the TV (its
# own plug) from 17:30 to 22:30, the lights (unmetered, on the whole-house meter only) from 17:00 to
# 23:00. On the stop day the last use is the TV switched on at 17:30; the lights and the TV stay on.
FROZEN_WATTS = {"kettle": 2000.0, "tv": 120.0, "lights": 150.0}
FROZEN_USES = {
    "kettle": [(hour, 10, 3) for hour in range(8, 23)],
    "tv": [(17, 30, 300)],
    "lights": [(17, 0, 360)],
}
FROZEN_PARAMS = DetectorParams(
    fallback_hours=12, fit=FitParams(min_days=4), house=HouseParams(min_buckets=4 * 48), ladder=HOUSE_ON
)
STOP_AT = (17, 30)  # local time of the last use on the stop day


def frozen_house_readings(*, lights_off_h: float | None = None) -> list[tuple[int, str, float]]:
    """Every 5 min and at every change: kettle and TV plugs, the whole house (base 200 W).

    ``lights_off_h``: on the stop day, the lights and the TV go off this many hours after the last
    use (a person switched them off)."""
    minutes = DAYS * 1440
    power = {name: [0.0] * minutes for name in FROZEN_WATTS}
    stop = STOP_DAY * 1440 + STOP_AT[0] * 60 + STOP_AT[1]
    for day in range(STOP_DAY + 1):
        for name, spans in FROZEN_USES.items():
            for hour, minute, length in spans:
                start = day * 1440 + hour * 60 + minute
                end = start + length
                if day == STOP_DAY and name != "kettle":  # left on (or switched off after all)
                    end = minutes if lights_off_h is None else stop + int(lights_off_h * 60)
                if day < STOP_DAY or start <= stop:
                    power[name][start:end] = [FROZEN_WATTS[name]] * (end - start)
    series = {
        "kettle": power["kettle"],
        "tv": power["tv"],
        "mains": [200.0 + sum(power[n][m] for n in FROZEN_WATTS) for m in range(minutes)],
    }
    rows = []
    for device, values in series.items():
        for m, watts in enumerate(values):
            if m % 5 == 0 or watts != values[m - 1]:
                rows.append((int((START + timedelta(minutes=m)).timestamp()), device, watts))
    return sorted(rows)


@pytest.mark.slow
@pytest.mark.parametrize("lights_off_h", [None, 1.0], ids=["frozen", "lights-switched-off"])
def test_live_path_and_replay_agree_on_a_frozen_house(
    sqlite_engine: Engine, tmp_path: Path, lights_off_h: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Left on, the house's quiet is judged by how long quiet with the house on usually lasts here
    (about 1 h in the evening) and the usual activity missed: the case opens within 5 h, with that
    explanation, at the same instant live and in replay (the gap rule alone would wait about 7 h).
    Switched off an hour after the last use, that deadline goes."""
    monkeypatch.setattr(ladder, "DEFAULT_LADDER", HOUSE_ON)  # every live deadline: the rule on
    data = frozen_house_readings(lights_off_h=lights_off_h)
    path = tmp_path / "frozen.csv"
    label = {"mains": "aggregate", "kettle": "kettle", "tv": "tv"}
    write_csv(path, [(ts, label[device], w) for ts, device, w in data])
    alerts, _stats = replay(path, timezone=ZONE, params=FROZEN_PARAMS, language=Language.KO)
    replayed = [(a.at, a.explanation) for a in alerts if a.kind == CaseKind.INACTIVITY.value]

    cases, models = run_live(sqlite_engine, data, label, FROZEN_PARAMS)
    live = [int(c.opened_at.timestamp()) for c in cases]
    assert models == 1
    assert [(at, c.explanation) for at, c in zip(live, cases, strict=True)] == replayed
    last_use = (START + timedelta(days=STOP_DAY, hours=STOP_AT[0], minutes=STOP_AT[1])).timestamp()
    house_on = MESSAGES.text(
        "explain.house_on", Language.KO, on_local="", since_local="", appliance="", usual_h=""
    )
    marker = house_on.split(":")[0].strip()
    if lights_off_h is None:
        assert len(live) == 1 and 0 < live[0] - last_use < 5 * 3600
        assert marker in cases[0].explanation
    else:
        assert all(at - last_use > 6 * 3600 for at in live)
        assert not any(marker in c.explanation for c in cases)


# --- a TV left on: the resident collapses in front of it (on far longer than usual) -------------

# The first household (kettle, TV and fridge plugs, hourly reports): on the stop day the evening TV
# is switched on at 19:00 as every day, and stays on; nothing else happens.
TV_LEFT_ON_AT = (19, 0)


def tv_left_on_readings(*, off_after_h: float | None = None) -> list[tuple[int, str, float]]:
    """``readings()`` with the stop day lived as usual until the evening TV, which then stays on
    (``off_after_h``: goes off that long after all), then nothing."""
    usual = {(ts, device): w for ts, device, w in readings()}
    stop = START + timedelta(days=STOP_DAY)
    last = stop + timedelta(hours=TV_LEFT_ON_AT[0], minutes=TV_LEFT_ON_AT[1])
    end = START + timedelta(days=DAYS)
    rows = {(ts, d): w for (ts, d), w in usual.items() if ts < stop.timestamp() or d == "fridge"}
    rows.update({(ts, d): 0.0 for (ts, d) in usual if ts >= stop.timestamp() and d != "fridge"})
    for device, spans in USES.items():  # the stop day as usual, until the TV at 19:00
        for hour, minute, length in spans:
            on = stop + timedelta(hours=hour, minutes=minute)
            if on >= last:
                continue
            for m in range(0, length, 10):
                rows[(int((on + timedelta(minutes=m)).timestamp()), device)] = 1500.0
            rows[(int((on + timedelta(minutes=length)).timestamp()), device)] = 0.0
    off = end if off_after_h is None else last + timedelta(hours=off_after_h)
    t = last
    while t < min(off, end):
        rows[(int(t.timestamp()), "tv")] = 1500.0
        t += timedelta(minutes=10)
    if off < end:
        rows[(int(off.timestamp()), "tv")] = 0.0
    return sorted((ts, device, w) for (ts, device), w in rows.items())


@pytest.mark.slow
@pytest.mark.parametrize("off_after_h", [None, 1.0], ids=["tv-left-on", "tv-switched-off"])
def test_live_path_and_replay_agree_on_a_tv_left_on(
    sqlite_engine: Engine, tmp_path: Path, off_after_h: float | None
) -> None:
    """Usually off by 21:00, the TV left on since 19:00 raises the case about 4 h after (1.5 × its
    usual 2 h + 1 h), with that explanation, at the same instant live and in replay; the fridge's
    cycles are never judged. Switched off an hour past its usual end, that deadline goes."""
    data = tv_left_on_readings(off_after_h=off_after_h)
    path = tmp_path / "tv.csv"
    write_csv(path, data)
    alerts, _stats = replay(path, timezone=ZONE, params=PARAMS, language=Language.KO)
    replayed = [(a.at, a.explanation) for a in alerts if a.kind == CaseKind.INACTIVITY.value]

    cases, models = run_live(sqlite_engine, data)
    live = [int(c.opened_at.timestamp()) for c in cases]
    assert models == 1
    assert [(at, c.explanation) for at, c in zip(live, cases, strict=True)] == replayed
    switched_on = (START + timedelta(days=STOP_DAY, hours=TV_LEFT_ON_AT[0])).timestamp()
    marker = (
        MESSAGES.text(
            "explain.long_on",
            Language.KO,
            channel="TV",
            on_local="",
            usual_end="21:00",
            since_local="",
            appliance="",
        )
        .split(".")[1]
        .strip()
    )  # "평소에는 21:00까지 꺼집니다"
    if off_after_h is None:
        assert len(live) == 1 and live[0] - switched_on == 4 * 3600
        assert marker in cases[0].explanation
    else:
        assert all(at - switched_on > 6 * 3600 for at in live)
        assert not any(marker in c.explanation for c in cases)
