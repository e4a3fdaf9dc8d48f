"""``anbu checkins set|show`` against a fresh database."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session

from anbu.cli import main
from core.db import make_engine, session_scope
from core.models import CheckinSchedule
from tests.factories import make_household
from tests.ticks import checkins_at


def test_set_and_show_a_schedule(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        household_id = make_household(s).id
    capsys.readouterr()
    assert main(["checkins", "set", str(household_id), "--days", "1,4", "--at", "10:30"]) == 0
    assert "next check-in call 20" in capsys.readouterr().out
    with Session(engine) as s:
        schedule = s.get(CheckinSchedule, household_id)
        assert schedule is not None and (schedule.weekdays, schedule.local_time) == ([1, 4], "10:30")
    assert main(["checkins", "show", str(household_id), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["schedule"]["weekdays"] == [1, 4] and shown["recent"] == []


@pytest.mark.parametrize("days", ["0", "mon", "1,8"])
def test_bad_days_are_refused_and_nothing_is_stored(
    db_url: str, capsys: pytest.CaptureFixture[str], days: str
) -> None:
    main(["db", "upgrade"])
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        household_id = make_household(s).id
    capsys.readouterr()
    assert main(["checkins", "set", str(household_id), "--days", days]) == 2
    assert capsys.readouterr().err.startswith("error:")
    with Session(engine) as s:
        assert s.get(CheckinSchedule, household_id) is None


def test_show_tells_why_the_last_check_in_was_skipped(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime, timedelta

    from core.enums import MonitoringState
    from core.models import Household
    from notifier import checkins

    slot = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 10:00 in Seoul
    assert main(["db", "upgrade"]) == 0
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        household = make_household(s)
        assert household.id is not None
        household_id = household.id
        checkins.set_schedule(
            s, household_id, weekdays=[1], local_time="10:00", now=slot - timedelta(hours=1)
        )
    capsys.readouterr()
    assert main(["checkins", "show", str(household_id), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["schedule"]["last_skip"] is None
    with session_scope(engine) as s:
        paused = s.get(Household, household_id)
        assert paused is not None
        paused.monitoring = MonitoringState.PAUSED
        s.add(paused)
    checkins_at(engine, slot + timedelta(minutes=1))  # due while paused: skipped, not called
    assert main(["checkins", "show", str(household_id), "--json"]) == 0
    skip = json.loads(capsys.readouterr().out)["schedule"]["last_skip"]
    assert skip["reason"] == "paused"
    assert datetime.fromisoformat(skip["slot"]) == slot
    assert skip["held_until"] is None
