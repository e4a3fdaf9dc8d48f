"""Case-lifecycle rules that mutation testing found unpinned (docs/testing.md, notifier/lifecycle.py).

- a write touches its own case only, even when another case has the same version;
- each fencing check stands on its own: the loaded case's status, the loaded token (checked before
  any write reaches the database), the stored token and the stored version;
- the returned flags (``opened``, ``advance_escalation``, ``schedule_reminder``) mean what they say;
- every audit field a person or the system leaves on a case and its events is stored as given,
  and the defaults hold (the system acts unless someone is named; no follow-up visits unless asked);
- an explanation in every language keeps its default-language text beside it, and never a stale one;
- a re-detection that keeps losing its write retries three times in all, then gives up.

SQLite always, PostgreSQL when ANBU_TEST_DATABASE_URL is set; the real races (a writer waiting
on another's row lock, two openers on the partial unique index) need PostgreSQL's row locks and
are in test_lifecycle_races_pg.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, text, update
from sqlmodel import Session, col, select

from core import db
from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseEventType, CaseKind, CaseStatus, ResolutionCode, Severity
from core.models import Case, CaseEvent
from notifier import lifecycle
from tests.factories import case_events, load, make_household


def _open(
    s: Session,
    clock: ManualClock,
    *,
    severity: Severity = Severity.ALERT,
    household_id: int | None = None,
    **overrides: Any,
) -> tuple[Case, bool]:
    """Open (or re-detect) an inactivity case; ``overrides`` replace the other arguments, and
    ``actor=None`` leaves the actor out (the default applies)."""
    if household_id is None:
        household_id = make_household(s).id
    assert household_id is not None
    arguments: dict[str, Any] = {
        "explanation": "quiet since 21:10",
        "policy_snapshot": {"steps": ["call"]},
        "now": clock.now(),
        "actor": "sweeper",
        **overrides,
    }
    if arguments["actor"] is None:
        del arguments["actor"]
    return lifecycle.open_or_redetect(
        s, household_id=household_id, kind=CaseKind.INACTIVITY, severity=severity, **arguments
    )


def _events(engine: Engine, case_id: int | None) -> list[tuple[CaseEventType, str, dict[str, Any]]]:
    return [(e.type, e.actor, e.data) for e in case_events(engine, case_id)]


def _fields(case: Case) -> dict[str, Any]:
    return {k: v for k, v in case.model_dump().items() if k != "policy_snapshot"}


@contextmanager
def _updates_of_cases(engine: Engine, verb: str = "UPDATE") -> Iterator[list[str]]:
    """The ``verb`` (UPDATE, INSERT INTO) statements on alert_case sent to the database inside the block."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(f"{verb} ALERT_CASE"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


# --- one case per write ---------------------------------------------------------------------------


def test_a_write_changes_its_own_case_not_another_at_the_same_version(
    engine: Engine, clock: ManualClock
) -> None:
    with session_scope(engine) as s:
        mine, _ = _open(s, clock)
        other, _ = _open(s, clock)
    assert mine.version == other.version == 1
    untouched = _fields(load(engine, Case, other.id))
    with session_scope(engine) as s:
        lifecycle.acknowledge(s, s.get_one(Case, mine.id), actor="user:kim", now=clock.now())
    with session_scope(engine) as s:
        lifecycle.resolve(
            s,
            s.get_one(Case, mine.id),
            actor="user:kim",
            code=ResolutionCode.OTHER,
            note=None,
            now=clock.now(),
        )
    assert load(engine, Case, mine.id).status == CaseStatus.RESOLVED
    assert _fields(load(engine, Case, other.id)) == untouched


# --- fencing: each check on its own ---------------------------------------------------------------


def _advance(s: Session, case: Case, token: str, clock: ManualClock) -> bool:
    return lifecycle.advance_escalation(
        s, case, token=token, step_index=1, repeat_count=0, next_action_at=clock.now() + timedelta(minutes=5)
    )


