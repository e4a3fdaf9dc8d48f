"""After the ladder: reminders while an acknowledged case stays unresolved, and "all clear"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CallStatus, CaseKind, Channel, OutboxStatus, RecipientKind, ResolutionCode
from core.models import Case, Contact, Notification
from core.settings import Settings
from notifier import lifecycle, outbox
from notifier.pacing import CallPacer
from notifier.policy import DEFAULT_ACK_REMINDER_MINUTES
from notifier.templates import CLOSURE_TEMPLATES
from tests.factories import make_household, make_open_case, make_team, make_user
from tests.integration.notifier_engine.support import FAMILY_FIRST, RecordingTransport, calls, notifications
from tests.ticks import run_notifier_ticks


@dataclass
class Setup:
    case_id: int
    household_code: str
    caseworker_id: int
    contact_ids: list[int]


def _setup(
    engine: Engine, clock: ManualClock, *, policy: dict[str, object] | None = None, contacts: int = 2
) -> Setup:
    with session_scope(engine) as s:
        team = make_team(s, policy=policy)
        hh = make_household(s, team=team, contacts=contacts)
        user = make_user(s, team=team, phone="+821055501111")
        case = make_open_case(s, hh, now=clock.now())
        ids = [c.id for c in s.exec(select(Contact).where(Contact.household_id == hh.id)).all()]
        assert case.id is not None and user.id is not None
        return Setup(case.id, hh.code, user.id, [i for i in ids if i is not None])


def _ack(engine: Engine, clock: ManualClock, case_id: int) -> None:
    with session_scope(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None
        lifecycle.acknowledge(s, case, actor="user:1", now=clock.now())


def _reminders(engine: Engine, case_id: int) -> list[Notification]:
    with Session(engine) as s:
        return [n for n in notifications(s, case_id) if n.template == "sms.caseworker.ack_reminder"]


def _send_all(engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport) -> None:
    outbox.tick(engine, clock, settings, transport, pacer=CallPacer(0))


# ---------------------------------------------------------------- reminders


@pytest.mark.slow
def test_an_acknowledged_case_reminds_the_caseworker_until_resolved(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    setup = _setup(engine, clock)
    _ack(engine, clock, setup.case_id)
    acked_at = clock.now()
    run_notifier_ticks(engine, clock, settings)  # arms the first reminder
    with Session(engine) as s:
        case = s.get(Case, setup.case_id)
        assert case is not None
        assert case.next_action_at == acked_at + timedelta(minutes=DEFAULT_ACK_REMINDER_MINUTES)
    clock.advance(timedelta(minutes=DEFAULT_ACK_REMINDER_MINUTES - 1))
    run_notifier_ticks(engine, clock, settings)
    assert _reminders(engine, setup.case_id) == []
    clock.advance(timedelta(minutes=1))
    run_notifier_ticks(engine, clock, settings)
    run_notifier_ticks(engine, clock, settings)  # a second tick at the same moment adds nothing
    (first,) = _reminders(engine, setup.case_id)
    assert (first.recipient_kind, first.recipient_id) == (RecipientKind.USER, setup.caseworker_id)
    assert ":step:ack_reminder:rep:1:" in first.idempotency_key
    assert setup.household_code in first.body
    _send_all(engine, clock, settings, transport)
    assert [m.to for m in transport.sent] == ["+821055501111"]  # not cancelled: the token is current
    clock.advance(timedelta(minutes=DEFAULT_ACK_REMINDER_MINUTES))
    run_notifier_ticks(engine, clock, settings)
    assert [":rep:2:" in n.idempotency_key for n in _reminders(engine, setup.case_id)] == [False, True]
    # Resolving stops the reminders.
    with session_scope(engine) as s:
        case = s.get(Case, setup.case_id)
        assert case is not None
        lifecycle.resolve(
            s, case, actor="user:1", code=ResolutionCode.RESIDENT_FINE, note=None, now=clock.now()
        )
    clock.advance(timedelta(days=2))
    run_notifier_ticks(engine, clock, settings)
    assert len(_reminders(engine, setup.case_id)) == 2


def test_the_reminder_interval_comes_from_the_policy(
    sqlite_engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    setup = _setup(sqlite_engine, clock, policy={**FAMILY_FIRST, "ack_reminder_minutes": 30})
    _ack(sqlite_engine, clock, setup.case_id)
    run_notifier_ticks(sqlite_engine, clock, settings)
    clock.advance(timedelta(minutes=30))
    run_notifier_ticks(sqlite_engine, clock, settings)
    assert len(_reminders(sqlite_engine, setup.case_id)) == 1


# ---------------------------------------------------------------- all clear


def _walk_to_family_and_caseworker(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport, setup: Setup
) -> None:
    """FAMILY_FIRST: family SMS, then caseworker SMS, each sent by the outbox."""
    run_notifier_ticks(engine, clock, settings)
    _send_all(engine, clock, settings, transport)
    clock.advance(timedelta(minutes=10))
    run_notifier_ticks(engine, clock, settings)
    _send_all(engine, clock, settings, transport)


def test_everyone_told_gets_one_all_clear_when_the_case_clears(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    setup = _setup(engine, clock, policy=FAMILY_FIRST)
    _walk_to_family_and_caseworker(engine, clock, settings, transport, setup)
    told = sorted(m.to for m in transport.sent)
    assert len(told) == 3  # two contacts and the caseworker
    with session_scope(engine) as s:
        case = s.get(Case, setup.case_id)
        assert case is not None
        lifecycle.clear(s, case, reason="activity", now=clock.now())
    run_notifier_ticks(engine, clock, settings)
    run_notifier_ticks(engine, clock, settings)  # once only
    with Session(engine) as s:
        closing = [n for n in notifications(s, setup.case_id) if "all_clear" in n.template]
    assert sorted(n.to_address for n in closing) == told
    assert {n.template for n in closing} == {"sms.family.all_clear", "sms.caseworker.all_clear"}
    transport.sent.clear()
    _send_all(engine, clock, settings, transport)
    assert sorted(m.to for m in transport.sent) == told  # the outbox does not cancel them as stale
    assert all("해제" in m.body for m in transport.sent)


def test_nobody_told_means_no_all_clear(
    sqlite_engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    setup = _setup(sqlite_engine, clock, policy=FAMILY_FIRST)
    run_notifier_ticks(sqlite_engine, clock, settings)  # family SMS queued, never sent
    with session_scope(sqlite_engine) as s:
        case = s.get(Case, setup.case_id)
        assert case is not None
        lifecycle.clear(s, case, reason="activity", now=clock.now())
    run_notifier_ticks(sqlite_engine, clock, settings)
    with Session(sqlite_engine) as s:
        assert [n.template for n in notifications(s, setup.case_id)] == ["sms.family.ladder"] * 2


@pytest.mark.parametrize(
    ("code", "template", "says"),
    [
        (ResolutionCode.HOSPITAL, "sms.family.hospital", "병원에 계신 것으로 확인되어"),
        (ResolutionCode.FOUND_IN_NEED, "sms.family.closed", "종결되었습니다"),
    ],
)
def test_a_worrying_resolution_sends_its_own_text_not_all_clear_and_skips_opted_out_contacts(
    sqlite_engine: Engine,
    clock: ManualClock,
    settings: Settings,
    transport: RecordingTransport,
    code: ResolutionCode,
    template: str,
    says: str,
) -> None:
    setup = _setup(sqlite_engine, clock, policy=FAMILY_FIRST)
    run_notifier_ticks(sqlite_engine, clock, settings)
    _send_all(sqlite_engine, clock, settings, transport)
    with session_scope(sqlite_engine) as s:
        worker = make_user(s, username="closer", phone="+821055512345")
        opted = s.get(Contact, setup.contact_ids[0])
        assert opted is not None
        opted.opted_out = True
        case = s.get(Case, setup.case_id)
        assert case is not None
        lifecycle.resolve(
            s, case, actor=f"user:{worker.username}", code=code, note="admitted", now=clock.now()
        )
    run_notifier_ticks(sqlite_engine, clock, settings)
    with Session(sqlite_engine) as s:
        closing = [n for n in notifications(s, setup.case_id) if n.template in CLOSURE_TEMPLATES]
    assert [(n.recipient_id, n.template) for n in closing] == [(setup.contact_ids[1], template)]
    assert "admitted" not in closing[0].body and "해제" not in closing[0].body
    # Whom to ask, with the number of the caseworker who closed it (issue 17).
    assert says in closing[0].body and "담당 복지사(+821055512345)" in closing[0].body


def test_contacts_who_prefer_calls_get_the_sms_and_a_call(
    engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    setup = _setup(engine, clock, policy=FAMILY_FIRST, contacts=1)
    with session_scope(engine) as s:
        contact = s.get(Contact, setup.contact_ids[0])
        assert contact is not None
        contact.preferred_channel = Channel.CALL
    run_notifier_ticks(engine, clock, settings)
    with Session(engine) as s:
        (sms,) = notifications(s, setup.case_id)
        (call,) = calls(s, setup.case_id)
    assert sms.recipient_id == call.recipient_id == setup.contact_ids[0]
    assert (call.recipient_kind, call.status) == (RecipientKind.CONTACT, CallStatus.PENDING)
    assert sms.status == OutboxStatus.PENDING


def test_an_acknowledged_pattern_finding_sends_no_reminders(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    # Findings (unusual night, fading routine...) wait for the next review; an acknowledged one
    # must not text the on-duty caseworker every few hours like an unresolved emergency would.
    with session_scope(engine) as s:
        team = make_team(s)
        hh = make_household(s, team=team)
        make_user(s, team=team, phone="+821055501111")
        finding = make_open_case(s, hh, now=clock.now(), kind=CaseKind.FADING_ROUTINE)
        assert finding.id is not None
        finding_id = finding.id
    _ack(engine, clock, finding_id)
    for _ in range(3):
        run_notifier_ticks(engine, clock, settings)
        clock.advance(timedelta(minutes=DEFAULT_ACK_REMINDER_MINUTES + 1))
    run_notifier_ticks(engine, clock, settings)
    assert _reminders(engine, finding_id) == []
