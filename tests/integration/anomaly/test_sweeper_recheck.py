"""The sweeper re-checks an overdue household only when its inputs changed or its next stage came
(issue 15.2, anomaly/recheck.py), on both dialects.

Before, every overdue household's deadline was recomputed every 5 s tick (1,000 recomputations
a tick at 1 % of 100k households). Now: nothing new, nothing recomputed; new activity still
clears the case on the next tick; the raise to critical still happens on the tick at its time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session, select

from anomaly import recheck, sweeper
from anomaly.deadlines import Deadline
from anomaly.watch import Activity, current_deadline, record_activities
from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseKind, CaseStatus, DeviceStatus, MonitoringState, Severity, WatchStatus
from core.models import Case, ChannelState, Device, Household, HouseState, RoutineModel, Watch
from core.settings import Settings
from tests.factories import make_device, make_household, make_watch
from tests.integration.anomaly.test_sweeper_batched import fitted_routine_json

SETTINGS = Settings(_env_file=None, inactivity_default_hours=12)


class Recomputed:
    """Counts the sweeper's deadline recomputations, by household."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.households: list[int] = []
        real = current_deadline  # what the sweeper imported

        def counting(
            session: Session, watch: Watch, household: Household, *a: Any, **k: Any
        ) -> Deadline | None:
            assert household.id is not None
            self.households.append(household.id)
            return real(session, watch, household, *a, **k)

        monkeypatch.setattr(sweeper, "current_deadline", counting)

    def during(self, run: Callable[[], object]) -> set[int]:
        self.households.clear()
        run()
        return set(self.households)


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _overdue(engine: Engine, clock: ManualClock, *, routine: bool = False) -> int:
    """A household quiet for 13 h on a 12 h rule (or past its routine's alert), heard a minute ago."""
    now = clock.now()
    with session_scope(engine) as s:
        h = make_household(s, with_resident=False, contacts=0)
        assert h.id is not None
        d = make_device(s, household=h, appliance="kettle")
        d.last_seen_at = d.last_reading_at = now - timedelta(minutes=1)
        if routine:
            s.add(
                RoutineModel(household_id=h.id, fitted_at=now, days_used=28, model=fitted_routine_json(now))
            )
        make_watch(
            s,
            h,
            status=WatchStatus.UP,
            last_activity_at=now - timedelta(hours=13),
            last_activity_device_id=d.id,
            alert_after=now - timedelta(hours=1),
        )
        return h.id


def _steady(engine: Engine, clock: ManualClock) -> None:
    """Open the cases, then the first re-check of each (which stores what it read)."""
    assert sweeper.tick(engine, clock, SETTINGS).opened >= 1
    clock.advance(timedelta(seconds=5))
    sweeper.tick(engine, clock, SETTINGS)
    clock.advance(timedelta(seconds=5))


def _case(engine: Engine, household_id: int) -> Case:
    with Session(engine) as s:
        return s.exec(select(Case).where(Case.household_id == household_id)).one()


