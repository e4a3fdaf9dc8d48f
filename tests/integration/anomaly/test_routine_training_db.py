"""Live routine: the retrain tick stores readable JSON and re-arms watches; the sweeper climbs the ladder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from anomaly import household_state, sweeper, training
from anomaly.ladder import ladder
from anomaly.routine import HOURS_PER_WEEK, Routine
from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseKind, Severity
from core.models import Case, RoutineModel, Watch
from core.settings import Settings
from tests.factories import seed_kettle_use

SETTINGS = Settings(inactivity_default_hours=12)
ZONE = "Asia/Seoul"
DAY0 = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)  # 2 March 00:00 in Seoul


def _seed_history(engine: Engine, days: int) -> tuple[int, int]:
    """A kettle used at 08:00, 13:00 and 20:00 Seoul time, with a reading every 5 minutes."""
    with session_scope(engine) as s:
        return seed_kettle_use(s, DAY0, days, tz=ZONE)


def test_retrain_stores_readable_json_once_a_day_and_rearms_the_watch(
    engine: Engine, clock: ManualClock
) -> None:
    hid, _ = _seed_history(engine, days=11)  # FitParams.min_days = 10 usual days are needed
    clock.set(DAY0 + timedelta(days=11, hours=1))  # 01:00 local after the eleventh day
    assert training.tick(engine, clock, SETTINGS) == 1
    assert training.tick(engine, clock, SETTINGS) == 0  # already fitted as of this midnight
    with Session(engine) as s:
        row = s.get_one(RoutineModel, hid)
        assert row.fitted_at == DAY0 + timedelta(days=11)
        routine = Routine.from_json(row.model)  # plain JSON, loadable
        assert routine.days_used == 11
        assert routine.first_activity_min == 8 * 60 + 1
        assert routine.p_active[8] > 0.7 and routine.p_active[3] < 0.2
        watch = s.get_one(Watch, hid)
        last = watch.last_activity_at
        assert last is not None
        expected = ladder(int(last.timestamp()), routine).alert
        assert watch.alert_after == datetime.fromtimestamp(expected, UTC)
        assert "quietest usual gap" in watch.explanation or "평소 가장 긴 공백" in watch.explanation


def test_too_little_history_keeps_the_fixed_rule(engine: Engine, clock: ManualClock) -> None:
    hid, _ = _seed_history(engine, days=4)
    clock.set(DAY0 + timedelta(days=4, hours=1))
    assert training.tick(engine, clock, SETTINGS) == 0
    with Session(engine) as s:
        assert s.get(RoutineModel, hid) is None
        watch = s.get_one(Watch, hid)
        assert watch.alert_after is not None and watch.last_activity_at is not None
        assert watch.alert_after - watch.last_activity_at == timedelta(hours=12)


def test_a_corrupt_stored_model_falls_back_to_the_fixed_rule(engine: Engine, clock: ManualClock) -> None:
    hid, _ = _seed_history(engine, days=2)
    with session_scope(engine) as s:
        s.add(
            RoutineModel(household_id=hid, fitted_at=DAY0, days_used=9, model={"version": 1, "p_active": [1]})
        )
    with Session(engine) as s:
        assert household_state.load_routine(s, hid) is None


def test_sweeper_opens_at_alert_and_raises_to_critical(engine: Engine, clock: ManualClock) -> None:
    hid, _ = _seed_history(engine, days=2)
    routine = Routine(
        timezone=ZONE,
        fitted_at=0,
        days_used=9,
        days_excluded=[],
        p_active=[0.9 if 7 <= h % 24 < 22 else 0.05 for h in range(HOURS_PER_WEEK)],
        quiet_gap_h=[3.0] * HOURS_PER_WEEK,
        first_activity_min=8 * 60,
        first_activity_channel="kettle",
    )
    with session_scope(engine) as s:
        s.add(RoutineModel(household_id=hid, fitted_at=DAY0, days_used=9, model=routine.to_json()))
        watch = s.get_one(Watch, hid)
        assert watch.last_activity_at is not None
        stages = ladder(int(watch.last_activity_at.timestamp()), routine)
        watch.alert_after = datetime.fromtimestamp(stages.alert, UTC)
    clock.set(datetime.fromtimestamp(stages.alert, UTC))
    assert sweeper.tick(engine, clock, SETTINGS).opened == 1
    clock.set(datetime.fromtimestamp(stages.critical - 60, UTC))
    sweeper.tick(engine, clock, SETTINGS)
    with Session(engine) as s:
        [case] = s.exec(select(Case).where(Case.kind == CaseKind.INACTIVITY)).all()
        assert case.severity == Severity.ALERT
        assert "전기포트" in case.explanation
    clock.set(datetime.fromtimestamp(stages.critical, UTC))
    sweeper.tick(engine, clock, SETTINGS)
    with Session(engine) as s:
        [case] = s.exec(select(Case).where(Case.kind == CaseKind.INACTIVITY)).all()
        assert case.severity == Severity.CRITICAL
