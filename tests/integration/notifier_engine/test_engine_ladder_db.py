"""The escalation engine on a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import (
    CallStatus,
    CaseEventType,
    CaseKind,
    CaseStatus,
    Channel,
    Language,
    OutboxStatus,
    RecipientKind,
    Role,
    Severity,
)
from core.models import Case, Contact, Organisation, User
from core.settings import Settings
from notifier import escalation, lifecycle
from notifier.policy import DEFAULT_POLICY, snapshot_for_household
from tests.factories import make_household, make_open_case, make_team, make_user
from tests.integration.notifier_engine.support import FAMILY_FIRST, calls, events, load_case, notifications
from tests.ticks import run_notifier_ticks


def _setup_household(
    engine: Engine, clock: ManualClock, **household: object
) -> tuple[int, int, dict[str, int]]:
    """A household with two tier-1 contacts, one tier-2 contact and a mix of staff; returns ids."""
    with session_scope(engine) as s:
        team = make_team(s)
        hh = make_household(s, team=team, contacts=2, **household)  # type: ignore[arg-type]
        assert hh.id is not None
        tier2 = Contact(household_id=hh.id, name="Neighbour", phone="+821099990000", tier=2)
        s.add(tier2)
        on_duty = make_user(s, team=team, phone="+821055501111")
        off_duty = make_user(s, team=team, phone="+821055502222")
        off_duty.on_duty = False
        make_user(s, team=team, role=Role.CONTROL_ROOM, phone="+821055503333")
        make_user(s, team=make_team(s), phone="+821055504444")  # another team's caseworker
        s.flush()
        case = make_open_case(s, hh, now=clock.now())
        assert case.id is not None and on_duty.id is not None and tier2.id is not None
        return case.id, hh.id, {"caseworker": on_duty.id, "tier2": tier2.id}


def test_a_case_walks_the_default_ladder_as_the_clock_advances(
    engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    case_id, _, ids = _setup_household(engine, clock)
    start = clock.now()

    def tick_at(minutes: float) -> int:
        clock.set(start + timedelta(minutes=minutes))
        return run_notifier_ticks(engine, clock, settings)

    assert tick_at(0) == 1
    assert tick_at(0) == 0  # the next step is not due yet
    assert tick_at(4.9) == 0
    with Session(engine) as s:
        first = calls(s, case_id)
        assert len(first) == 1
        call = first[0]
        case = s.get(Case, case_id)
        assert case is not None
        assert call.recipient_kind == RecipientKind.RESIDENT and call.to_address == "+821012345678"
        assert call.status == CallStatus.PENDING and call.language == Language.KO
        assert call.escalation_token == case.escalation_token and len(call.code) == 32
        assert call.idempotency_key == (
            f"case:{case_id}:tok:{case.escalation_token}:step:0:rep:0:resident:{call.recipient_id}:call"
        )
        assert (case.step_index, case.repeat_count) == (1, 0)
        assert case.next_action_at == start + timedelta(minutes=5)

    assert tick_at(5) == 1  # second call
    assert tick_at(15) == 1  # family, tier 1 only
    with Session(engine) as s:
        assert len(calls(s, case_id)) == 2
        family = notifications(s, case_id)
        assert len(family) == 2
        assert {n.recipient_kind for n in family} == {RecipientKind.CONTACT}
        assert ids["tier2"] not in {n.recipient_id for n in family}
        for n in family:
            assert n.template == "sms.family.ladder" and n.channel == Channel.SMS
            assert n.status == OutboxStatus.PENDING
            assert "HH-" in n.body and re.search(r"1 \d{4} 로 답장해 주세요", n.body)
            assert "Kim Test" not in n.body  # never the resident's name

    assert tick_at(30) == 1  # the on-duty caseworker of the household's team only
    with Session(engine) as s:
        staff = [n for n in notifications(s, case_id) if n.recipient_kind == RecipientKind.USER]
        assert [(n.recipient_id, n.to_address, n.template) for n in staff] == [
            (ids["caseworker"], "+821055501111", "sms.caseworker.ladder")
        ]

    # Three repeats of family (15 min) + caseworker (15 min).
    for minutes in range(45, 121, 15):
        assert tick_at(minutes) == 1
    with Session(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert (case.step_index, case.repeat_count, case.severity) == (4, 0, Severity.ALERT)
        assert not events(s, case_id, CaseEventType.ESCALATION_EXHAUSTED)
        assert len(notifications(s, case_id)) == 4 * 3  # 4 passes x (2 family + 1 caseworker)

    assert tick_at(135) == 1  # exhausted: critical, caseworker reminded
    assert tick_at(150) == 1
    with Session(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert case.severity == Severity.CRITICAL
        assert case.next_action_at == start + timedelta(minutes=165)
        assert len(events(s, case_id, CaseEventType.ESCALATION_EXHAUSTED)) == 1
        reminders = [n for n in notifications(s, case_id) if n.template == "sms.caseworker.exhausted"]
        assert len(reminders) == 2 and {n.recipient_id for n in reminders} == {ids["caseworker"]}
        assert "긴급" in reminders[0].body
        steps = events(s, case_id, CaseEventType.STEP)
        assert [e.data["step"] for e in steps] == ["0", "1", "2", "3"] + ["2", "3"] * 3 + ["4", "4"]
        assert len(events(s, case_id, CaseEventType.CALL_QUEUED)) == 2
        assert len(events(s, case_id, CaseEventType.NOTIFICATION_QUEUED)) == 14
        keys = [n.idempotency_key for n in notifications(s, case_id)]
        assert len(set(keys)) == len(keys)


def test_two_concurrent_ticks_run_each_step_once(
    engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    case_ids = [_setup_household(engine, clock)[0] for _ in range(6)]
    start = clock.now()
    for minutes in (0, 5, 15):
        clock.set(start + timedelta(minutes=minutes))
        barrier = threading.Barrier(2)
        results: list[int] = []

        def worker(barrier: threading.Barrier = barrier, results: list[int] = results) -> None:
            barrier.wait(timeout=10)
            results.append(run_notifier_ticks(engine, clock, settings))

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sum(results) == len(case_ids), results
    with Session(engine) as s:
        for case_id in case_ids:
            assert len(calls(s, case_id)) == 2
            assert len(notifications(s, case_id)) == 2
            assert len(events(s, case_id, CaseEventType.STEP)) == 3
            case = s.get(Case, case_id)
            assert case is not None and case.step_index == 3


def test_a_stale_worker_cannot_run_a_step_after_an_acknowledgement(
    engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    case_id, _, _ = _setup_household(engine, clock)
    stale = Session(engine, expire_on_commit=False)
    try:
        held = stale.get(Case, case_id)  # the worker read the case (and keeps it: the identity
        assert held is not None  # map is weak, and a reload would see the acknowledgement) ...
        stale.commit()
        with session_scope(engine) as s:  # ... then someone acknowledged it ...
            case = s.get(Case, case_id)
            assert case is not None
            lifecycle.acknowledge(s, case, actor="user:1", now=clock.now())
        # ... and the worker, still holding the old version and token, tries the step.
        assert held.status == CaseStatus.OPEN  # what the worker believes
        assert escalation.run_due_step(stale, case_id, clock.now()) is False
        stale.rollback()
    finally:
        stale.close()
    with Session(engine) as s:
        assert calls(s, case_id) == []
        assert events(s, case_id, CaseEventType.STEP) == []
    assert run_notifier_ticks(engine, clock, settings) == 0  # acknowledged cases are not escalated


def test_a_step_that_reaches_nobody_does_not_make_the_next_one_wait(
    engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    case_id, _, _ = _setup_household(engine, clock, with_resident=False)
    assert run_notifier_ticks(engine, clock, settings) == 1  # call step: nobody to call
    assert run_notifier_ticks(engine, clock, settings) == 1  # second call step: nobody either
    assert run_notifier_ticks(engine, clock, settings) == 1  # family, at once
    with Session(engine) as s:
        assert calls(s, case_id) == []
        assert len(notifications(s, case_id)) == 2
        steps = events(s, case_id, CaseEventType.STEP)
        assert [e.data["recipients"] for e in steps] == [0, 0, 2]
        case = s.get(Case, case_id)
        assert case is not None and case.next_action_at == clock.now() + timedelta(minutes=15)


def test_a_device_offline_case_tells_the_caseworker_once_and_never_rings_anyone(
    engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    with session_scope(engine) as s:
        team = make_team(s)
        hh = make_household(s, team=team)
        make_user(s, team=team)
        case = make_open_case(s, hh, now=clock.now(), kind=CaseKind.DEVICE_OFFLINE)
        case_id = case.id
        assert case_id is not None
    assert run_notifier_ticks(engine, clock, settings) == 1
    clock.advance(timedelta(days=1))
    assert run_notifier_ticks(engine, clock, settings) == 0
    with Session(engine) as s:
        assert calls(s, case_id) == []
        sent = notifications(s, case_id)
        assert [(n.recipient_kind, n.template) for n in sent] == [
            (RecipientKind.USER, "sms.caseworker.ladder")
        ]
        assert "기기 연결 끊김" in sent[0].body
    assert load_case(engine, case_id).next_action_at is None


def test_contacts_get_their_own_language_and_opted_out_contacts_get_nothing(
    engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    with session_scope(engine) as s:
        team = make_team(s, policy=FAMILY_FIRST)
        hh = make_household(s, team=team, contacts=0)
        assert hh.id is not None
        s.add(Contact(household_id=hh.id, name="Son", phone="+447700900001", language=Language.EN))
        s.add(Contact(household_id=hh.id, name="Cousin", phone="+821077700002", opted_out=True))
        s.flush()
        case_id = make_open_case(s, hh, now=clock.now()).id
        assert case_id is not None
    assert run_notifier_ticks(engine, clock, settings) == 1
    with Session(engine) as s:
        (only,) = notifications(s, case_id)
        assert only.to_address == "+447700900001" and only.language == Language.EN
        assert only.body.startswith("[Anbu] Household HH-") and "Reply 1" in only.body


def test_snapshot_uses_the_organisation_policy_and_falls_back_when_it_is_broken(engine: Engine) -> None:
    with session_scope(engine) as s:
        own = make_household(s, team=make_team(s, policy=FAMILY_FIRST))
        default = make_household(s, team=make_team(s))
        broken_team = make_team(s)
        broken = make_household(s, team=broken_team)
        org = s.get(Organisation, broken_team.organisation_id)
        assert org is not None
        org.escalation_policy = {"steps": [{"action": "call_resident", "wait_minutes": 0}]}
        s.flush()
        assert own.id and default.id and broken.id
        assert snapshot_for_household(s, own.id)["steps"][0]["action"] == "notify_family"
        assert snapshot_for_household(s, own.id)["emergency"] == DEFAULT_POLICY.snapshot()["emergency"]
        assert snapshot_for_household(s, default.id) == DEFAULT_POLICY.snapshot()
        assert snapshot_for_household(s, broken.id) == DEFAULT_POLICY.snapshot()


@pytest.mark.parametrize("status", [CaseStatus.CLEARED, CaseStatus.RESOLVED])
def test_closed_cases_are_never_escalated(
    engine: Engine, clock: ManualClock, settings: Settings, status: CaseStatus
) -> None:
    case_id, _, _ = _setup_household(engine, clock)
    with session_scope(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None
        lifecycle.clear(s, case, reason="activity_resumed", now=clock.now())
        if status == CaseStatus.RESOLVED:
            from core.enums import ResolutionCode

            lifecycle.resolve(
                s, case, actor="user:1", code=ResolutionCode.RESIDENT_FINE, note=None, now=clock.now()
            )
    assert run_notifier_ticks(engine, clock, settings) == 0
    with Session(engine) as s:
        assert calls(s, case_id) == [] and notifications(s, case_id) == []


def test_a_broken_case_does_not_stop_the_others(
    engine: Engine, clock: ManualClock, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _, _ = _setup_household(engine, clock)
    second, _, _ = _setup_household(engine, clock)
    real = escalation.run_due_step

    def flaky(session: Session, case_id: int, now: object) -> bool:
        if case_id == first:
            raise RuntimeError("boom")
        return real(session, case_id, now)  # type: ignore[arg-type]

    monkeypatch.setattr(escalation, "run_due_step", flaky)
    assert run_notifier_ticks(engine, clock, settings) == 1
    with Session(engine) as s:
        assert calls(s, first) == [] and len(calls(s, second)) == 1
        assert s.exec(select(User)).first() is not None
