"""Lifecycle shells against a real database (SQLite always, PostgreSQL when configured)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseEventType, CaseKind, CaseStatus, ResolutionCode, Severity
from core.models import Case
from notifier import lifecycle
from tests.factories import case_events, make_household


def _open(
    session: Session, household_id: int, clock: ManualClock, severity: Severity = Severity.ALERT
) -> Case:
    case, _ = lifecycle.open_or_redetect(
        session,
        household_id=household_id,
        kind=CaseKind.INACTIVITY,
        severity=severity,
        explanation="quiet",
        policy_snapshot={"steps": []},
        now=clock.now(),
    )
    return case


def _household_id(session: Session) -> int:
    household_id = make_household(session).id
    assert household_id is not None
    return household_id


def _event_rows(engine: Engine, case_id: int) -> list[tuple[CaseEventType, Any, str, dict[str, Any]]]:
    """Each event of the case as (type, at, actor, data), oldest first."""
    return [(e.type, e.at, e.actor, dict(e.data or {})) for e in case_events(engine, case_id)]


def _events(engine: Engine, case_id: int) -> list[CaseEventType]:
    return [e.type for e in case_events(engine, case_id)]


def test_open_then_redetect_keeps_one_active_case_and_raises_severity(
    engine: Engine, clock: ManualClock
) -> None:
    with session_scope(engine) as s:
        hid = _household_id(s)
        first = _open(s, hid, clock, Severity.WARNING)
    clock.advance(timedelta(minutes=5))
    with session_scope(engine) as s:
        again, opened = lifecycle.open_or_redetect(
            s,
            household_id=hid,
            kind=CaseKind.INACTIVITY,
            severity=Severity.CRITICAL,
            explanation="still quiet",
            policy_snapshot={},
            now=clock.now(),
        )
        assert not opened and again.id == first.id
    with Session(engine) as s:
        cases = s.exec(select(Case)).all()
        assert len(cases) == 1
        assert cases[0].severity == Severity.CRITICAL
        assert cases[0].last_seen_at == clock.now()
        assert cases[0].explanation == "still quiet"
    assert first.id is not None
    assert _events(engine, first.id) == [CaseEventType.OPENED, CaseEventType.SEVERITY_RAISED]


def test_acknowledge_changes_token_and_stops_escalation(engine: Engine, clock: ManualClock) -> None:
    with session_scope(engine) as s:
        hid = _household_id(s)
        case = _open(s, hid, clock)
        token = case.escalation_token
        assert case.next_action_at == clock.now()
    with session_scope(engine) as s:
        case = s.get_one(Case, case.id)
        lifecycle.acknowledge(s, case, actor="user:kim", now=clock.now())
    with Session(engine) as s:
        stored = s.get_one(Case, case.id)
        assert stored.status == CaseStatus.ACKNOWLEDGED
        assert stored.escalation_token != token
        assert stored.next_action_at is None
        assert stored.acknowledged_by == "user:kim"
        assert stored.version == 2


def test_stale_escalation_step_is_fenced_off(engine: Engine, clock: ManualClock) -> None:
    with session_scope(engine) as s:
        hid = _household_id(s)
        case = _open(s, hid, clock)
        stale_token = case.escalation_token
    with session_scope(engine) as s:
        lifecycle.acknowledge(s, s.get_one(Case, case.id), actor="user:kim", now=clock.now())
    with session_scope(engine) as s:
        fresh = s.get_one(Case, case.id)
        moved = lifecycle.advance_escalation(
            s, fresh, token=stale_token, step_index=1, repeat_count=0, next_action_at=clock.now()
        )
        assert moved is False
    with Session(engine) as s:
        assert s.get_one(Case, case.id).step_index == 0


def test_concurrent_writer_loses_on_version(engine: Engine, clock: ManualClock) -> None:
    with session_scope(engine) as s:
        hid = _household_id(s)
        case_id = _open(s, hid, clock).id
    # Two readers load version 1; the first to write wins, the second conflicts.
    with Session(engine) as a:
        case_a = a.get_one(Case, case_id)
    with Session(engine) as b:
        case_b = b.get_one(Case, case_id)
    with session_scope(engine) as s:
        s.add(case_a)
        lifecycle.acknowledge(s, case_a, actor="user:a", now=clock.now())
    with pytest.raises(lifecycle.CaseConflict), session_scope(engine) as s:
        s.add(case_b)
        lifecycle.resolve(s, case_b, actor="user:b", code=ResolutionCode.OTHER, note=None, now=clock.now())
    with Session(engine) as s:
        assert s.get_one(Case, case_id).status == CaseStatus.ACKNOWLEDGED


def test_illegal_transition_raises_and_changes_nothing(engine: Engine, clock: ManualClock) -> None:
    with session_scope(engine) as s:
        hid = _household_id(s)
        case = _open(s, hid, clock)
        lifecycle.resolve(
            s, case, actor="user:kim", code=ResolutionCode.RESIDENT_FINE, note="ok", now=clock.now()
        )
    with pytest.raises(lifecycle.IllegalTransition), session_scope(engine) as s:
        lifecycle.acknowledge(s, s.get_one(Case, case.id), actor="user:kim", now=clock.now())
    with Session(engine) as s:
        stored = s.get_one(Case, case.id)
        assert stored.status == CaseStatus.RESOLVED
        assert stored.resolution_code == ResolutionCode.RESIDENT_FINE
    assert case.id is not None
    assert _events(engine, case.id) == [CaseEventType.OPENED, CaseEventType.RESOLVED]


def test_after_clear_a_new_detection_opens_a_new_case(engine: Engine, clock: ManualClock) -> None:
    with session_scope(engine) as s:
        hid = _household_id(s)
        first = _open(s, hid, clock)
        lifecycle.clear(s, first, reason="activity_resumed", now=clock.now())
        second = _open(s, hid, clock)
        assert second.id != first.id
    with Session(engine) as s:
        statuses = sorted(c.status for c in s.exec(select(Case)).all())
        assert statuses == sorted([CaseStatus.CLEARED, CaseStatus.OPEN])


def test_active_cases_finds_each_household_s_active_case_of_the_kind_asked(
    engine: Engine, clock: ManualClock
) -> None:
    """The sweeper's batch read: what :func:`lifecycle.active_case` answers, for many at once."""
    with session_scope(engine) as s:
        ids = [make_household(s).id for _ in range(6)]
        open_, acknowledged, cleared, other_kind, not_asked, none = (hid for hid in ids if hid is not None)
        cases = {hid: _open(s, hid, clock) for hid in (open_, acknowledged, cleared, not_asked)}
        lifecycle.acknowledge(s, cases[acknowledged], actor="kim", now=clock.now())
        lifecycle.clear(s, cases[cleared], reason="activity_resumed", now=clock.now())
        lifecycle.open_or_redetect(
            s,
            household_id=other_kind,
            kind=CaseKind.DEVICE_OFFLINE,
            severity=Severity.WARNING,
            explanation="offline",
            policy_snapshot={"steps": []},
            now=clock.now(),
        )
    with Session(engine) as s:
        found = lifecycle.active_cases(
            s, [open_, acknowledged, cleared, other_kind, none], CaseKind.INACTIVITY
        )
        assert {hid: (c.household_id, c.kind, c.status) for hid, c in found.items()} == {
            open_: (open_, CaseKind.INACTIVITY, CaseStatus.OPEN),
            acknowledged: (acknowledged, CaseKind.INACTIVITY, CaseStatus.ACKNOWLEDGED),
        }
        assert {hid: c.id for hid, c in found.items()} == {
            hid: cases[hid].id for hid in (open_, acknowledged)
        }
        assert lifecycle.active_cases(s, [], CaseKind.INACTIVITY) == {}


