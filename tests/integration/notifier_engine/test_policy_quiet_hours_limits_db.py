"""Policy features on a real database: quiet hours, per-household limits, the pre-call text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseEventType, CaseKind, Channel, RecipientKind, Severity
from core.models import Case
from core.settings import Settings
from notifier import escalation, lifecycle
from tests.factories import make_household, make_open_case, make_team
from tests.integration.notifier_engine.support import calls, events, notifications, open_case
from tests.ticks import run_notifier_ticks

# 02:00 in Seoul (17:00 UTC the day before): inside 21:00-08:00.
NIGHT = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
MORNING_END = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)  # 08:00 Seoul
CALL_THEN_FAMILY: dict[str, object] = {
    "steps": [
        {"action": "call_resident", "wait_minutes": 10},
        {"action": "notify_family", "tier": 1, "wait_minutes": 10},
        {"action": "notify_caseworker", "wait_minutes": 10},
    ]
}


def _kinds(engine: Engine, case_id: int) -> list[tuple[str, RecipientKind]]:
    with Session(engine) as s:
        rows = [("call", c.recipient_kind) for c in calls(s, case_id)]
        rows += [("sms", n.recipient_kind) for n in notifications(s, case_id)]
        return rows


def test_skip_mode_passes_over_the_night_call_and_tells_family_at_once(
    engine: Engine, settings: Settings
) -> None:
    clock = ManualClock(NIGHT)
    policy = {**CALL_THEN_FAMILY, "quiet_hours": {"start": "21:00", "end": "08:00"}}
    case_id = open_case(engine, clock, policy)
    run_notifier_ticks(engine, clock, settings)  # the call step: skipped
    assert _kinds(engine, case_id) == []
    run_notifier_ticks(engine, clock, settings)  # due at once: family
    assert _kinds(engine, case_id) == [("sms", RecipientKind.CONTACT)]
    with Session(engine) as s:
        (first, _) = events(s, case_id, CaseEventType.STEP)
    assert first.data["skipped"] == "quiet_hours"


def test_defer_mode_waits_for_the_morning_then_calls(engine: Engine, settings: Settings) -> None:
    clock = ManualClock(NIGHT)
    policy = {**CALL_THEN_FAMILY, "quiet_hours": {"start": "21:00", "end": "08:00", "mode": "defer"}}
    case_id = open_case(engine, clock, policy)
    run_notifier_ticks(engine, clock, settings)
    with Session(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert (case.step_index, case.next_action_at) == (0, MORNING_END)
    clock.set(MORNING_END - timedelta(seconds=1))
    run_notifier_ticks(engine, clock, settings)
    assert _kinds(engine, case_id) == []
    clock.set(MORNING_END)
    run_notifier_ticks(engine, clock, settings)
    assert _kinds(engine, case_id) == [("call", RecipientKind.RESIDENT)]


@pytest.mark.parametrize("kind", [CaseKind.HELP_REQUESTED, CaseKind.INACTIVITY])
def test_emergencies_are_called_even_in_quiet_hours(
    sqlite_engine: Engine, settings: Settings, kind: CaseKind
) -> None:
    clock = ManualClock(NIGHT)
    policy = {**CALL_THEN_FAMILY, "quiet_hours": {"start": "21:00", "end": "08:00", "mode": "defer"}}
    case_id = open_case(sqlite_engine, clock, policy, kind=kind)
    if kind == CaseKind.INACTIVITY:  # a critical inactivity case counts as an emergency
        with session_scope(sqlite_engine) as s:
            case = s.get(Case, case_id)
            assert case is not None
            lifecycle.raise_severity(s, case, severity=Severity.CRITICAL, reason="test", now=clock.now())
    run_notifier_ticks(sqlite_engine, clock, settings)
    assert _kinds(sqlite_engine, case_id) == [("call", RecipientKind.RESIDENT)]


def test_outside_quiet_hours_nothing_changes(sqlite_engine: Engine, settings: Settings) -> None:
    clock = ManualClock(MORNING_END + timedelta(hours=2))
    case_id = open_case(
        sqlite_engine, clock, {**CALL_THEN_FAMILY, "quiet_hours": {"start": "21:00", "end": "08:00"}}
    )
    run_notifier_ticks(sqlite_engine, clock, settings)
    assert _kinds(sqlite_engine, case_id) == [("call", RecipientKind.RESIDENT)]


def test_the_call_limit_holds_back_calls_with_a_visible_event_but_not_the_caseworker(
    engine: Engine, settings: Settings
) -> None:
    clock = ManualClock(MORNING_END + timedelta(hours=2))
    policy = {
        "steps": [
            {"action": "call_resident", "wait_minutes": 10},
            {"action": "call_resident", "wait_minutes": 10},
            {"action": "notify_caseworker", "wait_minutes": 10},
        ],
        "limits": {"calls_per_household_per_day": 1},
    }
    case_id = open_case(engine, clock, policy)
    for _ in range(3):
        run_notifier_ticks(engine, clock, settings)
        clock.advance(timedelta(minutes=10))
    assert _kinds(engine, case_id) == [("call", RecipientKind.RESIDENT), ("sms", RecipientKind.USER)]
    with Session(engine) as s:
        (limited,) = events(s, case_id, CaseEventType.LIMIT_REACHED)
    assert (limited.data["channel"], limited.data["step"]) == (Channel.CALL.value, "1")


def test_the_family_sms_limit_never_holds_back_an_emergency(
    sqlite_engine: Engine, settings: Settings
) -> None:
    clock = ManualClock(MORNING_END + timedelta(hours=2))
    policy = {
        "steps": [{"action": "notify_family", "tier": 1, "wait_minutes": 10}],
        "repeat_from": 0,
        "max_repeats": 3,
        "limits": {"family_sms_per_household_per_day": 1},
    }
    case_id = open_case(sqlite_engine, clock, policy)
    run_notifier_ticks(sqlite_engine, clock, settings)
    clock.advance(timedelta(minutes=10))
    run_notifier_ticks(sqlite_engine, clock, settings)  # the repeat: over the limit
    with session_scope(sqlite_engine) as s:
        case = s.get(Case, case_id)
        assert case is not None
        escalation.escalate_now(s, case, target="emergency", now=clock.now(), reason="test")
    with Session(sqlite_engine) as s:
        templates = [
            n.template for n in notifications(s, case_id) if n.recipient_kind == RecipientKind.CONTACT
        ]
        assert templates == ["sms.family.ladder", "sms.family.emergency"]
        assert len(events(s, case_id, CaseEventType.LIMIT_REACHED)) == 1


def test_the_pre_call_text_goes_before_the_first_call_only(engine: Engine, settings: Settings) -> None:
    clock = ManualClock(MORNING_END + timedelta(hours=2))
    policy = {
        "steps": [
            {"action": "call_resident", "wait_minutes": 10},
            {"action": "call_resident", "wait_minutes": 10},
        ],
        "pre_call_sms": True,
    }
    case_id = open_case(engine, clock, policy)
    run_notifier_ticks(engine, clock, settings)
    clock.advance(timedelta(minutes=10))
    run_notifier_ticks(engine, clock, settings)
    with Session(engine) as s:
        (notice,) = notifications(s, case_id)
        assert (notice.recipient_kind, notice.template) == (RecipientKind.RESIDENT, "sms.resident.pre_call")
        assert len(calls(s, case_id)) == 2
        assert notice.id is not None and notice.to_address == calls(s, case_id)[0].to_address


THREE_CALLS_20_MIN_APART: dict[str, object] = {
    "steps": [{"action": "call_resident", "wait_minutes": 20}] * 3,
    "limits": {"calls_per_household_per_day": 1},
}


@pytest.mark.parametrize(
    ("tz", "placed", "held"),
    [
        # 23:30 and 23:50 in Seoul are one day, 00:10 the next: the count starts again.
        ("Asia/Seoul", 2, 1),
        # The same instants are 14:30-15:10 in London: one local day, so the limit still holds.
        ("Europe/London", 1, 2),
    ],
)
def test_the_daily_call_limit_is_the_households_local_calendar_day(
    engine: Engine, settings: Settings, tz: str, placed: int, held: int
) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 14, 30, tzinfo=UTC))  # 23:30 in Seoul
    with session_scope(engine) as s:
        team = make_team(s, policy=THREE_CALLS_20_MIN_APART)
        case = make_open_case(s, make_household(s, team=team, tz=tz, contacts=0), now=clock.now())
        case_id = case.id
    assert case_id is not None
    for _ in range(3):
        run_notifier_ticks(engine, clock, settings)
        clock.advance(timedelta(minutes=20))
    with Session(engine) as s:
        assert len(calls(s, case_id)) == placed
        assert len(events(s, case_id, CaseEventType.LIMIT_REACHED)) == held
