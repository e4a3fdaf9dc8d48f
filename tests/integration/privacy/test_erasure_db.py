"""Erasing a resident: their personal data is gone from every table, statistics and an audit
trace stay, an open case refuses it unless forced, and a repeat changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import AuditAction, AuditObject, CaseStatus, MonitoringState, ResolutionCode, Role
from core.models import (
    ActivityEdge,
    AuditEntry,
    CallAttempt,
    CallReply,
    Case,
    Device,
    HouseBucket,
    Household,
    HouseState,
    Notification,
    Reading,
    ReadingHour,
    ReadingRollup,
    Resident,
    RoutineModel,
    Watch,
)
from notifier.erasure import Actor, ErasureRefused, erase_resident
from tests.factories import make_open_case
from tests.integration.privacy import seed
from tests.integration.privacy.people import Person, household_of, resident_ids, where_found

ADMIN = Actor(user_id=7, role=Role.ADMIN, client="10.0.0.9")


def _statistics(engine: Engine, household_id: int) -> list[tuple[object, ...]]:
    with Session(engine) as s:
        cases = s.exec(select(Case).where(Case.household_id == household_id).order_by(col(Case.id))).all()
        calls = s.exec(
            select(CallAttempt).where(CallAttempt.household_id == household_id).order_by(col(CallAttempt.id))
        ).all()
        texts = s.exec(select(Notification).where(Notification.household_id == household_id)).all()
        return [
            *((c.kind, c.status, c.severity, c.opened_at, c.resolved_at, c.resolution_code) for c in cases),
            *((c.purpose, c.status, c.outcome, c.intent, c.created_at) for c in calls),
            *((n.template, n.status, n.created_at) for n in texts),
        ]


def test_the_erased_residents_data_is_in_no_table_and_the_neighbours_is_untouched(
    engine: Engine, clock: ManualClock
) -> None:
    now = clock.now()
    her, neighbour = Person(1), Person(2)
    with session_scope(engine) as s:
        household = household_of(s, her, now)
        household_of(s, neighbour, now)
        resident_id = resident_ids(s, household)[0]
        device_ids = [d.id for d in s.exec(select(Device).where(Device.household_id == household.id))]
    assert where_found(engine, [*her.words(), seed.SAID, seed.TEXTED])  # the scan finds it before

    result = erase_resident(engine, resident_id, actor=ADMIN, now=now)

    assert result.household_erased and not result.already and result.readings_deleted == 11
    assert where_found(engine, her.words()) == set()
    assert where_found(engine, [seed.SAID, seed.TEXTED]) <= {
        # the neighbour's case holds the same seeded words: the scan must find them only there
        "callattempt.transcript",
        "call_reply.params",
        "caseevent.data",
        "checkin_call.answers",
    }
    assert where_found(engine, neighbour.words()) == {
        "household.address",
        "resident.name",
        "resident.phone",
        "contact.name",
        "contact.phone",
        "contact.relation",
        "contact.address_as",
        "rejectedmessage.payload_excerpt",
        "callattempt.to_address",
        "notification.to_address",
        "notification.body",
        "alert_case.resolution_note",
        "caseevent.data",
    }
    with Session(engine) as s:
        assert s.get(Resident, resident_id).birth_year is None  # type: ignore[union-attr]
        assert s.exec(select(func.count()).where(col(Reading.device_id).in_(device_ids))).one() == 0
        assert s.exec(select(func.count()).where(ActivityEdge.household_id == household.id)).one() == 0
        assert s.get(RoutineModel, household.id) is None
        assert s.get(HouseState, household.id) is None
        watch = s.get(Watch, household.id)
        assert watch is not None and (watch.checked_inputs, watch.next_recheck_at) == (None, None)
        assert s.exec(select(func.count()).where(HouseBucket.household_id == household.id)).one() == 0
        assert s.exec(select(func.count()).where(ReadingHour.household_id == household.id)).one() == 0
        assert s.get(ReadingRollup, household.id) is None
        # The neighbour's summaries are untouched.
        assert s.exec(select(func.count()).select_from(ReadingHour)).one() == 1
        assert s.exec(select(func.count()).select_from(ReadingRollup)).one() == 1
        her_calls = select(CallAttempt.code).where(CallAttempt.household_id == household.id)
        assert s.exec(select(func.count()).where(col(CallReply.code).in_(her_calls))).one() == 0
        home = s.get(Household, household.id)
        assert home is not None and home.erased_at == now
        assert (home.monitoring, home.paused_until) == (MonitoringState.PAUSED, None)  # never watched again
        assert all(s.get(Device, d).household_id is None for d in device_ids)  # type: ignore[union-attr]


def test_statistics_stay_and_the_audit_log_says_who_erased_which_household(
    engine: Engine, clock: ManualClock
) -> None:
    now = clock.now()
    with session_scope(engine) as s:
        household = household_of(s, Person(3), now)
        assert household.id is not None
        resident_id = resident_ids(s, household)[0]
    before = _statistics(engine, household.id)
    assert len(before) >= 4
    clock.advance(timedelta(hours=1))
    erase_resident(engine, resident_id, actor=ADMIN, now=clock.now())
    assert _statistics(engine, household.id) == before
    with Session(engine) as s:
        entries = s.exec(select(AuditEntry).where(AuditEntry.action == AuditAction.ERASE)).all()
    assert [(e.object_type, e.object_id, e.user_id, e.role, e.client, e.at) for e in entries] == [
        (AuditObject.HOUSEHOLD, household.id, 7, Role.ADMIN, "10.0.0.9", clock.now())
    ]


def test_an_open_case_refuses_the_erasure_unless_forced(engine: Engine, clock: ManualClock) -> None:
    now = clock.now()
    person = Person(4)
    with session_scope(engine) as s:
        household = household_of(s, person, now)
        case_id = make_open_case(s, household, now=now).id
        resident_id = resident_ids(s, household)[0]
        pending = seed.case_with_words(s, household, opened=now - timedelta(days=9), closed=None)[1]
        pending.status = pending.status.PENDING

    with pytest.raises(ErasureRefused, match="open case") as refused:
        erase_resident(engine, resident_id, actor=ADMIN, now=now)
    assert case_id in refused.value.open_case_ids
    assert where_found(engine, [person.name]), "nothing erased"

    result = erase_resident(engine, resident_id, actor=ADMIN, now=now, force=True)
    assert result.cases_resolved == [case_id]  # the one active inactivity case
    assert where_found(engine, person.words()) == set()
    with Session(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None and (case.status, case.resolution_code) == (
            CaseStatus.RESOLVED,
            ResolutionCode.OTHER,
        )
        assert case.resolved_by == "erasure:7"
        call = s.get(CallAttempt, pending.id)
        assert call is not None and call.status.value == "canceled"  # nobody to call any more


def test_erasing_twice_changes_nothing_the_second_time(engine: Engine, clock: ManualClock) -> None:
    with session_scope(engine) as s:
        household = household_of(s, Person(5), clock.now())
        resident_id = resident_ids(s, household)[0]
    erase_resident(engine, resident_id, actor=ADMIN, now=clock.now())
    clock.advance(timedelta(days=1))
    again = erase_resident(engine, resident_id, actor=ADMIN, now=clock.now())
    assert again.already
    with Session(engine) as s:
        assert s.exec(select(func.count()).where(AuditEntry.action == AuditAction.ERASE)).one() == 1
        assert s.get(Household, household.id).erased_at < clock.now()  # type: ignore[union-attr,operator]


@pytest.mark.slow
def test_with_someone_else_at_home_only_the_residents_own_data_goes(
    engine: Engine, clock: ManualClock
) -> None:
    person = Person(6)
    with session_scope(engine) as s:
        household = household_of(s, person, clock.now(), residents=2)
        first, second = resident_ids(s, household)
    result = erase_resident(engine, first, actor=ADMIN, now=clock.now())
    assert not result.household_erased
    with Session(engine) as s:
        entry = s.exec(select(AuditEntry).where(AuditEntry.action == AuditAction.ERASE)).one()
        assert (entry.object_type, entry.object_id) == (AuditObject.RESIDENT, first)
    found = where_found(engine, [person.name + "-동거인", person.address, person.contact_phone])
    assert {"resident.name", "household.address", "contact.phone"} <= found  # the other resident's home
    with Session(engine) as s:
        gone = s.get(Resident, first)
        assert gone is not None and (gone.name, gone.phone, gone.birth_year) == ("", None, None)
        assert s.exec(select(CallAttempt).where(col(CallAttempt.to_address) == person.phone)).first() is None
    assert erase_resident(engine, second, actor=ADMIN, now=clock.now()).household_erased
    assert where_found(engine, [*person.words(), person.name + "-동거인"]) == set()


def test_no_such_resident(engine: Engine, clock: ManualClock) -> None:
    with pytest.raises(ErasureRefused, match="no resident with id 999") as refused:
        erase_resident(engine, 999, actor=ADMIN, now=clock.now())
    assert refused.value.open_case_ids == []
