"""The inactivity sweeper: overdue watches open cases; renewed signs of life clear them.

Each tick first ends the away periods that are over (``anomaly/away_end.py``), so a household
whose pause just ended is judged on its new deadline.

One tick is a handful of short transactions: due and overdue households are checked
:data:`BATCH` to a transaction (:func:`in_batches`), each in its own savepoint. Races with the
gateway and with other sweepers are settled by conditional UPDATEs on the watch row (principle
3): whoever flips the status first acts, everyone else sees zero rows changed and moves on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from anomaly import away_end, recheck
from anomaly.deadlines import Deadline
from anomaly.household_state import prime_house_states, prime_routines
from anomaly.watch import (
    OverdueFlip,
    away_ended_at,
    current_deadline,
    flip_overdue_many,
    held_by_what_was_left_on,
    held_for_data_gap,
    is_paused,
    last_heard,
    last_heard_of,
    update_watch,
)
from core.clock import Clock
from core.db import session_scope
from core.enums import (
    CaseKind,
    CaseStatus,
    Severity,
    WatchStatus,
)
from core.i18n import in_every_language
from core.models import Case, Device, Household, Watch
from core.settings import Settings
from notifier import lifecycle
from notifier.opening import Opening, open_many
from notifier.policy import prime_snapshots, snapshot_for_household

log = logging.getLogger(__name__)

# Households checked per transaction: short enough that the gateway, waiting on the same rows, never
# waits long; long enough that the transaction's own cost is shared.
BATCH = 50
CRITICAL_REASON = "still_inactive"  # a case raised to critical by the ladder's last stage


@dataclass
class SweepResult:
    opened: int = 0
    redetected: int = 0
    recovered: int = 0
    rearmed: int = 0
    skipped_paused: int = 0
    pauses_ended: int = 0
    away_reminders: int = 0
    away_cleared: int = 0
    held_data_gap: int = 0  # due, but every device of the household has been silent since before
    # overdue, not re-checked: nothing its deadline reads changed and no stage is due (anomaly/recheck.py)
    overdue_unchanged: int = 0

    def add(self, other: SweepResult) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def tick(engine: Engine, clock: Clock, settings: Settings, *, limit: int = 500) -> SweepResult:
    now = clock.now()
    result = SweepResult()
    # First, so a household whose pause just ended is judged on its new deadline below.
    result.pauses_ended, result.away_reminders = away_end.end_pauses(engine, now, settings)
    result.away_cleared = away_end.clear_away_reminders(engine, now)
    with session_scope(engine) as session:
        due = _due_households(session, now, limit, result)
        overdue = recheck.overdue_watches(session, now, settings)
    inputs = {o.household_id: o.inputs for o in overdue if o.recheck}
    result.overdue_unchanged += len(overdue) - len(inputs)
    _sweep_due(engine, due, now, settings, result)
    _recheck_overdue(engine, inputs, now, settings, result)
    if result.opened or result.recovered or result.pauses_ended:
        log.info(
            "sweep: opened=%d recovered=%d pauses_ended=%d away_reminders=%d",
            result.opened,
            result.recovered,
            result.pauses_ended,
            result.away_reminders,
        )
    return result


def in_batches(engine: Engine, household_ids: Sequence[int], check: Callable[[Session, int], object]) -> None:
    """Run a per-household check over many households, :data:`BATCH` to a transaction.

    One transaction and a dozen single-row reads per household cost 2.3-3.5 ms each (issue
    15.2); here a batch's watches, households, routines and last-activity devices are read in
    four queries, and the checks find them in the session. Each household runs in its own
    savepoint: one that fails is rolled back and logged alone, the others carry on.
    """
    for i in range(0, len(household_ids), BATCH):
        chunk = list(household_ids[i : i + BATCH])
        with session_scope(engine) as session:
            loaded = _preload(session, chunk)  # held: the session keeps only weak references
            for household_id in chunk:
                try:
                    with session.begin_nested():
                        check(session, household_id)
                except Exception:
                    log.exception("sweeping household id %s failed", household_id)
            del loaded


@dataclass
class _Due:
    """A household found past its deadline: its watch is flipped to overdue and its case opened
    with the rest of its batch."""

    household_id: int
    watch: Watch
    household: Household
    deadline: Deadline
    policy_snapshot: dict[str, Any]
    expect_status: WatchStatus  # the flip is conditional on the status read


def _sweep_due(
    engine: Engine, household_ids: Sequence[int], now: datetime, settings: Settings, result: SweepResult
) -> None:
    """The due households, :data:`BATCH` to a transaction, in a few statements a batch (issue 15:
    one household at a time with its own case, ~13 statements each, 60 ms on a loaded machine).

    Each household is judged from the batch's rows read up front (no write but a re-arm); then
    the watches found past their deadline are flipped to overdue in one conditional UPDATE (each
    only if still in the status read: another sweeper or the gateway may have got there first)
    and their cases opened together (:func:`notifier.opening.open_many`), in the same
    transaction. If anything in a batch fails, the batch is rolled back and checked again the
    old way (:func:`in_batches`: each household in its own savepoint, flipping its watch and
    opening its own case), so one household that fails is still rolled back alone and a flipped
    watch is never committed without its case.
    """
    for i in range(0, len(household_ids), BATCH):
        chunk = list(household_ids[i : i + BATCH])
        part = SweepResult()
        try:
            with session_scope(engine) as session:
                loaded = _preload(session, chunk)  # held: the session keeps only weak references
                heard = last_heard(session, chunk)
                prime_snapshots(session, chunk)
                deferred = [
                    due
                    for household_id in chunk
                    if (
                        due := _check_due(session, household_id, now, settings, part, heard=heard, defer=True)
                    )
                ]
                won = flip_overdue_many(
                    session, [OverdueFlip(d.watch, d.expect_status, d.deadline.explanation) for d in deferred]
                )
                flipped = [d for d in deferred if d.household_id in won]
                opened = _open_deferred(session, flipped, now, settings, part)
                del loaded
        except Exception:
            log.exception("sweeping %d due households together failed; checking them one by one", len(chunk))
            part = SweepResult()
            in_batches(engine, chunk, partial(_check_due, now=now, settings=settings, result=part))
        else:
            for case_id, household in opened:  # after the commit: a batch that failed said nothing
                log.info("inactivity case %s opened for household %s", case_id, household.code)
        result.add(part)


@dataclass
class _Recheck:
    """What a batch of re-checks shares: its households' active inactivity cases, read up front,
    and the cases to raise to critical, raised together once every household is judged."""

    cases: dict[int, Case]
    to_raise: list[Case] = field(default_factory=list)


def _recheck_overdue(
    engine: Engine, inputs: dict[int, str], now: datetime, settings: Settings, result: SweepResult
) -> None:
    """The overdue households to look at again (``inputs``: their digests, anomaly/recheck.py),
    :data:`BATCH` to a transaction in a few statements a batch (issue 15: a savepoint, a case read
    and a re-check marker each, ~6 statements a household, made the tick after a district's
    households went overdue take 12.5 s at 100k).

    A batch's rows and active inactivity cases are read up front and its re-check markers written
    in one statement. If anything in a batch fails, the batch is rolled back and checked again
    one household at a time, each in its own savepoint (:func:`in_batches`), so one household that
    fails is still rolled back alone and its marker is not stored: it is looked at next tick.
    """
    household_ids = list(inputs)
    for i in range(0, len(household_ids), BATCH):
        chunk = household_ids[i : i + BATCH]
        part = SweepResult()
        try:
            with session_scope(engine) as session:
                loaded = _preload(session, chunk)  # held: the session keeps only weak references
                batch = _Recheck(lifecycle.active_cases(session, chunk, CaseKind.INACTIVITY))
                checked = [
                    c
                    for household_id in chunk
                    if (
                        c := _check_recovered(
                            session,
                            household_id,
                            now,
                            settings,
                            part,
                            inputs=inputs[household_id],
                            batch=batch,
                        )
                    )
                ]
                # A case changed meanwhile (acknowledged, say) fails the batch: redone one by one.
                lifecycle.raise_many(
                    session, batch.to_raise, severity=Severity.CRITICAL, reason=CRITICAL_REASON, now=now
                )
                recheck.mark_checked(session, checked)
                del loaded
        except Exception:
            log.exception("re-checking %d overdue households together failed; one by one", len(chunk))
            part = SweepResult()

            def one(session: Session, household_id: int, part: SweepResult = part) -> None:
                c = _check_recovered(session, household_id, now, settings, part, inputs=inputs[household_id])
                recheck.mark_checked(session, [c] if c else [])

            in_batches(engine, chunk, one)
        result.add(part)


def _open_deferred(
    session: Session, deferred: list[_Due], now: datetime, settings: Settings, result: SweepResult
) -> list[tuple[int | None, Household]]:
    if not deferred:
        return []
    # The flipped watches were expired by their UPDATE: read them again in one query, not one each.
    session.exec(select(Watch).where(col(Watch.household_id).in_([d.household_id for d in deferred]))).all()
    openings = [
        Opening(
            household_id=d.household_id,
            kind=CaseKind.INACTIVITY,
            severity=Severity.ALERT,
            explanation=explanations(d.deadline),
            policy_snapshot=d.policy_snapshot,
        )
        for d in deferred
    ]
    opened: list[tuple[int | None, Household]] = []
    for d, (case, was_opened) in zip(deferred, open_many(session, openings, now=now), strict=True):
        if was_opened:
            result.opened += 1
            opened.append((case.id, d.household))
        else:
            result.redetected += 1
    return opened


def _preload(session: Session, household_ids: list[int]) -> list[object]:
    prime_house_states(session, household_ids)
    watches = session.exec(select(Watch).where(col(Watch.household_id).in_(household_ids))).all()
    devices = [w.last_activity_device_id for w in watches if w.last_activity_device_id is not None]
    return [
        *watches,
        *session.exec(select(Household).where(col(Household.id).in_(household_ids))).all(),
        *prime_routines(session, household_ids),
        *session.exec(select(Device).where(col(Device.id).in_(devices))).all(),
    ]


def _due_households(session: Session, now: datetime, limit: int, result: SweepResult) -> list[int]:
    """Households past their deadline, oldest first, up to ``limit`` — not counting held ones.

    A household held for a data gap, or paused (away), keeps its past deadline, so by due time
    alone it would stay first in line: 500 silent households (a power cut in one block) or 500
    away for the holidays would take every tick's whole budget and nobody else would get a
    case. They are told apart here, in one query, and never take a due household's place.
    """
    rows = session.exec(
        select(Watch.household_id, Watch.alert_after, last_heard_of(col(Watch.household_id)), Household)
        .join(Household, col(Household.id) == Watch.household_id)
        .where(col(Watch.status) != WatchStatus.OVERDUE, col(Watch.alert_after) <= now)
        .order_by(col(Watch.alert_after))
    ).all()
    due: list[int] = []
    for household_id, alert_after, heard, household in rows:
        if is_paused(household, now):
            result.skipped_paused += 1
        elif alert_after is not None and held_for_data_gap(alert_after, heard):
            result.held_data_gap += 1
        elif len(due) < limit:
            due.append(household_id)
    return due


def explanations(deadline: Deadline) -> dict[str, str]:
    """``deadline``'s explanation in every language, for a case about to be opened: rendered from
    the facts the deadline was worked out from, so every language says the same thing."""
    return in_every_language(deadline.explain_in)


def _check_due(
    session: Session,
    household_id: int,
    now: datetime,
    settings: Settings,
    result: SweepResult,
    *,
    heard: dict[int, datetime] | None = None,
    defer: bool = False,
) -> _Due | None:
    """``heard``: :func:`last_heard` for the batch, read at its start (default: read here).
    ``defer``: neither flip the watch nor open the case: return what the caller must flip and open."""
    watch = session.get(Watch, household_id)
    household = session.get(Household, household_id)
    if watch is None or household is None or watch.status == WatchStatus.OVERDUE:
        return None
    if is_paused(household, now):
        result.skipped_paused += 1
        return None
    deadline = current_deadline(session, watch, household, settings)
    if deadline is None:
        return None
    if deadline.alert_after > now:
        # A check-in (or a newer rule) moved the deadline: re-arm instead of alerting.
        update_watch(session, watch, alert_after=deadline.alert_after, explanation=deadline.explanation)
        result.rearmed += 1
        return None
    if heard is None:
        heard = last_heard(session, [household_id])
    if held_for_data_gap(deadline.alert_after, heard.get(household_id)):
        # The household's devices went silent before the deadline: no data is not inactivity.
        # The quiet clock stands still (the gateway adds the gap when readings resume); staff
        # hear of the silence from the device_offline case.
        result.held_data_gap += 1
        return None
    if defer:
        snapshot = snapshot_for_household(session, household_id)
        return _Due(household_id, watch, household, deadline, snapshot, expect_status=watch.status)
    flipped = update_watch(
        session,
        watch,
        status=WatchStatus.OVERDUE,
        explanation=deadline.explanation,
        expect_status=watch.status,
    )
    if not flipped:
        return None
    case, opened = lifecycle.open_or_redetect(
        session,
        household_id=household_id,
        kind=CaseKind.INACTIVITY,
        severity=Severity.ALERT,
        explanation=explanations(deadline),
        policy_snapshot=snapshot_for_household(session, household_id),
        now=now,
    )
    if opened:
        result.opened += 1
        log.info("inactivity case %s opened for household %s", case.id, household.code)
    else:
        result.redetected += 1
    return None


def _check_recovered(
    session: Session,
    household_id: int,
    now: datetime,
    settings: Settings,
    result: SweepResult,
    *,
    inputs: str | None = None,
    batch: _Recheck | None = None,
) -> recheck.Checked | None:
    """An overdue household: recovered on a new sign of life, raised to critical on time.

    ``inputs``: the digest of what this re-check reads (:func:`anomaly.recheck.overdue_watches`);
    returned with the next time it must be looked at again if nothing changes, for the caller to
    store (:func:`anomaly.recheck.mark_checked`) while the household is still overdue.
    ``batch``: the caller's batch (its cases read up front, its raises made together); default:
    read and raise here.
    """
    watch = session.get(Watch, household_id)
    household = session.get(Household, household_id)
    if watch is None or household is None or watch.status != WatchStatus.OVERDUE:
        return None
    # Only a real sign of life ends an overdue episode (the end of an away period is not one);
    # the ladder towards critical runs from whichever start the case was opened on.
    deadline = current_deadline(session, watch, household, settings, from_away_end=False)
    if (
        deadline is None
        or deadline.alert_after <= now
        or held_by_what_was_left_on(session, watch, household_id)
    ):
        # Without an ended away period both starts are the same: the ladder is not run twice
        # (it is most of an overdue household's cost, every tick).
        away = away_ended_at(household) is not None
        effective = current_deadline(session, watch, household, settings) if away else deadline
        if effective is not None:
            _raise_if_critical(session, household_id, effective, now, batch=batch)
        if inputs is None:
            return None
        return recheck.Checked(household_id, inputs, recheck.next_recheck(household_id, effective, now))
    flipped = update_watch(
        session,
        watch,
        status=WatchStatus.UP,
        alert_after=deadline.alert_after,
        explanation=deadline.explanation,
        expect_status=WatchStatus.OVERDUE,
    )
    if not flipped:
        return None
    result.recovered += 1
    case = lifecycle.active_case(session, household_id, CaseKind.INACTIVITY)
    if case is None:
        return None  # e.g. the resident said "I'm fine" and the call handler already cleared it
    checked_in = watch.last_checkin_at is not None and (
        watch.last_activity_at is None or watch.last_checkin_at > watch.last_activity_at
    )
    reason = "resident_checked_in" if checked_in else "activity_resumed"
    if case.status in (CaseStatus.OPEN, CaseStatus.ACKNOWLEDGED):
        lifecycle.clear(session, case, reason=reason, now=now)
    return None  # up again: nothing to re-check


def _raise_if_critical(
    session: Session,
    household_id: int,
    deadline: Deadline,
    now: datetime,
    *,
    batch: _Recheck | None = None,
) -> None:
    """The ladder's last stage: still nothing long after the alert makes the open case critical.
    ``batch``: the caller's batch, whose cases were read up front and are raised together."""
    if deadline.critical_after is None or deadline.critical_after > now:
        return
    if batch is not None:
        case = batch.cases.get(household_id)
    else:
        case = lifecycle.active_case(session, household_id, CaseKind.INACTIVITY)
    if case is None or case.severity.rank >= Severity.CRITICAL.rank:
        return
    if batch is not None:
        batch.to_raise.append(case)
    else:
        lifecycle.raise_severity(session, case, severity=Severity.CRITICAL, reason=CRITICAL_REASON, now=now)
