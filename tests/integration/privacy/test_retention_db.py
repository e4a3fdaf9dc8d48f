"""Retention, kind by kind: old rows go, young rows and what an open case needs stay, in bounded
batches (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, func
from sqlmodel import Session, SQLModel, col, select

from core.clock import ManualClock
from core.db import session_scope
from core.models import (
    ActivityEdge,
    AuditEntry,
    CallAttempt,
    Case,
    CaseEvent,
    CheckinCall,
    HouseBucket,
    MessageReceipt,
    Notification,
    Reading,
    ReadingHour,
    RejectedMessage,
)
from core.settings import Settings
from notifier import retention
from notifier.retention import Limits
from tests.factories import make_device, make_household
from tests.integration.privacy import seed

DAY = timedelta(days=1)


def _count(engine: Engine, model: type[SQLModel]) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


def test_raw_readings_go_after_two_weeks_and_what_the_detector_keeps_of_them_after_400_days(
    engine: Engine, clock: ManualClock
) -> None:
    now = clock.now()
    with session_scope(engine) as s:
        device = make_device(s, household=make_household(s))
        for age in (200, 15, 13, 1):
            seed.reading(s, device, now - age * DAY)
        for age in (500, 401, 399, 15, 1):
            seed.edge(s, device, now - age * DAY)
    settings = Settings(_env_file=None)
    assert (settings.retention_readings_days, settings.retention_summaries_days) == (14, 400)
    done = retention.tick(engine, clock, settings)
    assert (done["readings"], done["summaries"]) == (2, 2)
    with Session(engine) as s:
        kept = s.exec(select(Reading.received_at).order_by(col(Reading.id))).all()
        assert [round((now - t) / DAY) for t in kept] == [13, 1]
        # Switch-ons outlive the readings they came from: the routine and the day view read them.
        edges = s.exec(select(ActivityEdge.ts).order_by(col(ActivityEdge.id))).all()
        assert [round((now - t) / DAY) for t in edges] == [399, 15, 1]
    again = retention.tick(engine, clock, settings)
    assert (again["readings"], again["summaries"]) == (0, 0)


def test_the_house_levels_half_hours_and_the_hourly_coverage_go_with_the_summaries(
    engine: Engine, clock: ManualClock
) -> None:
    now = clock.now()
    with session_scope(engine) as s:
        household_id = make_household(s).id
        assert household_id is not None
        for age in (500, 401, 399, 20, 1):
            s.add(HouseBucket(household_id=household_id, start=now - age * DAY, level_w=150.0))
            s.add(ReadingHour(household_id=household_id, hour=now - age * DAY, covered_s=3600))
    done = retention.tick(engine, clock, Settings(_env_file=None))
    assert (done["readings"], done["summaries"]) == (0, 4)
    with Session(engine) as s:
        buckets = s.exec(select(HouseBucket.start).order_by(col(HouseBucket.start))).all()
        hours = s.exec(select(ReadingHour.hour).order_by(col(ReadingHour.hour))).all()
    assert [round((now - t) / DAY) for t in buckets] == [399, 20, 1]
    assert [round((now - t) / DAY) for t in hours] == [399, 20, 1]


def test_deletions_are_bounded_per_batch_and_per_run(engine: Engine, clock: ManualClock) -> None:
    now = clock.now()
    with session_scope(engine) as s:
        device = make_device(s, household=make_household(s))
        for i in range(7):
            seed.reading(s, device, now - 100 * DAY + i * timedelta(minutes=1))
        seed.reading(s, device, now)
    older = now - 90 * DAY
    assert retention.prune_readings(engine, older_than=older, limits=Limits(batch_size=2, max_batches=2)) == 4
    assert _count(engine, Reading) == 4
    assert retention.prune_readings(engine, older_than=older, limits=Limits(batch_size=2, max_batches=9)) == 3
    assert _count(engine, Reading) == 1


def test_a_run_with_nothing_old_reads_one_batch_only(engine: Engine, clock: ManualClock) -> None:
    """The walk stops at the first head batch without an old row: no scan of the whole table."""
    now = clock.now()
    with session_scope(engine) as s:
        device = make_device(s, household=make_household(s))
        for i in range(5):
            seed.reading(s, device, now - i * timedelta(minutes=1))
    statements: list[str] = []
    from sqlalchemy import event

    def remember(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "reading" in statement.lower():
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", remember)
    try:
        limits = Limits(batch_size=2, max_batches=50)
        assert retention.prune_readings(engine, older_than=now - 90 * DAY, limits=limits) == 0
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    assert len([s for s in statements if "FROM reading" in s]) == 1


def test_retention_cannot_starve_the_detector() -> None:
    with pytest.raises(ValidationError, match="retention_readings_days"):
        Settings(_env_file=None, retention_readings_days=13)
    assert Settings(_env_file=None, retention_readings_days=14).retention_readings_days == 14
    with pytest.raises(ValidationError, match="retention_summaries_days"):
        Settings(_env_file=None, retention_summaries_days=59)
    assert Settings(_env_file=None, retention_summaries_days=60).retention_summaries_days == 60


def test_what_residents_said_goes_after_the_case_closed_but_never_while_it_is_open(
    engine: Engine, clock: ManualClock
) -> None:
    now = clock.now()
    with session_scope(engine) as s:
        old_closed = seed.case_with_words(s, make_household(s), opened=now - 200 * DAY, closed=now - 91 * DAY)
        recent_closed = seed.case_with_words(
            s, make_household(s), opened=now - 200 * DAY, closed=now - 10 * DAY
        )
        still_open = seed.case_with_words(s, make_household(s), opened=now - 400 * DAY, closed=None)
        ids = [c.id for c, _, _ in (old_closed, recent_closed, still_open)]
    assert retention.tick(engine, clock, Settings(_env_file=None))["transcripts"] == 1
    with Session(engine) as s:
        said = {c: _words_on_case(s, c) for c in ids}
        cases = {c: s.get(Case, c) for c in ids}
    assert said[ids[0]] == set()  # the resident's words are gone ...
    assert said[ids[1]] == {seed.SAID, seed.TEXTED}  # ... not yet: closed 10 days ago
    assert said[ids[2]] == {seed.SAID, seed.TEXTED}  # open for 400 days: it still needs them
    first = cases[ids[0]]
    assert first is not None and first.transcripts_removed_at == now
    with Session(engine) as s:
        events = s.exec(
            select(CaseEvent).where(CaseEvent.case_id == ids[0]).order_by(col(CaseEvent.id))
        ).all()
        # ... but the record stays: every event, the intent heard, staff's own note.
        assert [e.type.value for e in events] == ["opened", "call_outcome", "note", "note", "resolved"]
        assert events[1].data["intent"] == "unwell"
        assert events[3].data["text"] == "visited, all well"
        call = s.exec(select(CallAttempt).where(CallAttempt.case_id == ids[0])).one()
        assert call.transcript == "" and call.outcome is None and call.status.value == "completed"
    assert retention.tick(engine, clock, Settings(_env_file=None))["transcripts"] == 0


def test_check_in_calls_lose_their_words_after_the_window_and_keep_the_answers(
    engine: Engine, clock: ManualClock
) -> None:
    now = clock.now()
    with session_scope(engine) as s:
        household = make_household(s)
        old_call, old_answers = seed.checkin_call(s, household, now - 91 * DAY)
        young_call, young_answers = seed.checkin_call(s, household, now - 89 * DAY)
    retention.tick(engine, clock, Settings(_env_file=None))
    with Session(engine) as s:
        assert s.get(CallAttempt, old_call.id).transcript == ""  # type: ignore[union-attr]
        old = s.get(CheckinCall, old_answers.id)
        assert old is not None and old.answers == {
            "meals": {"answer": "concern", "input": "speech", "excerpt": ""}
        }
        assert seed.SAID in s.get(CallAttempt, young_call.id).transcript  # type: ignore[union-attr]
        young = s.get(CheckinCall, young_answers.id)
        assert young is not None and young.answers["meals"]["excerpt"] == seed.SAID


def test_texts_we_sent_and_numbers_go_unless_a_case_still_needs_them(
    engine: Engine, clock: ManualClock
) -> None:
    now = clock.now()
    with session_scope(engine) as s:
        _, old_call, old_text = seed.case_with_words(
            s, make_household(s), opened=now - 200 * DAY, closed=now - 91 * DAY
        )
        _, open_call, open_text = seed.case_with_words(
            s, make_household(s), opened=now - 200 * DAY, closed=None
        )
        _, _, young_text = seed.case_with_words(
            s, make_household(s), opened=now - 20 * DAY, closed=now - 19 * DAY
        )
        pending = seed.case_with_words(s, make_household(s), opened=now - 200 * DAY, closed=now - 100 * DAY)[
            2
        ]
        pending.status = pending.status.PENDING
    # The old case's text and call, and the call of the case whose text is not sent yet.
    assert retention.tick(engine, clock, Settings(_env_file=None))["messages"] == 3
    with Session(engine) as s:
        gone = s.get(Notification, old_text.id)
        assert gone is not None and (gone.body, gone.to_address, gone.status.value) == ("", "", "sent")
        assert s.get(CallAttempt, old_call.id).to_address == ""  # type: ignore[union-attr]
        for kept in (open_text.id, young_text.id, pending.id):
            row = s.get(Notification, kept)
            assert row is not None and row.body == seed.SENT and row.to_address
        assert s.get(CallAttempt, open_call.id).to_address  # type: ignore[union-attr]


def test_rejected_payloads_receipts_and_the_audit_log_have_their_own_windows(
    engine: Engine, clock: ManualClock
) -> None:
    now = clock.now()
    with session_scope(engine) as s:
        for age in (31, 29):
            seed.rejected(s, now - age * DAY)
        for packet, age in ((1, 8), (2, 6), (3, 0)):
            seed.receipt(s, now - age * DAY, packet)
        for age in (1096, 1094, 1):
            seed.audit(s, now - age * DAY)
    done = retention.tick(engine, clock, Settings(_env_file=None))
    assert (done["rejected"], done["receipts"], done["audit"]) == (1, 1, 1)
    assert (_count(engine, RejectedMessage), _count(engine, MessageReceipt), _count(engine, AuditEntry)) == (
        1,
        2,
        2,
    )


def test_receipts_outlive_the_broker_session_whatever_the_setting(engine: Engine, clock: ManualClock) -> None:
    now = clock.now()
    with session_scope(engine) as s:
        seed.receipt(s, now - 2 * DAY, 1)  # within twice a 3-day session expiry
        seed.receipt(s, now - 7 * DAY, 2)
    settings = Settings(_env_file=None, retention_receipts_days=1, mqtt_session_expiry_s=3 * 86400)
    assert retention.tick(engine, clock, settings)["receipts"] == 1
    assert _count(engine, MessageReceipt) == 1


def test_the_audit_log_is_kept_at_least_two_years() -> None:
    with pytest.raises(ValidationError, match="retention_audit_days"):
        Settings(_env_file=None, retention_audit_days=365)
    assert Settings(_env_file=None).retention_audit_days == 1095


def _words_on_case(session: Session, case_id: int | None) -> set[str]:
    """Which of the resident's words are still stored anywhere on the case."""
    texts: list[object] = [
        e.data for e in session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id))
    ]
    texts += [c.transcript for c in session.exec(select(CallAttempt).where(CallAttempt.case_id == case_id))]
    blob = repr(texts)
    return {w for w in (seed.SAID, seed.TEXTED) if w in blob}


def test_a_fall_stays_the_cases_cause_after_the_words_are_gone(engine: Engine, clock: ManualClock) -> None:
    """The case page's cause (낙상) is a statistic: it must survive the words it came from."""
    from api.case_story import resident_words
    from core.enums import RecipientKind

    now = clock.now()
    with session_scope(engine) as s:
        case, call, _ = seed.case_with_words(
            s, make_household(s), opened=now - 200 * DAY, closed=now - 91 * DAY
        )
        call.recipient_kind = RecipientKind.RESIDENT
        event = s.exec(
            select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.type == "call_outcome")
        ).one()
        event.data = {**event.data, "intent": "emergency", "excerpt": "넘어져서 못 일어나겠어요"}
        s.add(event)
    retention.tick(engine, clock, Settings(_env_file=None))
    with Session(engine) as s:
        events = list(
            s.exec(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(col(CaseEvent.id)))
        )
        words = resident_words(events, {call.id} if call.id else set())
    assert words is not None and (words.text, words.cause) == (None, "fall")