def test_an_acknowledged_case_is_not_advanced_even_with_its_current_token(
    engine: Engine, clock: ManualClock
) -> None:
    # The stored row matches (version and token as loaded): only the status check refuses.
    with session_scope(engine) as s:
        case, _ = _open(s, clock)
        lifecycle.acknowledge(s, case, actor="user:kim", now=clock.now())
    with session_scope(engine) as s:
        fresh = s.get_one(Case, case.id)
        assert _advance(s, fresh, fresh.escalation_token, clock) is False
    stored = load(engine, Case, case.id)
    assert (stored.step_index, stored.version, stored.next_action_at) == (0, 2, None)


def test_a_stale_token_is_refused_before_any_write(engine: Engine, clock: ManualClock) -> None:
    # The loaded case is fresh but the step was planned under the old token: refused in memory,
    # without an UPDATE that would take the row's lock only to match nothing.
    with session_scope(engine) as s:
        case, _ = _open(s, clock)
        stale = case.escalation_token
        lifecycle.acknowledge(s, case, actor="user:kim", now=clock.now())
        lifecycle.redetect(s, case, severity=Severity.ALERT, explanation="", now=clock.now())
    with session_scope(engine) as s, _updates_of_cases(engine) as updates:
        fresh = s.get_one(Case, case.id)
        fresh_status = fresh.status
        assert _advance(s, fresh, stale, clock) is False
    assert fresh_status == CaseStatus.ACKNOWLEDGED
    assert updates == []


def test_a_stale_token_on_an_open_case_is_refused_before_any_write(
    engine: Engine, clock: ManualClock
) -> None:
    with session_scope(engine) as s:
        case, _ = _open(s, clock)
    with session_scope(engine) as s, _updates_of_cases(engine) as updates:
        fresh = s.get_one(Case, case.id)
        assert _advance(s, fresh, "a-token-from-before", clock) is False
    assert updates == []
    assert load(engine, Case, case.id).step_index == 0


def test_the_stored_token_is_checked_even_when_the_version_matches(
    engine: Engine, clock: ManualClock
) -> None:
    # Whoever changed the token underneath (here by hand) did not bump the version: the UPDATE's
    # own token condition is what keeps the stale step from firing. The loaded case keeps the
    # token it was read with (not synchronised), so the check in memory passes.
    with session_scope(engine) as s:
        case, _ = _open(s, clock)
    with session_scope(engine) as s:
        loaded = s.get_one(Case, case.id)
        token = loaded.escalation_token
        s.execute(
            update(Case)
            .where(col(Case.id) == case.id)
            .values(escalation_token="replaced")
            .execution_options(synchronize_session=False)
        )
        assert loaded.escalation_token == token
        assert _advance(s, loaded, token, clock) is False
    stored = load(engine, Case, case.id)
    assert (stored.step_index, stored.escalation_token, stored.version) == (0, "replaced", 1)


def test_the_stored_version_is_checked_even_when_the_token_matches(
    engine: Engine, clock: ManualClock
) -> None:
    # A re-detection (same token, new version) landed after this worker read the case.
    with session_scope(engine) as s:
        case, _ = _open(s, clock)
    with Session(engine) as reader:
        loaded = reader.get_one(Case, case.id)
    with session_scope(engine) as s:
        lifecycle.redetect(
            s, s.get_one(Case, case.id), severity=Severity.ALERT, explanation="", now=clock.now()
        )
    with session_scope(engine) as s:
        s.add(loaded)
        assert _advance(s, loaded, loaded.escalation_token, clock) is False
    assert load(engine, Case, case.id).step_index == 0


