"""Scheduled check-in calls: the schedule, placing the call once, the three questions, the summary."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CallOutcome, CallStatus, CaseKind, Language, Severity
from core.models import CallAttempt, Case, CheckinCall, CheckinSchedule, Household, Watch
from notifier import calls, checkins
from notifier.checkins import ScheduleError
from tests.factories import load_all, make_household, make_open_case
from tests.ticks import checkins_at

BASE = "https://care.example.org"
# Monday 2 March 2026, 00:30 UTC = 09:30 in Seoul.
MONDAY = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
TEN_SEOUL = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 10:00 in Seoul


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY)


def _household(engine: Engine, clock: ManualClock, *, weekdays: list[int] | None = None) -> int:
    with session_scope(engine) as s:
        hh = make_household(s)
        assert hh.id is not None
        checkins.set_schedule(s, hh.id, weekdays=weekdays or [1, 4], local_time="10:00", now=clock.now())
        return hh.id


def _say(twiml: str) -> str:
    return " ".join(el.text or "" for el in ET.fromstring(twiml.encode()).iter("Say"))


def _reply(engine: Engine, clock: ManualClock, code: str, **params: str) -> str:
    with session_scope(engine) as s:
        return calls.gather(s, code=code, params=params, base_url=BASE, now=clock.now())


def _placed_call(engine: Engine, clock: ManualClock) -> CallAttempt:
    clock.set(TEN_SEOUL)
    assert checkins_at(engine, clock.now()) == 1
    (attempt,) = load_all(engine, CallAttempt)
    with session_scope(engine) as s:  # the outbox placed it and the resident picked up
        row = s.get(CallAttempt, attempt.id)
        assert row is not None
        row.status = CallStatus.QUEUED
    return attempt


def test_a_schedule_is_validated_and_knows_its_next_call(engine: Engine, clock: ManualClock) -> None:
    household_id = _household(engine, clock)
    with Session(engine) as s:
        schedule = s.get(CheckinSchedule, household_id)
        assert schedule is not None
        assert (schedule.weekdays, schedule.next_due_at) == ([1, 4], TEN_SEOUL)
    with session_scope(engine) as s:
        for weekdays, local_time in (
            ([], "10:00"),
            ([0], "10:00"),
            ([8], "10:00"),
            ([1], "25:00"),
            ([1], "9:00"),
        ):
            with pytest.raises(ScheduleError):
                checkins.set_schedule(
                    s, household_id, weekdays=weekdays, local_time=local_time, now=clock.now()
                )
        with pytest.raises(ScheduleError):
            checkins.set_schedule(s, 999_999, weekdays=[1], local_time="10:00", now=clock.now())


def test_a_due_check_in_is_placed_once_and_the_schedule_moves_on(engine: Engine, clock: ManualClock) -> None:
    household_id = _household(engine, clock)
    assert checkins_at(engine, clock.now()) == 0  # 09:30: not yet
    clock.set(TEN_SEOUL)
    assert checkins_at(engine, clock.now()) == 1
    assert checkins_at(engine, clock.now()) == 0
    (attempt,) = load_all(engine, CallAttempt)
    assert (attempt.case_id, attempt.status, attempt.to_address) == (
        None,
        CallStatus.PENDING,
        "+821012345678",
    )
    with Session(engine) as s:
        schedule = s.get(CheckinSchedule, household_id)
        assert schedule is not None
        assert schedule.next_due_at == datetime(2026, 3, 5, 1, 0, tzinfo=UTC)  # Thursday 10:00 Seoul
        (row,) = s.exec(select(CheckinCall)).all()
        assert (row.call_attempt_id, row.scheduled_for) == (attempt.id, TEN_SEOUL)


def test_a_household_with_an_active_case_or_found_too_late_is_skipped(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    household_id = _household(sqlite_engine, clock)
    with session_scope(sqlite_engine) as s:
        hh = make_household(s)
        assert hh.id is not None
        checkins.set_schedule(s, hh.id, weekdays=[1], local_time="10:00", now=clock.now())
        first = s.get(Household, household_id)
        assert first is not None
        make_open_case(s, first, now=clock.now())
    clock.set(TEN_SEOUL + timedelta(hours=3))  # the other household's call is 3 h late
    assert checkins_at(sqlite_engine, clock.now()) == 0
    assert load_all(sqlite_engine, CallAttempt) == []
    with Session(sqlite_engine) as s:
        assert all(
            sch.next_due_at is not None and sch.next_due_at > clock.now()
            for sch in s.exec(select(CheckinSchedule)).all()
        )


def test_three_questions_a_summary_and_flags(engine: Engine, clock: ManualClock) -> None:
    household_id = _household(engine, clock)
    attempt = _placed_call(engine, clock)
    with session_scope(engine) as s:
        first = calls.answer(
            s, code=attempt.code, params={"AnsweredBy": "human"}, base_url=BASE, now=clock.now()
        )
    assert "정기 안부 전화" in _say(first) and "식사" in _say(first)
    assert "잠은" in _say(_reply(engine, clock, attempt.code, Digits="1"))
    assert "몸은" in _say(
        _reply(engine, clock, attempt.code, SpeechResult="잠을 통 못 자요", Confidence="0.9")
    )
    assert "감사합니다" in _say(_reply(engine, clock, attempt.code, Digits="1"))
    with Session(engine) as s:
        (summary,) = checkins.recent_checkins(s, household_id)
        row = s.get(CallAttempt, attempt.id)
        assert row is not None and row.outcome == CallOutcome.UNWELL
        watch = s.get(Watch, household_id)
    assert summary.answers == {"meals": "ok", "sleep": "concern", "health": "ok"}
    assert summary.flags == ["sleep_concern"]
    assert summary.summary == "식사: 괜찮음 · 수면: 걱정됨 · 건강: 괜찮음"
    assert watch is None or watch.last_checkin_at is None  # a worrying answer is not an all-clear check-in


def test_all_fine_is_a_check_in(sqlite_engine: Engine, clock: ManualClock) -> None:
    household_id = _household(sqlite_engine, clock)
    attempt = _placed_call(sqlite_engine, clock)
    for _ in range(3):
        _reply(sqlite_engine, clock, attempt.code, Digits="1")
    _reply(sqlite_engine, clock, attempt.code, Digits="1")  # a retried request: nothing more
    with Session(sqlite_engine) as s:
        watch = s.get(Watch, household_id)
        assert watch is not None and watch.last_checkin_at == clock.now()
        (summary,) = checkins.recent_checkins(s, household_id, language=Language.EN)
    assert (summary.outcome, summary.flags) == (CallOutcome.OK, [])
    assert summary.summary == "Meals: fine · Sleep: fine · Health: fine"


def test_an_emergency_answer_ends_the_call_and_escalates(sqlite_engine: Engine, clock: ManualClock) -> None:
    household_id = _household(sqlite_engine, clock)
    attempt = _placed_call(sqlite_engine, clock)
    closing = _reply(
        sqlite_engine,
        clock,
        attempt.code,
        SpeechResult="넘어져서 못 일어나겠어요 도와주세요",
        Confidence="0.8",
    )
    assert "119" in _say(closing)
    with Session(sqlite_engine) as s:
        (case,) = s.exec(select(Case).where(Case.household_id == household_id)).all()
        (summary,) = checkins.recent_checkins(s, household_id)
    assert (case.kind, case.severity) == (CaseKind.HELP_REQUESTED, Severity.CRITICAL)
    assert summary.flags == ["meals_emergency"]


def test_a_call_that_ends_early_keeps_what_was_said(sqlite_engine: Engine, clock: ManualClock) -> None:
    household_id = _household(sqlite_engine, clock)
    attempt = _placed_call(sqlite_engine, clock)
    _reply(sqlite_engine, clock, attempt.code, Digits="2")  # meals: not well, then hangs up
    with session_scope(sqlite_engine) as s:
        calls.call_status(
            s, code=attempt.code, params={"CallStatus": "completed", "SequenceNumber": "4"}, now=clock.now()
        )
    with Session(sqlite_engine) as s:
        (summary,) = checkins.recent_checkins(s, household_id)
    assert (summary.outcome, summary.flags) == (CallOutcome.UNWELL, ["meals_concern"])
    assert summary.summary.endswith("건강: 응답 없음")


def test_a_check_in_nobody_answered_says_so(sqlite_engine: Engine, clock: ManualClock) -> None:
    household_id = _household(sqlite_engine, clock)
    attempt = _placed_call(sqlite_engine, clock)
    with session_scope(sqlite_engine) as s:
        calls.call_status(s, code=attempt.code, params={"CallStatus": "no-answer"}, now=clock.now())
    with Session(sqlite_engine) as s:
        (summary,) = checkins.recent_checkins(s, household_id)
    assert (summary.outcome, summary.summary) == (CallOutcome.NO_ANSWER, "통화가 연결되지 않았습니다.")
