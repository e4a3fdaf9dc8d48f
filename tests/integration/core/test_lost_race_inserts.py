"""Inserts that can lose a race to a concurrent writer of the same unique key answer with the
winner's row (``core.db.insert_or_find``): each race is staged by making the first look-up miss,
as if it ran before the other writer committed. SQLite always, PostgreSQL when configured."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import Language, RecipientKind
from core.models import AckCode, CallAttempt, CallReply, Case, Contact, Watch
from notifier import ack_codes, replies, stored_replies
from notifier.calls import inbound
from tests.factories import make_household, make_open_case, make_watch


def _count(engine: Engine, model: Any) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def test_an_ack_code_made_concurrently_is_the_one_used(
    engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(engine) as s:
        household = make_household(s, contacts=1)
        case = make_open_case(s, household, now=clock.now())
        contact = s.exec(select(Contact).where(Contact.household_id == household.id)).one()
        assert case.id is not None and contact.id is not None
        case_id, contact_id = case.id, contact.id
        first = ack_codes.code_for(s, case, contact_id, clock.now())
    real = ack_codes._row
    calls: list[int] = []

    def not_seen_yet(session: Session, case_id: int, contact_id: int) -> AckCode | None:
        calls.append(case_id)
        return None if len(calls) == 1 else real(session, case_id, contact_id)

    monkeypatch.setattr(ack_codes, "_row", not_seen_yet)
    with session_scope(engine) as s:
        assert ack_codes.code_for(s, s.get_one(Case, case_id), contact_id, clock.now()) == first
    assert len(calls) == 2  # the unique key refused the second code; the winner's was read
    assert _count(engine, AckCode) == 1


def test_a_reply_delivered_twice_at_once_is_stored_once(
    engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = stored_replies.RawReply(
        key="reply-1", code="c-1", gather_no=1, params={"Digits": "1"}, received_at=clock.now()
    )
    first = stored_replies._store(engine, raw)
    real = stored_replies._id_by_key
    calls: list[str] = []

    def not_seen_yet(session: Session, key: str) -> int | None:
        calls.append(key)
        return None if len(calls) == 1 else real(session, key)

    monkeypatch.setattr(stored_replies, "_id_by_key", not_seen_yet)
    assert stored_replies._store(engine, raw) == first
    assert _count(engine, CallReply) == 1


def test_an_inbound_call_recorded_twice_at_once_answers_with_the_first_row(
    engine: Engine, clock: ManualClock
) -> None:
    with session_scope(engine) as s:
        household = make_household(s)
        assert household.id is not None
        household_id = household.id

    def record(at_minutes: int) -> int | None:
        with session_scope(engine) as s:
            attempt = inbound._new_inbound(
                s,
                call_sid="CA-twice",
                household_id=household_id,
                kind=RecipientKind.RESIDENT,
                recipient_id=1,
                number="+821012345678",
                language=Language.KO,
                case=None,
                now=clock.now() + timedelta(minutes=at_minutes),
                verstat=None,
            )
            return attempt.id

    first = record(0)
    assert record(1) == first  # Twilio's retry, delivered to a second API process
    assert _count(engine, CallAttempt) == 1


def test_a_checkin_racing_the_gateway_for_a_new_watch_updates_the_gateways_row(
    engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(engine) as s:
        household = make_household(s)
        assert household.id is not None
        household_id = household.id
        make_watch(s, household, last_checkin_at=clock.now() - timedelta(hours=5))
    now = clock.now()
    with session_scope(engine) as s:
        real = s.get
        calls: list[object] = []

        def not_seen_yet(model: Any, ident: Any, **kwargs: Any) -> Any:
            calls.append(model)
            return None if len(calls) == 1 else real(model, ident, **kwargs)

        monkeypatch.setattr(s, "get", not_seen_yet)  # as if the gateway made the watch just now
        replies.record_checkin(s, household_id, now)
    assert calls == [Watch, Watch]
    with Session(engine) as s:
        assert s.get_one(Watch, household_id).last_checkin_at == now
    assert _count(engine, Watch) == 1