def test_advancing_moves_the_pointer_and_says_so(engine: Engine, clock: ManualClock) -> None:
    with session_scope(engine) as s:
        case, _ = _open(s, clock, severity=Severity.ALERT)
    at = clock.now() + timedelta(minutes=5)
    with session_scope(engine) as s:
        fresh = s.get_one(Case, case.id)
        moved = lifecycle.advance_escalation(
            s, fresh, token=fresh.escalation_token, step_index=3, repeat_count=2, next_action_at=at
        )
        assert moved is True
        assert (fresh.step_index, fresh.repeat_count, fresh.next_action_at, fresh.version) == (3, 2, at, 2)
    for step_index, severity in ((4, Severity.WARNING), (5, Severity.CRITICAL)):
        with session_scope(engine) as s:
            fresh = s.get_one(Case, case.id)
            assert lifecycle.advance_escalation(
                s,
                fresh,
                token=fresh.escalation_token,
                step_index=step_index,
                repeat_count=0,
                next_action_at=None,
                severity=severity,
            )
        # a lower severity never lowers the case's; a higher one raises it
        assert load(engine, Case, case.id).severity == max(Severity.ALERT, severity, key=lambda v: v.rank)
    stored = load(engine, Case, case.id)
    assert (stored.step_index, stored.repeat_count, stored.next_action_at) == (5, 0, None)
    assert stored.severity == Severity.CRITICAL
    assert [e[0] for e in _events(engine, case.id)] == [CaseEventType.OPENED]  # pointer moves are not events


# --- returned flags -------------------------------------------------------------------------------


def test_opened_is_true_only_for_the_case_it_opened(engine: Engine, clock: ManualClock) -> None:
    with session_scope(engine) as s:
        first, opened = _open(s, clock)
        assert opened is True
        again, opened_again = _open(s, clock, household_id=first.household_id)
        assert opened_again is False and again.id == first.id


def test_schedule_reminder_only_for_an_acknowledged_case_as_loaded(
    engine: Engine, clock: ManualClock
) -> None:
    later = clock.now() + timedelta(hours=4)
    with session_scope(engine) as s:
        case, _ = _open(s, clock)
    with session_scope(engine) as s:  # open: escalation owns next_action_at, not reminders
        assert lifecycle.schedule_reminder(s, s.get_one(Case, case.id), next_action_at=later) is False
    assert load(engine, Case, case.id).next_action_at == clock.now()
    with session_scope(engine) as s:
        lifecycle.acknowledge(s, s.get_one(Case, case.id), actor="user:kim", now=clock.now())
    with Session(engine) as reader:
        stale = reader.get_one(Case, case.id)
    with session_scope(engine) as s:
        assert lifecycle.schedule_reminder(s, s.get_one(Case, case.id), next_action_at=later) is True
    assert load(engine, Case, case.id).next_action_at == later
    with session_scope(engine) as s:  # a second worker that read the case before: loses
        s.add(stale)
        assert lifecycle.schedule_reminder(s, stale, next_action_at=later + timedelta(hours=1)) is False
    stored = load(engine, Case, case.id)
    assert (stored.status, stored.next_action_at) == (CaseStatus.ACKNOWLEDGED, later)
    with session_scope(engine) as s:
        lifecycle.resolve(
            s,
            s.get_one(Case, case.id),
            actor="user:kim",
            code=ResolutionCode.OTHER,
            note=None,
            now=clock.now(),
        )
    with session_scope(engine) as s:
        assert lifecycle.schedule_reminder(s, s.get_one(Case, case.id), next_action_at=later) is False


# --- re-detection and raising ---------------------------------------------------------------------


def test_redetecting_at_the_same_or_a_lower_severity_raises_nothing(
    engine: Engine, clock: ManualClock
) -> None:
    with session_scope(engine) as s:
        case, _ = _open(s, clock, severity=Severity.ALERT)
    clock.advance(timedelta(minutes=10))
    for severity in (Severity.ALERT, Severity.WARNING):
        with session_scope(engine) as s:
            lifecycle.redetect(
                s, s.get_one(Case, case.id), severity=severity, explanation="", now=clock.now()
            )
    stored = load(engine, Case, case.id)
    assert stored.severity == Severity.ALERT
    assert stored.explanation == "quiet since 21:10"  # an empty explanation keeps the last one
    assert stored.last_seen_at == clock.now()
    assert [e[0] for e in _events(engine, case.id)] == [CaseEventType.OPENED]


