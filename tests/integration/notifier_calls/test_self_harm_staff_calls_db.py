"""Issue 19, the protocol's people (docs/calls.md, "Self-harm protocol"), on SQLite and
PostgreSQL: the caseworker is *called* at once and key 1 takes the case on and puts them through
to the resident; the control room is called when no caseworker takes it on in time (or every
caseworker call ended without it); a family member's "seen it" stops neither; the family is told
per the policy's ``self_harm.family``. Before: the caseworker was only texted, nobody else was
ever called, and the family was always texted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import (
    CallOutcome,
    CallPurpose,
    CaseEventType,
    CaseKind,
    CaseStatus,
    RecipientKind,
    Role,
)
from core.models import CallAttempt, Case, Household, Notification, User
from core.settings import Settings
from notifier import calls, escalation, followup, lifecycle, outbox
from notifier.calls import crisis_line
from notifier.script import CATALOGUE
from tests.factories import (
    case_events,
    make_call_attempt,
    make_household,
    make_open_case,
    make_team,
    make_user,
)
from tests.integration.notifier_engine.support import RecordingTransport

BASE = "https://care.example.org"
RESIDENT_PHONE = "+821012345678"
CASEWORKER_PHONE = "+821055500001"
CONTROL_ROOM_PHONE = "+821099900001"


@dataclass
class Home:
    household_id: int
    code: str  # the resident's wellness call
    caseworker: str  # username
    control_room: str


def _home(engine: Engine, clock: ManualClock, policy: dict[str, Any] | None = None) -> Home:
    with session_scope(engine) as s:
        team = make_team(s, policy=policy)
        caseworker = make_user(s, team=team, role=Role.CASEWORKER, phone=CASEWORKER_PHONE)
        control = make_user(s, team=None, role=Role.CONTROL_ROOM, phone=CONTROL_ROOM_PHONE)
        hh = make_household(s, team=team, resident_phone=RESIDENT_PHONE)
        case = make_open_case(s, hh, now=clock.now())
        attempt = make_call_attempt(s, hh, now=clock.now(), case=case)
        assert hh.id is not None
        return Home(hh.id, attempt.code, caseworker.username, control.username)


def _say_it(engine: Engine, clock: ManualClock, home: Home) -> Case:
    with session_scope(engine) as s:
        calls.gather(
            s,
            code=home.code,
            params={"SpeechResult": "죽고 싶어요", "Confidence": "0.9"},
            base_url=BASE,
            now=clock.now(),
            gather_no=1,
        )
    with Session(engine) as s:
        return s.exec(
            select(Case).where(Case.household_id == home.household_id, Case.kind == CaseKind.SELF_HARM_RISK)
        ).one()


def _staff_calls(engine: Engine, case: Case) -> list[tuple[str, CallAttempt]]:
    with Session(engine) as s:
        rows = s.exec(
            select(CallAttempt)
            .where(CallAttempt.case_id == case.id, CallAttempt.purpose == CallPurpose.STAFF_ALERT)
            .order_by(col(CallAttempt.id))
        ).all()
        return [(s.get_one(User, r.recipient_id).username, r) for r in rows]


def _answer(engine: Engine, clock: ManualClock, code: str) -> str:
    with session_scope(engine) as s:
        return calls.answer(s, code=code, params={"AnsweredBy": "human"}, base_url=BASE, now=clock.now())


def _press(engine: Engine, clock: ManualClock, code: str, digits: str, n: int = 1) -> str:
    with session_scope(engine) as s:
        return calls.gather(
            s, code=code, params={"Digits": digits}, base_url=BASE, now=clock.now(), gather_no=n
        )


def _tick(engine: Engine, clock: ManualClock) -> None:
    followup.tick(engine, clock, Settings(_env_file=None))


def test_the_caseworker_is_called_and_key_1_takes_it_on_and_connects_them(
    engine: Engine, clock: ManualClock
) -> None:
    home = _home(engine, clock)
    case = _say_it(engine, clock, home)
    ((who, call),) = _staff_calls(engine, case)
    assert (who, call.to_address, call.created_at) == (home.caseworker, CASEWORKER_PHONE, clock.now())
    opening = _answer(engine, clock, call.code)
    assert (
        CATALOGUE.text("call.self_harm.responder_alert", "ko", code=case_code(engine, case), line="109")
        in opening
    )
    assert 'input="dtmf"' in opening and 'numDigits="1"' in opening
    connected = _press(engine, clock, call.code, "1")
    assert CATALOGUE.text("call.staff.connecting", "ko") in connected
    assert f'<Dial timeout="30">{RESIDENT_PHONE}</Dial>' in connected
    with Session(engine) as s:
        after = s.get_one(Case, case.id)
        attempt = s.get_one(CallAttempt, call.id)
    assert (after.status, after.acknowledged_by) == (CaseStatus.ACKNOWLEDGED, f"user:{home.caseworker}")
    assert attempt.outcome == CallOutcome.ACKNOWLEDGED
    # Taken on: the control room is never called for it, however long it stays open.
    clock.advance(timedelta(hours=2))
    _tick(engine, clock)
    assert [w for w, _ in _staff_calls(engine, case)] == [home.caseworker]


def test_the_staff_members_key_presses_are_kept_on_the_case(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    """Each press is a ``call_outcome`` event: a re-ask in the call's name, the take-on in the
    staff member's."""
    home = _home(sqlite_engine, clock)
    case = _say_it(sqlite_engine, clock, home)
    ((_, call),) = _staff_calls(sqlite_engine, case)
    _answer(sqlite_engine, clock, call.code)
    _press(sqlite_engine, clock, call.code, "2")
    _press(sqlite_engine, clock, call.code, "1", n=2)
    events = case_events(sqlite_engine, case.id, CaseEventType.CALL_OUTCOME)
    common = {"call_attempt_id": call.id, "recipient_kind": "user", "input": "dtmf"}
    assert [(e.actor, e.data) for e in events] == [
        (
            f"call:{call.id}",
            common | {"outcome": None, "reask": True, "gather": 1, "digits": "2", "ack": None},
        ),
        (
            f"user:{home.caseworker}",
            common
            | {"outcome": "acknowledged", "reask": False, "gather": 2, "digits": "1", "ack": "taken_on"},
        ),
    ]


