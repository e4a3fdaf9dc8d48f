"""A household with personal data in every place Anbu keeps it, and a scan for it afterwards."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session, SQLModel

from core.enums import CaseEventType, RecipientKind
from core.models import (
    ChannelState,
    CheckinSchedule,
    Contact,
    HouseBucket,
    Household,
    HouseState,
    ReadingHour,
    ReadingRollup,
    Resident,
    RoutineModel,
)
from notifier import lifecycle
from notifier.transports.base import mask_phone
from tests.factories import make_device, make_household, make_watch
from tests.integration.privacy import seed


class Person:
    """Distinct words per household, so a scan tells one household's data from another's."""

    def __init__(self, n: int) -> None:
        self.name = f"홍길순{n}"
        self.phone = f"+82109876543{n}"
        self.address = f"서울시 마포구 성미산로 {n}7길"
        self.contact_name = f"홍민수{n}"
        self.contact_phone = f"+82105551234{n}"
        self.relation = f"셋째며느리{n}"
        self.address_as = f"큰어머님{n}"  # how the contact calls her (their texts say so)

    def words(self) -> list[str]:
        masked = mask_phone(self.phone)
        return [
            self.name,
            self.phone,
            self.address,
            self.contact_name,
            self.contact_phone,
            self.relation,
            self.address_as,
            masked,
        ]


def household_of(session: Session, person: Person, now: datetime, *, residents: int = 1) -> Household:
    """Everything: resident(s), a contact, a plug with readings, a routine, a watch, a check-in
    call, a closed case full of words and texts, a rejected payload."""
    household = make_household(session, with_resident=False, contacts=0)
    assert household.id is not None
    household.address = person.address
    for i in range(residents):
        session.add(
            Resident(
                household_id=household.id,
                name=person.name if i == 0 else f"{person.name}-동거인",
                phone=person.phone if i == 0 else f"{person.phone}9",
                birth_year=1941,
            )
        )
    session.add(
        Contact(
            household_id=household.id,
            name=person.contact_name,
            relation=person.relation,
            address_as=person.address_as,
            phone=person.contact_phone,
        )
    )
    session.flush()
    device = make_device(session, household=household)
    assert device.id is not None
    for minutes in range(0, 50, 10):
        seed.reading(session, device, now - timedelta(days=1, minutes=minutes))
        seed.edge(session, device, now - timedelta(days=1, minutes=minutes))
    bad = seed.rejected(session, now - timedelta(days=1), device)
    bad.payload_excerpt = json.dumps({"name": person.name}, ensure_ascii=False)
    session.add(ChannelState(device_id=device.id, channel="0", last_ts=now))
    session.add(RoutineModel(household_id=household.id, fitted_at=now, days_used=28, model={"p": [0.1]}))
    session.add(HouseBucket(household_id=household.id, start=now - timedelta(days=1), level_w=180.0))
    session.add(HouseState(household_id=household.id, on_since=now - timedelta(hours=2)))
    # The hourly coverage of its readings and where the roll-up stands (anomaly/rollup.py).
    session.add(ReadingHour(household_id=household.id, hour=now - timedelta(days=1), covered_s=3600))
    session.add(
        ReadingRollup(household_id=household.id, rolled_until=now, first_reading_at=now - timedelta(days=9))
    )
    watch = make_watch(session, household, last_activity_at=now, explanation="주전자 사용 07:12")
    watch.checked_inputs, watch.next_recheck_at = "f00d", now + timedelta(minutes=5)  # anomaly/recheck.py
    session.add(watch)
    session.add(CheckinSchedule(household_id=household.id, weekdays=[1, 4], updated_at=now, next_due_at=now))
    call, _ = seed.checkin_call(session, household, now - timedelta(days=3))
    call.to_address, call.recipient_kind = person.phone, RecipientKind.RESIDENT
    case, case_call, text_ = seed.case_with_words(
        session, household, opened=now - timedelta(days=5), closed=now - timedelta(days=4)
    )
    case_call.to_address = person.phone
    text_.to_address, text_.body = person.contact_phone, f"{person.name} 님 댁에서 응답이 없습니다"
    case.resolution_note = f"{person.name} 님 병원 이송"
    lifecycle.record_event(
        session,
        case,
        CaseEventType.FIELD_VISIT,
        now,
        actor="caseworker1",
        visitor="이웃 " + person.name,
        note=f"{person.address} 방문",
    )
    lifecycle.record_event(
        session, case, CaseEventType.NOTIFICATION_QUEUED, now, to=mask_phone(person.contact_phone)
    )
    # A bare "1" from the family's number (notifier.ack_codes): who answered, by relation.
    lifecycle.record_event(
        session,
        case,
        CaseEventType.REPLY_UNVERIFIED,
        now,
        actor="contact:1",
        reason="no_code",
        relation=person.relation,
    )
    session.flush()
    return household


def resident_ids(session: Session, household: Household) -> list[int]:
    from sqlmodel import col, select

    ids = session.exec(
        select(Resident.id).where(Resident.household_id == household.id).order_by(col(Resident.id))
    )
    return [i for i in ids if i is not None]


def where_found(engine: Engine, words: list[str]) -> set[str]:
    """``table.column`` of every stored value, of every table, holding any of *words*."""
    found: set[str] = set()
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(table.select()).mappings():
                for column, value in row.items():
                    blob = _as_text(value)
                    if blob and any(w in blob for w in words):
                        found.add(f"{table.name}.{column}")
        conn.execute(text("SELECT 1"))
    return found


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return ""
