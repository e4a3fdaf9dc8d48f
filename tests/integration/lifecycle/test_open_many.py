"""Opening many cases at once writes what opening them one by one writes (issue 15).

``notifier.opening.open_many`` against N calls of ``lifecycle.open_or_redetect``, and the two
ticks that open many cases in one go (connectivity after a power cut, the sweeper after a quiet
afternoon) against their one-household-at-a-time path: exactly N cases, the same case rows,
the same ``opened`` events, one active case per household and kind — and a number of
statements that does not grow with N. Both dialects (SQLite always, PostgreSQL when configured).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Engine, event, update
from sqlmodel import Session, col, select

from anomaly import sweeper
from core.clock import ManualClock
from core.db import session_scope
from core.enums import ACTIVE_CASE_STATUSES, CaseEventType, CaseKind, Language, Severity, WatchStatus
from core.i18n import in_every_language
from core.models import Case, CaseEvent, Device, Household, Watch
from core.settings import Settings
from gateway import connectivity
from notifier import lifecycle, opening
from notifier.opening import Opening, open_many
from tests.factories import make_device, make_household, make_open_case, make_team, make_watch

SETTINGS = Settings(
    _env_file=None,
    inactivity_default_hours=12,
    offline_silence_factor=3.0,
    offline_min_silence_s=600,
    offline_default_interval_s=300,
)
# What may differ between two openings of the same case: its identity and its fencing token.
IDENTITY = {"id", "household_id", "escalation_token"}


def case_rows(engine: Engine, household_ids: list[int]) -> list[dict[str, Any]]:
    """Each household's cases and their events, in household order, without identities."""
    out = []
    with Session(engine) as s:
        for household_id in household_ids:
            for case in s.exec(
                select(Case).where(Case.household_id == household_id).order_by(col(Case.id))
            ).all():
                events = s.exec(
                    select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(col(CaseEvent.id))
                ).all()
                row = {k: v for k, v in case.model_dump().items() if k not in IDENTITY}
                row["events"] = [(e.type, e.at, e.actor, e.data) for e in events]
                out.append(row)
    return out


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def translated(i: int, language: Language) -> str:
    return f"{language.value}-{i}"


def openings_for(households: list[Household], now: datetime) -> list[Opening]:
    """A mix: kinds, severities, a plain and a translated explanation, a follow-up flag."""
    out = []
    for i, h in enumerate(households):
        assert h.id is not None
        out.append(
            Opening(
                household_id=h.id,
                kind=[CaseKind.INACTIVITY, CaseKind.DEVICE_OFFLINE][i % 2],
                severity=[Severity.ALERT, Severity.WARNING, Severity.CRITICAL][i % 3],
                explanation="quiet" if i % 2 else in_every_language(partial(translated, i)),
                policy_snapshot={"steps": [], "n": i},
                follow_up_visits=i % 4 == 0,
            )
        )
    return out


def one_by_one(session: Session, openings: list[Opening], now: datetime) -> list[tuple[Case, bool]]:
    return [opening._one(session, o, now, "system") for o in openings]


def seed_pairs(engine: Engine, n: int, now: datetime) -> tuple[list[int], list[int]]:
    """Two groups of N households, each with an active case for its third household already."""
    with session_scope(engine) as s:
        team = make_team(s)
        groups = []
        for _ in range(2):
            households = [make_household(s, team=team, with_resident=False, contacts=0) for _ in range(n)]
            make_open_case(s, households[2], now=now - timedelta(hours=1), kind=CaseKind.INACTIVITY)
            groups.append([h.id for h in households if h.id is not None])
    return groups[0], groups[1]


def households(engine: Engine, ids: list[int]) -> list[Household]:
    with Session(engine) as s:
        return [s.get_one(Household, i) for i in ids]


def test_open_many_writes_what_one_by_one_writes(engine: Engine, clock: ManualClock) -> None:
    now = clock.now()
    single, batch = seed_pairs(engine, 12, now)
    with session_scope(engine) as s:
        alone = one_by_one(s, openings_for(households(engine, single), now), now)
    with session_scope(engine) as s:
        together = open_many(s, openings_for(households(engine, batch), now), now=now)
    assert [opened for _, opened in together] == [opened for _, opened in alone]
    assert [opened for _, opened in together].count(False) == 1  # the third: re-detected
    assert [c.household_id for c, _ in together] == batch
    assert case_rows(engine, batch) == case_rows(engine, single)
    with Session(engine) as s:
        active = s.exec(
            select(Case.household_id, Case.kind).where(col(Case.status).in_(ACTIVE_CASE_STATUSES))
        ).all()
    assert len(active) == len(set(active)) == 24