def test_raising_never_lowers_and_acts_now_only_while_escalating(engine: Engine, clock: ManualClock) -> None:
    with session_scope(engine) as s:
        case, _ = _open(s, clock, severity=Severity.CRITICAL)
        lifecycle.acknowledge(s, case, actor="user:kim", now=clock.now())
    clock.advance(timedelta(minutes=3))
    with session_scope(engine) as s:
        lifecycle.raise_severity(
            s, s.get_one(Case, case.id), severity=Severity.ALERT, reason="asked for help", now=clock.now()
        )
    stored = load(engine, Case, case.id)
    assert stored.severity == Severity.CRITICAL
    assert stored.next_action_at is None  # acknowledged: the owner acts, not the engine
    assert stored.last_seen_at == clock.now()


# --- the audit trail ------------------------------------------------------------------------------


def test_every_action_leaves_who_when_and_why(engine: Engine, clock: ManualClock) -> None:
    t0 = clock.now()
    with session_scope(engine) as s:
        case, _ = _open(s, clock, severity=Severity.WARNING)
        case_id = case.id
    steps: list[Callable[[Session, Case, datetime], object]] = [
        lambda s, c, now: lifecycle.redetect(
            s, c, severity=Severity.ALERT, explanation="still quiet", now=now, actor="sweeper-2"
        ),
        lambda s, c, now: lifecycle.raise_severity(
            s, c, severity=Severity.CRITICAL, reason="emergency_reply", now=now, actor="call:CA1"
        ),
        lambda s, c, now: lifecycle.add_note(s, c, actor="user:lee", text="neighbour has a key", now=now),
        lambda s, c, now: lifecycle.record_event(s, c, CaseEventType.CALL_PLACED, now, step=2),
        lambda s, c, now: lifecycle.acknowledge(s, c, actor="user:kim", now=now),
        lambda s, c, now: lifecycle.clear(s, c, reason="resident_ok", now=now, actor="call:CA2"),
        lambda s, c, now: lifecycle.resolve(
            s, c, actor="user:park", code=ResolutionCode.RESIDENT_FINE, note="was at the clinic", now=now
        ),
    ]
    times = []
    for i, step in enumerate(steps, start=1):
        now = t0 + timedelta(minutes=i)
        times.append(now)
        with session_scope(engine) as s:
            step(s, s.get_one(Case, case_id), now)
    assert _events(engine, case_id) == [
        (CaseEventType.OPENED, "sweeper", {"severity": "warning", "explanation": "quiet since 21:10"}),
        (CaseEventType.SEVERITY_RAISED, "sweeper-2", {"severity": "alert"}),
        (CaseEventType.SEVERITY_RAISED, "call:CA1", {"severity": "critical", "reason": "emergency_reply"}),
        (CaseEventType.NOTE, "user:lee", {"text": "neighbour has a key"}),
        (CaseEventType.CALL_PLACED, "system", {"step": 2}),
        (CaseEventType.ACKNOWLEDGED, "user:kim", {}),
        (CaseEventType.CLEARED, "call:CA2", {"reason": "resident_ok"}),
        (CaseEventType.RESOLVED, "user:park", {"code": "resident_fine", "note": "was at the clinic"}),
    ]
    with Session(engine) as s:
        ats = s.exec(
            select(CaseEvent.at).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.id))
        ).all()
    assert list(ats) == [t0, *times]
    stored = load(engine, Case, case_id)
    assert (stored.acknowledged_at, stored.acknowledged_by) == (times[4], "user:kim")
    assert (stored.cleared_at, stored.clear_reason) == (
        times[5],
        "resident_ok",
    )  # recorded, still acknowledged
    assert (stored.resolved_at, stored.resolved_by) == (times[6], "user:park")
    assert (stored.resolution_code, stored.resolution_note) == (
        ResolutionCode.RESIDENT_FINE,
        "was at the clinic",
    )
    assert (stored.status, stored.next_action_at, stored.severity) == (
        CaseStatus.RESOLVED,
        None,
        Severity.CRITICAL,
    )
    assert (stored.opened_at, stored.explanation) == (t0, "still quiet")


