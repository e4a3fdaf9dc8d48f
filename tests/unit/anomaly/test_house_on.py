"""Two kinds of silence (issue 18): a quiet with the house left on is judged by how long such quiets
usually last, not by the long quiets at base load (simulated traces only, never the real set)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from anomaly.detector import DetectorParams, HouseholdDetector
from anomaly.house_level import Bucket, HouseLevel, HouseModel, HouseParams, fit_house, on_quiet_samples
from anomaly.ladder import HOUSE_ON
from core.enums import Language

ZONE = "Europe/London"
START = datetime(2026, 1, 5, tzinfo=ZoneInfo(ZONE))  # Monday 00:00 local
BASE_W, LIGHTS_W, OVEN_W = 120.0, 150.0, 1500.0


def minute(day: int, hour: int, m: int = 0) -> int:
    return day * 1440 + hour * 60 + m


def house_trace(
    days: int, *, collapse: int | None = None, frozen: bool = True, lights_off: int | None = None
) -> list[tuple[int, dict[str, float]]]:
    """Whole-house minutes of a resident living alone, at home: the kettle (a plug) at half past
    every hour from 08:30 to 22:30, the oven (unmetered) at 18:00; the lights (unmetered) on from
    17:00 to 23:00. After minute ``collapse`` nothing is used any more; ``frozen``: what was on
    stays on (else the house falls to base load). ``lights_off``: the minute the lights go off
    after all (a person acted)."""
    out: list[tuple[int, dict[str, float]]] = []
    for m in range(days * 1440):
        hod = m % 1440
        lights = 17 * 60 <= hod < 23 * 60
        kettle = 8 <= hod // 60 <= 22 and hod % 60 in (30, 31)
        oven = 18 * 60 <= hod < 18 * 60 + 40
        if collapse is not None and m >= collapse:
            kettle = oven = False
            lights = frozen and _lit(collapse) and (lights_off is None or m < lights_off)
        fridge = 90.0 if m % 50 < 15 else 0.0
        plug = 2000.0 if kettle else 0.0
        agg = BASE_W + fridge + plug + (LIGHTS_W if lights else 0.0) + (OVEN_W if oven else 0.0)
        ts = int((START + timedelta(minutes=m)).timestamp())
        out.append((ts, {"aggregate": agg, "kettle": plug}))
    return out


def _lit(m: int) -> bool:
    return 17 * 60 <= m % 1440 < 23 * 60


def run(
    rows: list[tuple[int, dict[str, float]]], params: DetectorParams, *, finish: bool = True, zone: str = ZONE
) -> HouseholdDetector:
    detector = HouseholdDetector("sim", zone, params, Language.EN)
    for ts, readings in rows:
        detector.feed(ts, readings)
    if finish:  # the collapse's next 48 h without data (as the evaluation's horizon)
        detector.finish(rows[-1][0] + 48 * 3600)
    return detector


PARAMS = DetectorParams(fallback_hours=20, ladder=HOUSE_ON)
OFF = DetectorParams(fallback_hours=20)  # the default: the house-on rule is off
COLLAPSE = minute(16, 18, 45)  # a Tuesday evening, the lights on, after the oven and the kettle


def first_alert_h(detector: HouseholdDetector, after: int) -> float:
    event_ts = int((START + timedelta(minutes=after)).timestamp())
    hits = [a.at for a in detector.alerts if a.kind == "inactivity" and a.at >= event_ts]
    return (hits[0] - event_ts) / 3600


def test_half_hours_keep_their_lowest_reading_and_whether_a_lamp_plug_stayed_on() -> None:
    level = HouseLevel()
    assert level.feed(0, 300.0, True) is None
    assert level.feed(600, 120.0, True) is None
    assert level.feed(1200, 900.0, False) is None
    closed = level.feed(1800, 100.0, True)
    assert closed == Bucket(0, 120.0, False)  # a kettle's 900 W is not "on"; the lamp went off once
    restored = HouseLevel(state=level.state)  # live keeps the state between batches
    assert restored.feed(3600, None, True) == Bucket(1800, 100.0, True)


def test_on_quiet_samples_end_at_a_use_or_when_the_house_goes_back_to_base() -> None:
    p = HouseParams()
    levels = [100.0] * 4 + [300.0] * 6 + [100.0] * 2  # on from 2 h for 3 h
    buckets = [Bucket(i * 1800, w, False) for i, w in enumerate(levels)]
    samples = on_quiet_samples(buckets, [2 * 3600 + 1800 + 60], 100.0, p)
    assert [start for start, _h in samples] == [7200, 2 * 3600 + 1800 + 60]
    assert [h for _s, h in samples] == pytest.approx([0.5 + 60 / 3600, 2.5 - 60 / 3600])


def test_fit_learns_the_usual_evening_quiet_with_the_lights_on() -> None:
    detector = run(house_trace(15), PARAMS)
    assert detector.routine is not None and detector.routine.house is not None
    house = detector.routine.house
    assert house.base_w == pytest.approx(BASE_W, abs=5)
    evening = house.on_quiet_h[20]
    assert evening is not None and 0.9 < evening <= 1.2  # a kettle every hour under the lights
    # Stored as readable JSON and read back the same (the live path's routine_model row).
    assert HouseModel.from_json(house.to_json()) == house


def test_a_collapse_with_the_lights_on_alerts_within_hours_and_says_why() -> None:
    frozen = run(house_trace(19, collapse=COLLAPSE), PARAMS)
    delay = first_alert_h(frozen, COLLAPSE)
    assert delay < 5.0
    alert = next(a for a in frozen.alerts if a.kind == "inactivity")
    assert "has stayed on" in alert.explanation and "usually ends within" in alert.explanation
    # Without the house-on rule the same collapse waits for the base-load ladder (gap + 6 h).
    assert first_alert_h(run(house_trace(19, collapse=COLLAPSE), OFF), COLLAPSE) > delay + 2


def test_a_collapse_at_base_load_is_judged_as_before() -> None:
    rows = house_trace(19, collapse=COLLAPSE, frozen=False)
    assert first_alert_h(run(rows, PARAMS), COLLAPSE) == first_alert_h(run(rows, OFF), COLLAPSE)


@pytest.mark.slow
def test_lights_switched_off_end_the_house_on_deadline() -> None:
    """The house goes back to base 1 h after the last use: a person acted, the short deadline goes."""
    rows = house_trace(19, collapse=COLLAPSE, lights_off=COLLAPSE + 60)
    switched_off = run(rows, PARAMS)
    assert first_alert_h(switched_off, COLLAPSE) > 6
    assert not any("has stayed on" in a.explanation for a in switched_off.alerts)


def test_usual_evenings_with_the_lights_on_raise_no_case() -> None:
    assert [a for a in run(house_trace(22), PARAMS, finish=False).alerts if a.kind == "inactivity"] == []


def test_fit_needs_a_week_of_half_hours() -> None:
    buckets = [Bucket(i * 1800, 100.0, False) for i in range(48)]
    assert fit_house(buckets, [], now=86400, timezone=ZONE) is None