def test_open_many_that_loses_a_race_re_detects_the_winner(
    engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another worker opened a case after the batch looked: the unique index refuses the batch's
    insert, and every opening goes through the lifecycle's own race handling."""
    now = clock.now()
    single, batch = seed_pairs(engine, 6, now)
    with session_scope(engine) as s:
        alone = one_by_one(s, openings_for(households(engine, single), now), now)
    monkeypatch.setattr(opening, "_active_cases", lambda session, openings: set())  # looked too early
    with session_scope(engine) as s:
        together = open_many(s, openings_for(households(engine, batch), now), now=now)
    assert [opened for _, opened in together] == [opened for _, opened in alone]
    assert case_rows(engine, batch) == case_rows(engine, single)


def test_open_many_writes_what_one_by_one_writes_under_a_named_actor(
    engine: Engine, clock: ManualClock
) -> None:
    """The actor (a person who opened the cases, not the system) reaches every ``opened`` event."""
    now = clock.now()
    single, batch = seed_pairs(engine, 4, now)
    with session_scope(engine) as s:
        for o in openings_for(households(engine, single), now):
            opening._one(s, o, now, "user:7")
    with session_scope(engine) as s:
        open_many(s, openings_for(households(engine, batch), now), now=now, actor="user:7")
    assert case_rows(engine, batch) == case_rows(engine, single)
    with Session(engine) as s:
        actors = s.exec(
            select(CaseEvent.actor)
            .join(Case, col(Case.id) == CaseEvent.case_id)
            .where(col(Case.household_id).in_(batch), CaseEvent.type == CaseEventType.OPENED)
            .order_by(col(CaseEvent.at))
        ).all()
    # The third household's case was open already (opened an hour before, by the system).
    assert actors == ["system"] + ["user:7"] * 3


def test_open_many_with_a_household_twice_re_detects_the_second(engine: Engine, clock: ManualClock) -> None:
    now = clock.now()
    with session_scope(engine) as s:
        h = make_household(s, with_resident=False, contacts=0)
        assert h.id is not None
        o = Opening(h.id, CaseKind.INACTIVITY, Severity.ALERT, "quiet", {"steps": []})
        raised = Opening(h.id, CaseKind.INACTIVITY, Severity.CRITICAL, "quieter", {"steps": []})
        result = open_many(s, [o, raised], now=now)
    assert [opened for _, opened in result] == [True, False]
    assert result[0][0].id == result[1][0].id
    with Session(engine) as s:
        case = s.exec(select(Case).where(Case.household_id == h.id)).one()
        types = s.exec(select(CaseEvent.type).where(CaseEvent.case_id == case.id).order_by(col(CaseEvent.id)))
        assert list(types) == [CaseEventType.OPENED, CaseEventType.SEVERITY_RAISED]
    assert case.severity == Severity.CRITICAL


def offline_households(engine: Engine, n: int, now: datetime) -> list[int]:
    with session_scope(engine) as s:
        team = make_team(s)
        ids = []
        for _ in range(n):
            h = make_household(s, team=team, with_resident=False, contacts=0)
            for k in range(2):
                d = make_device(s, household=h)
                d.online = True
                d.report_interval_s = 60.0
                d.last_seen_at = now - timedelta(hours=2, minutes=k)
                s.add(d)
            assert h.id is not None
            ids.append(h.id)
    return ids


def test_a_connectivity_tick_opening_n_cases_writes_what_n_single_checks_write(
    engine: Engine, clock: ManualClock
) -> None:
    """A power cut: every plug of 2 × 25 households silent. Half are checked one household to a
    transaction (the path a failed batch falls back to), the other half by one tick."""
    now = clock.now()
    single = offline_households(engine, 25, now)
    with session_scope(engine) as s:
        connectivity.mark_silent_devices(s, now, SETTINGS)
    for household_id in single:
        with session_scope(engine) as s:
            connectivity.check_household(s, household_id, now, connectivity.ConnectivityResult())
    batch = offline_households(engine, 25, now)
    with statements(engine) as seen:
        result = connectivity.tick(engine, clock, SETTINGS)
    assert (result.went_silent, result.opened, result.cleared) == (50, 25, 0)
    assert case_rows(engine, batch) == case_rows(engine, single)
    assert len(case_rows(engine, batch)) == 25
    # A handful of statements for the whole tick, not a dozen a case (issue 15). SQLite (in the
    # process: no round trips) inserts row by row; PostgreSQL in one statement per table.
    assert len([q for q in seen if not q.startswith("INSERT")]) <= 16, "\n".join(q[:100] for q in seen)
    if engine.dialect.name == "postgresql":
        assert len(seen) <= 18, "\n".join(q[:100] for q in seen)
    with Session(engine) as s:
        assert all(d.online is False for d in s.exec(select(Device)))


def test_a_connectivity_tick_clearing_n_cases_writes_what_n_single_checks_write(
    engine: Engine, clock: ManualClock
) -> None:
    """The power comes back: a plug of each of 2 × 12 offline households is heard again (a third
    of the cases acknowledged by then). Half are checked one household to a transaction, the
    other half by one tick: the same cleared cases and events, in a few statements, not a
    conditional UPDATE per case."""
    now = clock.now()
    groups = [offline_households(engine, 12, now), offline_households(engine, 12, now)]
    connectivity.tick(engine, clock, SETTINGS)
    clock.advance(timedelta(minutes=5))
    later = clock.now()
    with session_scope(engine) as s:
        for group in groups:
            for i, household_id in enumerate(group):
                case = s.exec(select(Case).where(Case.household_id == household_id)).one()
                if i % 3 == 0:
                    lifecycle.acknowledge(s, case, actor="kim", now=later)
                device = s.exec(select(Device).where(Device.household_id == household_id)).first()
                assert device is not None
                device.online, device.last_seen_at = True, later
    single, batch = groups
    for household_id in single:
        with session_scope(engine) as s:
            connectivity.check_household(s, household_id, later, connectivity.ConnectivityResult())
    with statements(engine) as seen:
        result = connectivity.tick(engine, clock, SETTINGS)
    assert (result.opened, result.cleared) == (0, 12)
    assert case_rows(engine, batch) == case_rows(engine, single)
    assert [row["status"] for row in case_rows(engine, batch)] == ["acknowledged", "cleared", "cleared"] * 4
    case_updates = [q for q in seen if q.startswith("UPDATE alert_case")]
    # One executemany for the open cases and one for the acknowledged (they change other
    # columns), not one UPDATE a case as before.
    assert len(case_updates) == 2, case_updates


def due_households(engine: Engine, n: int, now: datetime) -> list[int]:
    with session_scope(engine) as s:
        team = make_team(s)
        ids = []
        for _ in range(n):
            h = make_household(s, team=team, with_resident=False, contacts=0)
            d = make_device(s, household=h)
            d.last_seen_at = now - timedelta(minutes=1)
            s.add(d)
            make_watch(
                s,
                h,
                status=WatchStatus.UP,
                last_activity_at=now - timedelta(hours=13),
                last_activity_device_id=d.id,
                alert_after=now - timedelta(hours=1),
            )
            assert h.id is not None
            ids.append(h.id)
    return ids


def test_a_sweep_opening_n_cases_writes_what_n_single_checks_write(
    engine: Engine, clock: ManualClock
) -> None:
    """2 × 30 households past their deadline: 30 opened by one tick, then 30 checked one at a time
    (the path a failed batch falls back to; each household opens its own case)."""
    now = clock.now()
    batch = due_households(engine, 30, now)
    with statements(engine) as seen:
        result = sweeper.tick(engine, clock, SETTINGS)
    single = due_households(engine, 30, now)
    for household_id in single:
        with session_scope(engine) as s:
            sweeper._check_due(s, household_id, now, SETTINGS, sweeper.SweepResult())
    assert (result.opened, result.redetected) == (30, 0)
    assert case_rows(engine, batch) == case_rows(engine, single)
    assert len(case_rows(engine, batch)) == 30
    with Session(engine) as s:
        watches = {w.household_id: w for w in s.exec(select(Watch))}
    for a, b in zip(single, batch, strict=True):
        assert watches[b].status == watches[a].status == WatchStatus.OVERDUE
        assert watches[b].explanation == watches[a].explanation
    # A few statements for all 30, where one by one took ~13 each: one watch UPDATE, and the
    # cases in a few more.
    assert len([q for q in seen if q.startswith("UPDATE watch")]) == 1
    assert not [q for q in seen if q.startswith("SAVEPOINT")][1:]  # the insert's, no household's
    opening_statements = [
        q for q in seen if ("alert_case" in q or "organisation" in q) and not q.startswith("INSERT")
    ]
    assert len(opening_statements) <= 8, opening_statements


def test_a_watch_flipped_by_someone_else_meanwhile_gets_no_case_from_this_sweep(
    engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the batch's look and its flip, another sweeper flipped one watch (and owns its
    case): the conditional flip leaves it alone, the others open."""
    now = clock.now()
    ids = due_households(engine, 4, now)
    real = sweeper._check_due

    def racing(session: Session, household_id: int, *args: Any, **kwargs: Any) -> Any:
        due = real(session, household_id, *args, **kwargs)
        if household_id == ids[1]:
            session.execute(
                update(Watch).where(col(Watch.household_id) == ids[1]).values(status=WatchStatus.OVERDUE)
            )
        return due

    monkeypatch.setattr(sweeper, "_check_due", racing)
    result = sweeper.tick(engine, clock, SETTINGS)
    assert result.opened == 3
    with Session(engine) as s:
        opened = {c.household_id for c in s.exec(select(Case))}
    assert opened == {ids[0], ids[2], ids[3]}