def test_an_event_recorded_for_a_named_actor_is_logged_under_that_name(
    engine: Engine, clock: ManualClock
) -> None:
    # The column's default is "system" too, so only a named actor shows the name is passed on.
    with session_scope(engine) as s:
        case, _ = _open(s, clock)
        lifecycle.record_event(s, case, CaseEventType.CALL_PLACED, clock.now(), actor="engine:step-2", step=2)
    assert _events(engine, case.id)[-1] == (CaseEventType.CALL_PLACED, "engine:step-2", {"step": 2})


def test_a_resolution_without_a_note_stores_none_and_logs_an_empty_note(
    engine: Engine, clock: ManualClock
) -> None:
    with session_scope(engine) as s:
        case, _ = _open(s, clock)
        lifecycle.resolve(
            s, case, actor="user:kim", code=ResolutionCode.FALSE_ALARM_AWAY, note=None, now=clock.now()
        )
    stored = load(engine, Case, case.id)
    assert (stored.resolution_code, stored.resolution_note) == (ResolutionCode.FALSE_ALARM_AWAY, None)
    assert _events(engine, case.id)[-1] == (
        CaseEventType.RESOLVED,
        "user:kim",
        {"code": "false_alarm_away", "note": ""},
    )


def test_an_open_case_cleared_by_the_system_stops_and_records_why(engine: Engine, clock: ManualClock) -> None:
    with session_scope(engine) as s:
        case, _ = _open(s, clock)
        token = case.escalation_token
    clock.advance(timedelta(minutes=7))
    with session_scope(engine) as s:
        lifecycle.clear(s, s.get_one(Case, case.id), reason="activity_resumed", now=clock.now())
    stored = load(engine, Case, case.id)
    assert (stored.status, stored.cleared_at, stored.clear_reason) == (
        CaseStatus.CLEARED,
        clock.now(),
        "activity_resumed",
    )
    assert stored.next_action_at is None and stored.escalation_token != token
    assert _events(engine, case.id)[-1] == (CaseEventType.CLEARED, "system", {"reason": "activity_resumed"})


def test_acknowledging_a_cleared_case_is_a_review_mark_only(engine: Engine, clock: ManualClock) -> None:
    with session_scope(engine) as s:
        case, _ = _open(s, clock)
        lifecycle.clear(s, case, reason="resident_ok", now=clock.now())
        token = case.escalation_token
    clock.advance(timedelta(hours=1))
    with session_scope(engine) as s:
        lifecycle.acknowledge(s, s.get_one(Case, case.id), actor="user:kim", now=clock.now())
    stored = load(engine, Case, case.id)
    assert (stored.status, stored.escalation_token, stored.next_action_at) == (
        CaseStatus.CLEARED,
        token,
        None,
    )
    assert (stored.acknowledged_at, stored.acknowledged_by) == (clock.now(), "user:kim")


def test_a_conflict_names_the_case_and_the_version_it_saw(engine: Engine, clock: ManualClock) -> None:
    with session_scope(engine) as s:
        case, _ = _open(s, clock)
    with pytest.raises(lifecycle.CaseConflict) as conflict, session_scope(engine) as s:
        loaded = s.get_one(Case, case.id)
        s.execute(text("UPDATE alert_case SET version = 7 WHERE id = :id"), {"id": case.id})
        lifecycle.acknowledge(s, loaded, actor="user:kim", now=clock.now())
    assert str(conflict.value) == f"case {case.id} changed concurrently (version 1)"
    assert load(engine, Case, case.id).status == CaseStatus.OPEN