# One case at a time, and the batch form of the same write (a district's plugs back; a district's
# overdue households reaching the critical stage together), with what each must leave.
ONE_AND_MANY: dict[str, tuple[Callable[..., object], Callable[..., object], dict[str, Any]]] = {
    "clear": (
        lifecycle.clear,
        lifecycle.clear_many,
        {"reason": "device_back_online", "actor": "gw"},
    ),
    "raise": (
        lifecycle.raise_severity,
        lifecycle.raise_many,
        {"severity": Severity.CRITICAL, "reason": "still_inactive", "actor": "sweeper"},
    ),
}


@pytest.mark.parametrize("write", ONE_AND_MANY)
def test_the_batch_form_writes_what_one_case_at_a_time_writes(
    engine: Engine, clock: ManualClock, write: str
) -> None:
    """An open and an acknowledged case each way: the same rows, tokens and events."""
    one, many, arguments = ONE_AND_MANY[write]
    with session_scope(engine) as s:
        ids = [make_household(s).id for _ in range(4)]
        cases = [_open(s, hid, clock) for hid in ids if hid is not None]
        for case in cases[1::2]:
            lifecycle.acknowledge(s, case, actor="kim", now=clock.now())
        tokens = [c.escalation_token for c in cases]
    clock.advance(timedelta(minutes=1))
    with session_scope(engine) as s:
        loaded = [s.get_one(Case, c.id) for c in cases]
        for case in loaded[:2]:
            one(s, case, now=clock.now(), **arguments)
        many(s, loaded[2:], now=clock.now(), **arguments)
        mirrored = [c.model_dump() for c in loaded]
    with Session(engine) as s:
        stored = [s.get_one(Case, c.id) for c in cases]
        assert [c.model_dump() for c in stored] == mirrored  # the objects mirror what was written
        rows = [
            {k: v for k, v in c.model_dump().items() if k not in {"id", "household_id", "escalation_token"}}
            | {"new_token": c.escalation_token != t}
            for c, t in zip(stored, tokens, strict=True)
        ]
    assert rows[:2] == rows[2:]  # one by one == together
    assert rows[2]["version"] == rows[0]["version"] > 1
    if write == "clear":  # open: cleared and fenced; acknowledged: stays with its person, noted
        assert [(r["status"], r["new_token"], r["clear_reason"]) for r in rows[2:]] == [
            (CaseStatus.CLEARED, True, "device_back_online"),
            (CaseStatus.ACKNOWLEDGED, False, "device_back_online"),
        ]
    else:  # both critical; only the open one (still escalating) acts at once
        assert [(r["severity"], r["next_action_at"] == clock.now()) for r in rows[2:]] == [
            (Severity.CRITICAL, True),
            (Severity.CRITICAL, False),
        ]
    for single, batched in zip(cases[:2], cases[2:], strict=True):
        assert single.id is not None and batched.id is not None
        assert _event_rows(engine, single.id) == _event_rows(engine, batched.id)
    last = _event_rows(engine, cases[2].id)[-1]  # type: ignore[arg-type]
    assert (last[2], last[3]["reason"]) == (arguments["actor"], arguments["reason"])
    # Without an actor, the system did it (as one at a time).
    with session_scope(engine) as s:
        fresh = _open(s, ids[0], clock) if write == "clear" else s.get_one(Case, cases[0].id)  # type: ignore[arg-type]
        if write == "raise":
            lifecycle.acknowledge(
                s, fresh, actor="kim", now=clock.now()
            )  # raised again: an event all the same
        many(s, [fresh], now=clock.now(), **{k: v for k, v in arguments.items() if k != "actor"})
    assert _event_rows(engine, fresh.id)[-1][2] == "system"  # type: ignore[arg-type]


