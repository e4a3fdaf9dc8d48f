"""`anbu replay` and the household detector on simulated recordings (never the real data set)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from anbu.cli import main
from anomaly.activity import StepDetector, residual_w
from anomaly.detector import DetectorParams, HouseholdDetector, minute_residual
from anomaly.ladder import LadderParams
from anomaly.replay import ReadingsError, replay

ZONE = "Europe/London"
START = datetime(2026, 1, 5, tzinfo=ZoneInfo(ZONE))  # Monday 00:00 local
USE_HOURS = range(7, 22, 2)


Row = tuple[int, str, str, float]


def simulate(days: int, *, stop_at: datetime | None = None, gap: tuple[int, int] | None = None) -> list[Row]:
    """Minute rows: a kettle every two hours 07:30-21:30 local; a fridge cycling around the clock
    on the aggregate meter. After ``stop_at`` only the fridge goes on. ``gap`` = (start, end)
    minute indexes with no data at all."""
    rows: list[Row] = []
    stop = stop_at.timestamp() if stop_at else float("inf")
    for minute in range(days * 1440):
        if gap and gap[0] <= minute < gap[1]:
            continue
        t = START + timedelta(minutes=minute)
        ts = int(t.timestamp())
        local = t.astimezone(ZoneInfo(ZONE))
        kettle = 2000.0 if local.minute == 30 and local.hour in USE_HOURS and ts < stop else 0.0
        fridge = 100.0 if minute % 45 < 15 else 0.0
        rows.append((ts, "sim_h1", "aggregate", 150.0 + fridge + kettle))
        rows.append((ts, "sim_h1", "kettle", kettle))
    return rows


def write(path: Path, rows: Sequence[Sequence[object]], *, gz: bool = False) -> Path:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["timestamp", "household_id", "channel", "power_w"])
    writer.writerows(rows)
    data = text.getvalue().encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_normal_routine_raises_no_case(tmp_path: Path) -> None:
    alerts, stats = replay(write(tmp_path / "r.csv", simulate(12)), timezone=ZONE)
    assert stats.households == 1 and stats.bad_rows == 0
    assert alerts == []


def test_resident_stopping_opens_one_inactivity_case_explained(tmp_path: Path) -> None:
    stop = START + timedelta(days=10, hours=9)  # after the 07:30 kettle on day 10
    alerts, _ = replay(write(tmp_path / "r.csv.gz", simulate(12, stop_at=stop), gz=True), timezone=ZONE)
    assert [a.kind for a in alerts] == ["inactivity"]
    alert = alerts[0]
    last_use = START + timedelta(days=10, hours=7, minutes=30)
    assert alert.severity == "alert"
    # The usual longest quiet after a 07:30 kettle is 2 h; the ladder waits 1.1 x 2 h + 6 h = 8.2 h
    # (and 1.5 usual-activity hours missed, long since): the same day, before a fixed 12 or 24 h rule.
    delay_h = (alert.at - last_use.timestamp()) / 3600
    assert 8.2 <= delay_h < 8.5
    assert "kettle" in alert.explanation and "01-15 07:30" in alert.explanation


def test_resident_not_up_by_the_latest_usual_morning_is_a_morning_alert(tmp_path: Path) -> None:
    stop = START + timedelta(days=10, hours=22)  # after the 21:30 kettle on day 10
    alerts, _ = replay(write(tmp_path / "r.csv", simulate(12, stop_at=stop)), timezone=ZONE)
    assert [a.kind for a in alerts] == ["inactivity"]
    # every usual day started with the 07:30 kettle: overdue at 07:30 + 1.5 h the next morning,
    # long before the gap rule (1.1 x the 10 h usual night + 6 h = 14:30)
    assert alerts[0].at == int((START + timedelta(days=11, hours=9)).timestamp())
    assert "every usual day had started by 07:30" in alerts[0].explanation
    assert "01-15 21:30" in alerts[0].explanation


def test_data_gap_is_an_offline_case_and_not_inactivity(tmp_path: Path) -> None:
    # six hours without any data on day 9, resident fine throughout.
    rows = simulate(12, gap=(9 * 1440 + 6 * 60, 9 * 1440 + 12 * 60))
    alerts, _ = replay(write(tmp_path / "r.csv", rows), timezone=ZONE)
    assert [a.kind for a in alerts] == ["device_offline"]
    # the last reading was at 05:59: two hours later the data gap becomes a case for staff
    assert alerts[0].at == int((START + timedelta(days=9, hours=7, minutes=59)).timestamp())


def test_detector_learns_a_routine_from_its_own_history() -> None:
    detector = HouseholdDetector("sim_h1", ZONE, DetectorParams())
    rows = simulate(11)
    for i in range(0, len(rows), 2):
        detector.feed(rows[i][0], {"aggregate": rows[i][3], "kettle": rows[i + 1][3]})
    assert detector.automatic == {}  # the fridge's 100 W steps are below the aggregate step size
    assert detector.routine is not None  # 10 full days (FitParams.min_days) by the last midnight
    assert detector.routine.days_used == 10
    assert detector.routine.first_activity_min == 7 * 60 + 30


def test_bad_rows_are_counted_and_skipped_not_fatal(tmp_path: Path) -> None:
    rows: list[Sequence[object]] = list(simulate(1))
    rows.insert(10, ("not-a-time", "sim_h1", "kettle", "1"))
    rows.insert(20, (int(START.timestamp()) + 300, "sim_h1", "kettle", "lots"))
    _, stats = replay(write(tmp_path / "r.csv", rows), timezone=ZONE)
    assert stats.bad_rows == 2
    assert len(stats.bad_examples) == 2


def test_a_file_without_the_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("time,power\n1,2\n")
    with pytest.raises(ReadingsError, match="expected columns"):
        replay(path, timezone=ZONE)


def test_replay_command_writes_one_json_line_per_case(tmp_path: Path) -> None:
    stop = START + timedelta(days=10, hours=9)
    readings = write(tmp_path / "r.csv", simulate(12, stop_at=stop))
    out = tmp_path / "alerts.jsonl"
    assert main(["replay", str(readings), "--out", str(out), "--timezone", ZONE]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 1
    assert set(lines[0]) == {"household_id", "at", "kind", "severity", "explanation"}
    assert lines[0]["household_id"] == "sim_h1" and lines[0]["kind"] == "inactivity"


def test_replay_command_reports_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_aggregate_residual_removes_the_sub_metered_channels() -> None:
    reading = {"aggregate": 1500.0, "water_heater": 1200.0, "kettle": 0.5}
    assert minute_residual(0, reading, {}) == 299.5
    # never below zero (meters are not perfectly in step), and nothing to do without sub-meters
    assert minute_residual(0, {"aggregate": 100.0, "tv": 130.0}, {}) == 0.0
    assert minute_residual(0, {"aggregate": 640.0}, {}) == 640.0
    assert residual_w(640.0, [None, 40.0]) == 600.0


def test_a_sub_meter_that_skipped_a_minute_is_still_subtracted() -> None:
    heater = StepDetector("water_heater")
    heater.feed(1000, 1200.0)
    detectors = {"water_heater": heater}
    # Its reading of this minute is missing: the last one (60 s old) still counts ...
    assert minute_residual(1060, {"aggregate": 1500.0}, detectors) == 300.0
    # ... up to max_gap_s; older than that it is unknown, and nothing is subtracted.
    assert minute_residual(1000 + 301, {"aggregate": 1500.0}, detectors) == 1500.0
    # This minute's own reading wins over the last one.
    assert minute_residual(1060, {"aggregate": 1500.0, "water_heater": 60.0}, detectors) == 1440.0


def test_a_missing_sub_meter_minute_is_not_a_step_on_the_aggregate() -> None:
    detector = HouseholdDetector("h", ZONE)
    t0 = int(START.timestamp())
    for minute in range(10):
        readings = {"aggregate": 1500.0, "water_heater": 1200.0}
        if minute == 5:
            del readings["water_heater"]  # the heater's plug missed a report; it is still heating
        detector.feed(t0 + 60 * minute, readings)
    # Only the first minute's heater switch-on; no 1.2 kW "step" on the aggregate at minute 5.
    assert [(e.ts - t0, e.channel) for e in detector.events] == [(0, "water_heater")]


def heater_household(days: int, stop_at: datetime) -> list[tuple[int, dict[str, float]]]:
    """Kettle used at 08:30, 13:30, 19:30 and 22:30; a metered water heater (60 W idle) heats for
    40 min at 11:00, 16:00 and 23:00 whatever the resident does. After ``stop_at`` only the
    heater goes on."""
    out: list[tuple[int, dict[str, float]]] = []
    for minute in range(days * 1440):
        t = START + timedelta(minutes=minute)
        local = t.astimezone(ZoneInfo(ZONE))
        in_use = t < stop_at and local.minute == 30 and local.hour in (8, 13, 19, 22)
        kettle = 2000.0 if in_use else 0.0
        heater = 1200.0 if local.hour in (11, 16, 23) and local.minute < 40 else 60.0
        out.append(
            (
                int(t.timestamp()),
                {"aggregate": 300.0 + kettle + heater, "kettle": kettle, "water_heater": heater},
            )
        )
    return out


@pytest.mark.parametrize("residual", [True, False])
def test_a_metered_water_heater_does_not_keep_the_aggregate_alive(residual: bool) -> None:
    stop = START + timedelta(days=10, hours=9)
    # The morning check is off here: it would alert on the day the heater's 23:00 step was the
    # "last activity" (the day did not start), which is not what this test is about.
    params = DetectorParams(aggregate_residual=residual, ladder=LadderParams(morning_alert_h=None))
    detector = HouseholdDetector("sim_h1", ZONE, params)
    for ts, readings in heater_household(12, stop):
        detector.feed(ts, readings)
    assert not [a for a in detector.alerts if a.at < stop.timestamp()]  # the usual days are fine
    cases = [a for a in detector.alerts if a.kind == "inactivity"]
    if residual:
        # the heater's steps are its own channel's (never off, so never "switched on" again)
        assert len(cases) == 1 and 0 < cases[0].at - stop.timestamp() < 24 * 3600
    else:
        # the raw whole-house meter sees the heater's 1.1 kW steps as someone switching on
        assert cases == []