# --- defaults: who acted, and what a new case calls for -------------------------------------------


def test_the_system_is_the_actor_unless_one_is_named(engine: Engine, clock: ManualClock) -> None:
    with session_scope(engine) as s:
        case, _ = _open(s, clock, severity=Severity.WARNING, actor=None)
        lifecycle.redetect(s, case, severity=Severity.ALERT, explanation="", now=clock.now())
        lifecycle.raise_severity(
            s, case, severity=Severity.CRITICAL, reason="emergency_reply", now=clock.now()
        )
    assert [(kind, actor) for kind, actor, _ in _events(engine, case.id)] == [
        (CaseEventType.OPENED, "system"),
        (CaseEventType.SEVERITY_RAISED, "system"),
        (CaseEventType.SEVERITY_RAISED, "system"),
    ]


def test_a_redetection_through_the_opener_is_logged_under_its_actor(
    engine: Engine, clock: ManualClock
) -> None:
    later = clock.now() + timedelta(minutes=5)
    with session_scope(engine) as s:
        case, _ = _open(s, clock, severity=Severity.WARNING)
        again, opened = _open(
            s,
            clock,
            severity=Severity.ALERT,
            household_id=case.household_id,
            explanation="still quiet",
            now=later,
            actor="sweeper-2",
        )
    assert (again.id, opened) == (case.id, False)
    assert _events(engine, case.id)[-1] == (CaseEventType.SEVERITY_RAISED, "sweeper-2", {"severity": "alert"})
    stored = load(engine, Case, case.id)
    assert (stored.severity, stored.explanation, stored.last_seen_at) == (
        Severity.ALERT,
        "still quiet",
        later,
    )


def test_a_redetection_finds_the_active_case_before_trying_to_open_one(
    engine: Engine, clock: ManualClock
) -> None:
    # The partial unique index would refuse a second active case and the opener would fall back
    # to re-detecting, so the outcome alone cannot tell; but every re-detection would then cost
    # an INSERT that fails and a rolled-back savepoint, and the look-up must come first.
    with session_scope(engine) as s:
        case, _ = _open(s, clock, severity=Severity.WARNING)
    with session_scope(engine) as s, _updates_of_cases(engine, "INSERT INTO") as inserts:
        again, opened = _open(s, clock, severity=Severity.ALERT, household_id=case.household_id)
    assert (again.id, opened, inserts) == (case.id, False, [])
    with session_scope(engine) as s, _updates_of_cases(engine, "INSERT INTO") as inserts:
        other, opened = _open(s, clock)
    assert opened is True and other.id != case.id and len(inserts) == 1


def test_a_new_case_keeps_the_policy_it_was_opened_under(engine: Engine, clock: ManualClock) -> None:
    # The escalation engine plans every step from this snapshot, not from today's policy.
    snapshot = {"steps": ["call", "sms.family"], "version": 7}
    with session_scope(engine) as s:
        case, _ = _open(s, clock, policy_snapshot=snapshot)
    assert load(engine, Case, case.id).policy_snapshot == snapshot


def test_a_new_case_calls_for_follow_up_visits_only_when_asked(engine: Engine, clock: ManualClock) -> None:
    with session_scope(engine) as s:
        plain, _ = _open(s, clock)
        self_harm, _ = _open(s, clock, severity=Severity.CRITICAL, follow_up_visits=True)
    assert load(engine, Case, plain.id).follow_up_visits is False
    assert load(engine, Case, self_harm.id).follow_up_visits is True


def test_one_active_case_per_household_and_kind_not_per_household(engine: Engine, clock: ManualClock) -> None:
    with session_scope(engine) as s:
        quiet, _ = _open(s, clock)
        offline, opened = lifecycle.open_or_redetect(
            s,
            household_id=quiet.household_id,
            kind=CaseKind.DEVICE_OFFLINE,
            severity=Severity.WARNING,
            explanation="plug offline",
            policy_snapshot={},
            now=clock.now(),
        )
    assert opened is True and offline.id != quiet.id
    assert (load(engine, Case, offline.id).kind, load(engine, Case, quiet.id).kind) == (
        CaseKind.DEVICE_OFFLINE,
        CaseKind.INACTIVITY,
    )