def test_an_overdue_household_with_nothing_new_is_not_recomputed(
    engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails on the old sweeper: it recomputed every overdue household's deadline every tick."""
    hid = _overdue(engine, clock)
    recomputed = Recomputed(monkeypatch)
    _steady(engine, clock)
    results: list[sweeper.SweepResult] = []
    for _ in range(3):
        assert recomputed.during(lambda: results.append(sweeper.tick(engine, clock, SETTINGS))) == set()
        clock.advance(timedelta(seconds=5))
    assert [r.overdue_unchanged for r in results] == [1, 1, 1]
    assert _case(engine, hid).status == CaseStatus.OPEN


def test_a_quiet_tick_costs_the_same_whatever_the_number_of_overdue_households(
    engine: Engine, clock: ManualClock
) -> None:
    """Statements sent by a tick with nothing new: the same for 2 and for 12 overdue households
    (the old sweeper sent several per overdue household)."""
    counts = []
    for more in (2, 10):
        for _ in range(more):
            _overdue(engine, clock)
        _steady(engine, clock)
        with statements(engine) as seen:
            assert sweeper.tick(engine, clock, SETTINGS).overdue_unchanged in (2, 12)
        counts.append(len(seen))
    assert counts[0] == counts[1]


def test_the_first_recheck_of_many_newly_overdue_households_costs_what_a_few_cost(
    engine: Engine, clock: ManualClock
) -> None:
    """The tick right after a district's households went overdue re-checks each of them once.
    It sent ~6 statements a household (a savepoint, its case, its re-check marker): 12.5 s at
    100k (docs/benchmarks.md). Now its statements are the same for 2 and for 10 households."""
    counts = []
    for more, unchanged in ((2, 0), (10, 2)):  # the first two are steady by the second round
        for _ in range(more):
            _overdue(engine, clock)
        assert sweeper.tick(engine, clock, SETTINGS).opened == more
        clock.advance(timedelta(seconds=5))
        with statements(engine) as seen:
            assert sweeper.tick(engine, clock, SETTINGS).overdue_unchanged == unchanged
        counts.append(len(seen))
        clock.advance(timedelta(seconds=5))
    assert counts[0] == counts[1]


def test_households_reaching_the_critical_stage_together_are_raised_in_one_statement(
    engine: Engine, clock: ManualClock
) -> None:
    """Households that went quiet together reach the critical stage together: their cases were
    raised with a conditional UPDATE each; now one executemany for the batch."""
    hids = [_overdue(engine, clock, routine=True) for _ in range(6)]
    with Session(engine) as s:
        deadline = current_deadline(s, s.get_one(Watch, hids[0]), s.get_one(Household, hids[0]), SETTINGS)
    assert deadline is not None and deadline.critical_after is not None
    for at in (deadline.alert_after + timedelta(seconds=1), deadline.critical_after):
        clock.set(at)
        with session_scope(engine) as s:  # heard all along: no data gap
            for device in s.exec(select(Device)):
                device.last_seen_at = clock.now()
        if at < deadline.critical_after:
            _steady(engine, clock)
    assert [_case(engine, hid).severity for hid in hids] == [Severity.ALERT] * 6
    with statements(engine) as seen:
        sweeper.tick(engine, clock, SETTINGS)
    assert [_case(engine, hid).severity for hid in hids] == [Severity.CRITICAL] * 6
    case_updates = [q for q in seen if q.startswith("UPDATE alert_case")]
    assert len(case_updates) == 1, case_updates


def test_a_household_whose_recheck_fails_is_rolled_back_alone(
    engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch is redone one household at a time: the others' re-checks are stored, the failed
    one is looked at again next tick."""
    bad, good = _overdue(engine, clock), _overdue(engine, clock)
    assert sweeper.tick(engine, clock, SETTINGS).opened == 2
    clock.advance(timedelta(seconds=5))
    real = sweeper._raise_if_critical

    def broken_for_one(session: Session, household_id: int, *a: Any, **k: Any) -> None:
        if household_id == bad:
            raise RuntimeError("a bad routine row")
        real(session, household_id, *a, **k)

    monkeypatch.setattr(sweeper, "_raise_if_critical", broken_for_one)
    sweeper.tick(engine, clock, SETTINGS)
    monkeypatch.undo()
    recomputed = Recomputed(monkeypatch)
    clock.advance(timedelta(seconds=5))
    assert recomputed.during(lambda: sweeper.tick(engine, clock, SETTINGS)) == {bad}
    assert good != bad


def test_new_activity_still_clears_the_case_on_the_next_tick(engine: Engine, clock: ManualClock) -> None:
    hid = _overdue(engine, clock)
    _steady(engine, clock)
    # The gateway's bulk path: a human switch-on moves the watch.
    with session_scope(engine) as s:
        household = s.get_one(Household, hid)
        device = s.exec(select(Device).where(Device.household_id == hid)).one()
        assert device.id is not None
        activity = Activity(hid, household.timezone, None, clock.now(), device.id, "kettle", None)
        record_activities(s, [activity], clock.now(), SETTINGS)
    result = sweeper.tick(engine, clock, SETTINGS)
    assert (result.recovered, result.overdue_unchanged) == (1, 0)
    case = _case(engine, hid)
    assert (case.status, case.clear_reason) == (CaseStatus.CLEARED, "activity_resumed")


def test_the_raise_to_critical_comes_on_time_with_no_new_input(
    engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dangerous part: nothing new arrives, yet the tick at the critical time must raise it
    (without the periodic re-check's help: it is made too rare to come in between)."""
    monkeypatch.setattr(recheck, "RECHECK_EVERY", timedelta(days=30))
    hid = _overdue(engine, clock, routine=True)
    with Session(engine) as s:
        deadline = current_deadline(s, s.get_one(Watch, hid), s.get_one(Household, hid), SETTINGS)
    assert deadline is not None and deadline.critical_after is not None
    clock.set(deadline.alert_after + timedelta(seconds=1))
    with session_scope(engine) as s:  # heard all along: no data gap
        for device in s.exec(select(Device).where(Device.household_id == hid)):
            device.last_seen_at = clock.now()
    recomputed = Recomputed(monkeypatch)
    _steady(engine, clock)
    assert _case(engine, hid).severity == Severity.ALERT
    assert deadline.critical_after - clock.now() > timedelta(hours=1)
    # Quiet ticks up to 5 s before the critical time: not recomputed, still at alert.
    clock.set(deadline.critical_after - timedelta(seconds=5))
    assert recomputed.during(lambda: sweeper.tick(engine, clock, SETTINGS)) == set()
    assert _case(engine, hid).severity == Severity.ALERT
    # The tick at the critical time: recomputed and raised.
    clock.set(deadline.critical_after)
    assert recomputed.during(lambda: sweeper.tick(engine, clock, SETTINGS)) == {hid}
    assert _case(engine, hid).severity == Severity.CRITICAL


def test_every_overdue_household_is_rechecked_periodically(
    engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    hid = _overdue(engine, clock)
    recomputed = Recomputed(monkeypatch)
    _steady(engine, clock)
    clock.advance(recheck.RECHECK_EVERY - timedelta(seconds=10))
    assert recomputed.during(lambda: sweeper.tick(engine, clock, SETTINGS)) == set()
    clock.advance(recheck.RECHECK_EVERY + timedelta(seconds=10))
    assert recomputed.during(lambda: sweeper.tick(engine, clock, SETTINGS)) == {hid}


def test_a_clock_stepped_back_does_not_put_off_the_periodic_recheck(
    engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    hid = _overdue(engine, clock)
    recomputed = Recomputed(monkeypatch)
    clock.advance(timedelta(days=1))  # a wrong clock, a day ahead
    _steady(engine, clock)
    clock.advance(-timedelta(days=1))  # corrected: its next re-check would be a day off
    assert recomputed.during(lambda: sweeper.tick(engine, clock, SETTINGS)) == {hid}


def _checkin(s: Session, hid: int, now: datetime) -> None:
    s.get_one(Watch, hid).last_checkin_at = now


def _quiet_hours(s: Session, hid: int, now: datetime) -> None:
    s.get_one(Household, hid).quiet_hours = 20


def _away(s: Session, hid: int, now: datetime) -> None:
    h = s.get_one(Household, hid)
    h.monitoring, h.paused_until = MonitoringState.ACTIVE, now - timedelta(minutes=1)


def _refit(s: Session, hid: int, now: datetime) -> None:
    s.add(RoutineModel(household_id=hid, fitted_at=now, days_used=28, model=fitted_routine_json(now)))


def _house_on(s: Session, hid: int, now: datetime) -> None:
    s.add(HouseState(household_id=hid, on_since=now - timedelta(hours=20)))


def _plug_on(s: Session, hid: int, now: datetime) -> None:
    device = s.exec(select(Device).where(Device.household_id == hid)).one()
    assert device.id is not None
    s.add(ChannelState(device_id=device.id, channel="0", is_on=True, last_ts=now, last_event_ts=now))


def _unassigned(s: Session, hid: int, now: datetime) -> None:
    s.exec(select(Device).where(Device.household_id == hid)).one().status = DeviceStatus.RETIRED


def _renamed(s: Session, hid: int, now: datetime) -> None:
    s.exec(select(Device).where(Device.household_id == hid)).one().appliance = "tv"


def _acknowledged(s: Session, hid: int, now: datetime) -> None:
    s.exec(select(Case).where(Case.household_id == hid)).one().status = CaseStatus.ACKNOWLEDGED


def _data_gap(s: Session, hid: int, now: datetime) -> None:
    watch = s.get_one(Watch, hid)
    watch.data_gap_s, watch.data_gap_after = 7200.0, watch.last_activity_at


CHANGES = [
    _checkin,
    _quiet_hours,
    _away,
    _refit,
    _house_on,
    _plug_on,
    _unassigned,
    _renamed,
    _acknowledged,
    _data_gap,
]


@pytest.mark.parametrize("change", CHANGES, ids=[c.__name__.strip("_") for c in CHANGES])
def test_any_change_to_what_the_deadline_reads_brings_a_recheck(
    engine: Engine,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    change: Callable[[Session, int, datetime], None],
) -> None:
    hid = _overdue(engine, clock)
    _overdue(engine, clock)  # ``other``: unchanged
    recomputed = Recomputed(monkeypatch)
    _steady(engine, clock)
    with session_scope(engine) as s:
        change(s, hid, clock.now())
    assert recomputed.during(lambda: sweeper.tick(engine, clock, SETTINGS)) == {hid}  # not ``other``


def test_a_recheck_that_fails_is_tried_again_next_tick(
    engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    hid = _overdue(engine, clock)
    assert sweeper.tick(engine, clock, SETTINGS).opened == 1
    clock.advance(timedelta(seconds=5))

    def broken(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("a bad routine row")

    monkeypatch.setattr(sweeper, "_raise_if_critical", broken)
    sweeper.tick(engine, clock, SETTINGS)  # logged, rolled back: nothing stored for it
    monkeypatch.undo()
    recomputed = Recomputed(monkeypatch)
    clock.advance(timedelta(seconds=5))
    assert recomputed.during(lambda: sweeper.tick(engine, clock, SETTINGS)) == {hid}
    assert _case(engine, hid).kind == CaseKind.INACTIVITY