def test_nobody_takes_it_on_in_time_so_the_control_room_is_called_once(
    engine: Engine, clock: ManualClock
) -> None:
    home = _home(
        engine,
        clock,
        policy={
            "steps": [{"action": "call_resident", "wait_minutes": 60}],
            "self_harm": {"control_room_after_minutes": 5},
        },
    )
    case = _say_it(engine, clock, home)
    assert len(_staff_calls(engine, case)) == 1
    clock.advance(timedelta(minutes=4))
    _tick(engine, clock)
    assert len(_staff_calls(engine, case)) == 1  # the caseworker's call may still be ringing
    clock.advance(timedelta(minutes=1))
    _tick(engine, clock)
    _tick(engine, clock)
    calls_now = _staff_calls(engine, case)
    assert [w for w, _ in calls_now] == [home.caseworker, home.control_room]
    control = calls_now[1][1]
    assert control.to_address == CONTROL_ROOM_PHONE
    assert CATALOGUE.text(
        "call.self_harm.control_room_alert", "ko", code=case_code(engine, case), line="109"
    ) in _answer(engine, clock, control.code)
    # The control room takes it on: the case is theirs.
    _press(engine, clock, control.code, "1")
    with Session(engine) as s:
        assert s.get_one(Case, case.id).acknowledged_by == f"user:{home.control_room}"


def test_when_every_caseworker_call_ended_without_it_the_control_room_is_called_at_once(
    engine: Engine, clock: ManualClock
) -> None:
    home = _home(engine, clock)
    case = _say_it(engine, clock, home)
    ((_, call),) = _staff_calls(engine, case)
    _answer(engine, clock, call.code)
    _press(engine, clock, call.code, "", n=1)  # silence: asked once more
    assert CATALOGUE.text("call.staff.not_taken", "ko") in _press(engine, clock, call.code, "9", n=2)
    with session_scope(engine) as s:
        calls.call_status(s, code=call.code, params={"CallStatus": "completed"}, now=clock.now())
    clock.advance(timedelta(seconds=30))
    _tick(engine, clock)
    assert [w for w, _ in _staff_calls(engine, case)] == [home.caseworker, home.control_room]


def test_a_family_members_seen_it_stops_neither_the_caseworker_call_nor_the_control_room(
    engine: Engine, clock: ManualClock
) -> None:
    home = _home(engine, clock)
    case = _say_it(engine, clock, home)
    with session_scope(engine) as s:
        lifecycle.acknowledge(s, s.get_one(Case, case.id), actor="contact:1", now=clock.now())
    transport = RecordingTransport()
    outbox.tick(engine, clock, Settings(_env_file=None), transport)
    assert CASEWORKER_PHONE in [sent.to for sent in transport.sent if sent.kind == "call"]
    clock.advance(timedelta(minutes=10))
    _tick(engine, clock)
    assert [w for w, _ in _staff_calls(engine, case)] == [home.caseworker, home.control_room]


@pytest.mark.parametrize(("family", "told"), [("tell", True), ("do_not_tell", False)])
def test_the_family_is_told_per_the_policy(
    engine: Engine, clock: ManualClock, family: str, told: bool
) -> None:
    steps = [
        {"action": "notify_family", "tier": 1, "wait_minutes": 1},
        {"action": "notify_caseworker", "wait_minutes": 1},
    ]
    home = _home(engine, clock, policy={"steps": steps, "self_harm": {"family": family}})
    case = _say_it(engine, clock, home)
    # Neither at once nor at the self-harm case's own ladder steps later.
    for _ in range(3):
        clock.advance(timedelta(minutes=2))
        escalation.tick(engine, clock, Settings(_env_file=None))
    with Session(engine) as s:
        kinds = {
            n.recipient_kind
            for n in s.exec(select(Notification).where(Notification.case_id == case.id)).all()
        }
    assert (RecipientKind.CONTACT in kinds) is told
    assert RecipientKind.USER in kinds


def test_the_line_connection_is_recorded_on_the_self_harm_case(engine: Engine, clock: ManualClock) -> None:
    home = _home(engine, clock)
    case = _say_it(engine, clock, home)
    with session_scope(engine) as s:
        crisis_line.record(s, code=home.code, params={"DialCallStatus": "busy"}, attempt=1, now=clock.now())
        crisis_line.record(s, code=home.code, params={"Digits": "1"}, attempt=2, now=clock.now())
        crisis_line.record(
            s,
            code=home.code,
            params={"DialCallStatus": "completed", "DialCallDuration": "420"},
            attempt=2,
            now=clock.now(),
        )
    events = case_events(engine, case.id, CaseEventType.CRISIS_LINE)
    assert [(e.data["attempt"], e.data["dial_status"], e.data["pressed_to_connect"]) for e in events] == [
        (1, "busy", False),
        (2, None, True),
        (2, "completed", False),
    ]
    assert events[-1].data["duration_s"] == 420


def case_code(engine: Engine, case: Case) -> str:
    with Session(engine) as s:
        return s.get_one(Household, case.household_id).code