# --- explanations in every language ---------------------------------------------------------------


def test_an_explanation_in_every_language_is_stored_with_its_default_language_text(
    engine: Engine, clock: ManualClock
) -> None:
    first = {"ko": "21:10 이후 활동 없음", "en": "quiet since 21:10"}
    later = {"ko": "21:10 이후 여전히 활동 없음", "en": "still quiet since 21:10"}
    with session_scope(engine) as s:
        case, _ = _open(s, clock, explanation=first)
    stored = load(engine, Case, case.id)
    assert (stored.explanation, stored.explanation_texts) == (first["ko"], first)
    assert _events(engine, case.id)[0][2] == {"severity": "alert", "explanation": first["ko"]}
    for explanation, expected in ((later, (later["ko"], later)), ("plain", ("plain", None))):
        # a plain text replaces every language: no stale translation is left behind
        with session_scope(engine) as s:
            lifecycle.redetect(
                s, s.get_one(Case, case.id), severity=Severity.ALERT, explanation=explanation, now=clock.now()
            )
        stored = load(engine, Case, case.id)
        assert (stored.explanation, stored.explanation_texts) == expected


def test_texts_without_the_default_language_still_open_a_case_and_never_blank_one(
    engine: Engine, clock: ManualClock
) -> None:
    # The default-language text is what every reader falls back to: a case still opens (with an
    # empty one, never a made-up one), and a re-detection does not blank the last one.
    english_only = {"en": "quiet since 21:10"}
    with session_scope(engine) as s:
        case, opened = _open(s, clock, explanation=english_only)
    assert opened is True
    stored = load(engine, Case, case.id)
    assert (stored.explanation, stored.explanation_texts) == ("", english_only)
    assert _events(engine, case.id) == [
        (CaseEventType.OPENED, "sweeper", {"severity": "alert", "explanation": ""})
    ]
    with session_scope(engine) as s:
        mine, _ = _open(s, clock)
        lifecycle.redetect(
            s, mine, severity=Severity.ALERT, explanation={"en": "still quiet"}, now=clock.now()
        )
    stored = load(engine, Case, mine.id)
    assert (stored.explanation, stored.explanation_texts) == ("quiet since 21:10", None)


# --- re-detection retries: three attempts, then the caller retries the whole unit ------------------


def _losing_claims(monkeypatch: pytest.MonkeyPatch, losses: int) -> list[int]:
    """The next ``losses`` case writes find their row changed (as if another worker won)."""
    calls: list[int] = []

    def claim(session: Session, statement: Any) -> bool:
        calls.append(1)
        return False if len(calls) <= losses else db.claim_row(session, statement)

    monkeypatch.setattr(lifecycle, "claim_row", claim)
    return calls


def test_a_redetection_that_loses_twice_wins_on_the_third_attempt(
    engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(engine) as s:
        case, _ = _open(s, clock)
    with session_scope(engine) as s:
        calls = _losing_claims(monkeypatch, losses=2)
        again, opened = _open(s, clock, severity=Severity.CRITICAL, household_id=case.household_id)
        assert (again.id, opened, len(calls)) == (case.id, False, 3)
    assert load(engine, Case, case.id).severity == Severity.CRITICAL


def test_a_redetection_that_loses_three_times_gives_up_with_a_conflict(
    engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(engine) as s:
        case, _ = _open(s, clock)
    calls = _losing_claims(monkeypatch, losses=3)
    with pytest.raises(lifecycle.CaseConflict), session_scope(engine) as s:
        _open(s, clock, severity=Severity.CRITICAL, household_id=case.household_id)
    assert len(calls) == 3
    assert load(engine, Case, case.id).severity == Severity.ALERT