@pytest.mark.parametrize("write", ONE_AND_MANY)
def test_the_batch_form_refuses_as_a_whole_when_one_case_changed_meanwhile(
    engine: Engine, clock: ManualClock, write: str
) -> None:
    _one, many, arguments = ONE_AND_MANY[write]
    with session_scope(engine) as s:
        ids = [make_household(s).id for _ in range(3)]
        cases = [_open(s, hid, clock) for hid in ids if hid is not None]
    with session_scope(engine) as s:
        loaded = [s.get_one(Case, c.id) for c in cases]
        before = [c.model_dump() for c in loaded]
        # Another writer's change to the last one, behind this session's back (its loaded version is old).
        s.execute(
            update(Case)
            .where(col(Case.id) == cases[2].id)
            .values(version=Case.version + 1)
            .execution_options(synchronize_session=False)
        )
        with pytest.raises(lifecycle.CaseConflict, match="1 of 3"):
            many(s, loaded, now=clock.now(), **arguments)
        assert [c.model_dump() for c in loaded] == before  # nothing mirrored
        s.rollback()
    with Session(engine) as s:
        assert [s.get_one(Case, c.id).model_dump() for c in cases] == before


def test_racing_openers_create_exactly_one_active_case(engine: Engine, clock: ManualClock) -> None:
    with session_scope(engine) as s:
        hid = _household_id(s)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            barrier.wait()
            with session_scope(engine) as s:
                _open(s, hid, clock)
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    with Session(engine) as s:
        assert len(s.exec(select(Case)).all()) == 1
