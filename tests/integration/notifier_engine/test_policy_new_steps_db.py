"""Issue 17's policy steps at work, on SQLite and PostgreSQL: a family voice call (to a contact who
prefers texts, too), a control-room call, and a 119 hand-off that texts the control room what a
119 call needs and calls them; the same hand-off among the emergency actions. Before, a policy
with any of these steps could not be saved."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CallPurpose, Intent, RecipientKind, Role
from core.models import CallAttempt, Case, Contact, Household, Notification, Resident, Watch
from core.settings import Settings
from notifier import calls, escalation, links
from notifier.replies import apply_reply
from notifier.script import CATALOGUE
from tests.factories import make_household, make_open_case, make_team, make_user

BASE = "https://care.example.org"
CONTROL_ROOM_PHONE = "+821099900002"
POLICY: dict[str, Any] = {
    "steps": [
        {"action": "call_family", "tier": 1, "wait_minutes": 1},
        {"action": "call_control_room", "wait_minutes": 1},
        {"action": "handoff_119", "wait_minutes": 1},
    ],
    "emergency": [{"action": "notify_caseworker"}, {"action": "handoff_119"}],
}


def _setup(engine: Engine, clock: ManualClock) -> tuple[int, int]:
    with session_scope(engine) as s:
        team = make_team(s, policy=POLICY)
        make_user(s, team=team, role=Role.CASEWORKER, phone="+821055500009")
        make_user(s, team=None, role=Role.CONTROL_ROOM, phone=CONTROL_ROOM_PHONE)
        hh = make_household(s, team=team)
        hh.address = "서울시 강남구 테헤란로 1, 101호"
        resident = s.exec(select(Resident).where(Resident.household_id == hh.id)).one()
        resident.birth_year = 1941
        assert hh.id is not None
        s.add(
            Watch(
                household_id=hh.id, last_activity_at=clock.now() - timedelta(hours=13), updated_at=clock.now()
            )
        )
        case = make_open_case(s, hh, now=clock.now())
        assert hh.id is not None and case.id is not None
        return hh.id, case.id


def _step(engine: Engine, clock: ManualClock) -> None:
    escalation.tick(engine, clock, Settings(_env_file=None))
    clock.advance(timedelta(minutes=1))


def test_family_call_control_room_call_and_119_hand_off(engine: Engine, clock: ManualClock) -> None:
    links.configure(Settings(_env_file=None, public_base_url=BASE))
    household_id, case_id = _setup(engine, clock)
    for _ in range(2):
        _step(engine, clock)
    with session_scope(engine) as s:
        (first_control,) = s.exec(
            select(CallAttempt).where(
                CallAttempt.case_id == case_id, CallAttempt.purpose == CallPurpose.STAFF_ALERT
            )
        ).all()
        # Before any hand-off: a plain control-room call (the alert and "press 1").
        control = calls.answer(
            s, code=first_control.code, params={"AnsweredBy": "human"}, base_url=BASE, now=clock.now()
        )
    assert "119" not in control and "1번을 눌러" in control
    _step(engine, clock)
    with Session(engine) as s:
        rows = s.exec(
            select(CallAttempt).where(CallAttempt.case_id == case_id).order_by(col(CallAttempt.id))
        ).all()
        contact = s.exec(select(Contact).where(Contact.household_id == household_id)).one()
        texts = s.exec(select(Notification).where(Notification.case_id == case_id)).all()
    # Step 0: the family member is called although they prefer texts; no text with it.
    # Steps 1 and 2: the control room is called (the hand-off calls too, so it is seen at night).
    assert [(c.purpose, c.to_address) for c in rows] == [
        (CallPurpose.CONTACT_ALERT, contact.phone),
        (CallPurpose.STAFF_ALERT, CONTROL_ROOM_PHONE),
        (CallPurpose.STAFF_ALERT, CONTROL_ROOM_PHONE),
    ]
    (sheet,) = texts
    assert (sheet.recipient_kind, sheet.to_address, sheet.template) == (
        RecipientKind.USER,
        CONTROL_ROOM_PHONE,
        "handoff.sms_119",
    )
    age = clock.now().year - 1941
    for needed in (
        "Kim Test",
        f"{age}세",
        "+821012345678",
        "서울시 강남구 테헤란로 1, 101호",
        f"{BASE}/#/cases/{case_id}/handoff",
    ):
        assert needed in sheet.body, needed
    assert "119에 신고해 주세요" in sheet.body and "직접 신고하지 않습니다" in sheet.body
    # The family call says the alert from the catalogue; the hand-off call asks for the 119 call.
    with session_scope(engine) as s:
        family = calls.answer(
            s, code=rows[0].code, params={"AnsweredBy": "human"}, base_url=BASE, now=clock.now()
        )
        control = calls.answer(
            s, code=rows[1].code, params={"AnsweredBy": "human"}, base_url=BASE, now=clock.now()
        )
        handoff = calls.answer(
            s, code=rows[2].code, params={"AnsweredBy": "human"}, base_url=BASE, now=clock.now()
        )
        code = s.get_one(Household, household_id).code
    assert CATALOGUE.text("call.contact.question", "ko") in family
    kind = CATALOGUE.text("notify.kind.inactivity", "ko")
    assert CATALOGUE.text("call.staff.handoff_119", "ko", code=code, kind=kind) in handoff


def test_a_hand_off_among_the_emergency_actions_sends_the_sheet_not_the_emergency_text(
    engine: Engine, clock: ManualClock
) -> None:
    household_id, case_id = _setup(engine, clock)
    with session_scope(engine) as s:
        apply_reply(
            s,
            household_id=household_id,
            case=s.get_one(Case, case_id),
            intent=Intent.EMERGENCY,
            now=clock.now(),
            actor="call:1",
            channel="call",
        )
    with Session(engine) as s:
        texts = {
            (n.to_address, n.template)
            for n in s.exec(select(Notification).where(Notification.case_id == case_id))
        }
        called = [c.to_address for c in s.exec(select(CallAttempt).where(CallAttempt.case_id == case_id))]
    assert texts == {
        ("+821055500009", "sms.caseworker.emergency"),
        (CONTROL_ROOM_PHONE, "handoff.sms_119"),
    }
    assert called == [CONTROL_ROOM_PHONE]
