"""The live side of the routine model: retrain on a schedule tick, load it where deadlines are set.

``tick`` refits each watched household once per local day, *as of its last local midnight*
(the data replay's midnight refit uses; it runs within ``ANBU_ROUTINE_REFIT_SPREAD_H`` after
it, at the household's own offset, claimed so workers share them), from the household's own activity edges and reading
coverage of the last weeks; stores the model as JSON in ``routine_model``; and re-arms the
watch's ``alert_after`` with it. Inactivity cases the resident (or staff) confirmed were a false
alarm are passed to the fit too (:func:`confirmed_quiets`), so the same quiet alerts later next
time (docs/detection.md, "Learning from false alarms"). The gateway asks :func:`is_human_edge` before an ON edge
counts as a sign of life.
"""

from __future__ import annotations

import bisect
import logging
import math
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, or_, update
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from anomaly.activity import AGGREGATE, PowerEvent, is_human, learn_automatic
from anomaly.detector import DetectorParams
from anomaly.house_level import fit_house
from anomaly.household_state import house_buckets, label
from anomaly.long_on import fit_long_on, programme_runs, switch_stream
from anomaly.reading_hours import first_reading, household_coverage, rollup_of
from anomaly.routine import ConfirmedQuiet, Routine, fit_routine
from anomaly.watch import rearm
from core.clock import Clock
from core.db import claim_lease, database_now, session_scope
from core.enums import CaseEventType, CaseKind, CaseStatus, EdgeKind, ResolutionCode
from core.models import (
    ActivityEdge,
    Case,
    CaseEvent,
    Device,
    Household,
    RoutineModel,
    RoutineRefit,
    Watch,
)
from core.settings import Settings

log = logging.getLogger(__name__)

# Clear reasons meaning "the resident said they are fine" (notifier.calls' reply "ok", keyed 1 or
# an inbound "괜찮아요"; the sweeper's check-in after the case opened). "activity_resumed" is not
# one: the routine sees that activity itself.
RESIDENT_CLEAR_REASONS = frozenset({"resident_ok", "resident_checked_in"})
# Case event reasons / call outcomes that mean the resident was *not* fine during the case.
_NOT_FINE = ("resident_unwell", "resident_emergency")
# Refit offsets: a household's slot is its id mod SLOTS, spread evenly over the refit window.
SLOTS = 1000
# A worker's claim on one refit (0.35-1.5 s each today): long enough for any, short enough that a
# worker that died mid-refit delays it by minutes, not a night.
REFIT_LEASE = timedelta(minutes=10)
# Due households read per timezone and tick: more than any tick's budget can refit.
DUE_BATCH = 2000


def last_local_midnight(now: datetime, timezone: str) -> datetime:
    local = now.astimezone(ZoneInfo(timezone))
    return datetime.combine(local.date(), datetime.min.time(), ZoneInfo(timezone)).astimezone(UTC)


def tick(
    engine: Engine,
    clock: Clock,
    settings: Settings,
    *,
    params: DetectorParams | None = None,
    budget_s: float | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> int:
    """Refit the routines that are due, for about ``settings.routine_refit_budget_s`` at most;
    return how many were (re)fitted.

    "Due?" is a few set queries (:func:`due_refits`), not a question asked of every household
    (issue 15.2: 1.2 ms a household, 116 s every 15 min at 100k, to do nothing). Each refit is
    claimed first (:func:`claim_refit`), so workers share the night's refits; what the budget
    leaves is done by the next tick, a minute later.
    """
    now = clock.now()
    budget = settings.routine_refit_budget_s if budget_s is None else budget_s
    started = monotonic()
    with session_scope(engine) as session:
        due = due_refits(session, now, settings)
    fitted = 0
    for household_id, as_of in due:
        if monotonic() - started >= budget:
            break
        with session_scope(engine) as session:
            if not claim_refit(session, household_id, as_of):
                continue  # another worker has it, or has done it
        try:
            with session_scope(engine) as session:
                fitted += retrain_household(session, household_id, now, settings, params or DetectorParams())
                finish_refit(session, household_id, as_of)
        except Exception:  # one household's bad data must not stop the others (retried after the lease)
            log.exception("retraining the routine of household %s failed", household_id)
    return fitted


def due_refits(session: Session, now: datetime, settings: Settings) -> list[tuple[int, datetime]]:
    """Households whose refit is due now, with the local midnight it is as of; one query per timezone.

    Due, as before: no routine fitted as of the last local midnight. And not already tried as of
    it (a household with too little data gets no routine and was refitted every tick all day),
    nor claimed by a worker, and its offset reached: refits are spread over
    ``routine_refit_spread_h`` after midnight by the household's slot (id mod :data:`SLOTS`),
    so a district's refits do not all start at 00:00. The model is the same whenever it runs:
    it is always fitted from the data up to midnight.
    """
    db_now = database_now(session)
    zones = session.exec(
        select(Household.timezone).join(Watch, col(Watch.household_id) == Household.id).distinct()
    ).all()
    slot = col(Watch.household_id) % SLOTS
    due: list[tuple[int, datetime]] = []
    for zone in sorted(zones):
        as_of = last_local_midnight(now, zone)
        rows = session.exec(
            select(Watch.household_id)
            .join(Household, col(Household.id) == Watch.household_id)
            .outerjoin(RoutineModel, col(RoutineModel.household_id) == Watch.household_id)
            .outerjoin(RoutineRefit, col(RoutineRefit.household_id) == Watch.household_id)
            .where(
                Household.timezone == zone,
                or_(col(RoutineModel.fitted_at).is_(None), col(RoutineModel.fitted_at) < as_of),
                or_(col(RoutineRefit.as_of).is_(None), col(RoutineRefit.as_of) < as_of),
                or_(col(RoutineRefit.claimed_until).is_(None), col(RoutineRefit.claimed_until) <= db_now),
                slot < slots_reached(now - as_of, settings.routine_refit_spread_h),
            )
            .order_by(slot, col(Watch.household_id))
            .limit(DUE_BATCH)
        ).all()
        due += [(household_id, as_of) for household_id in rows]
    return due


def slots_reached(since_midnight: timedelta, spread_h: float) -> int:
    """How many of the :data:`SLOTS` offsets (slot k starts at k/SLOTS of the spread) have come."""
    spread_s = spread_h * 3600
    if spread_s <= 0:
        return SLOTS
    return min(SLOTS, math.floor(since_midnight.total_seconds() * SLOTS / spread_s) + 1)


def claim_refit(session: Session, household_id: int, as_of: datetime) -> bool:
    """Take the household's refit as of ``as_of`` for :data:`REFIT_LEASE` (the database's clock,
    which every worker shares); False if another worker holds it or it is done."""
    return claim_lease(
        session,
        RoutineRefit,
        household_id,
        REFIT_LEASE,
        or_(col(RoutineRefit.as_of).is_(None), col(RoutineRefit.as_of) < as_of),
    )


def finish_refit(session: Session, household_id: int, as_of: datetime) -> None:
    """Done as of ``as_of`` (in the refit's own transaction: a failed refit stays claimed until
    the lease runs out, then is tried again)."""
    session.execute(
        update(RoutineRefit)
        .where(col(RoutineRefit.household_id) == household_id)
        .values(as_of=as_of, claimed_until=None)
        .execution_options(synchronize_session=False)
    )


def retrain_household(
    session: Session, household_id: int, now: datetime, settings: Settings, params: DetectorParams
) -> bool:
    household = session.get(Household, household_id)
    if household is None:
        return False
    as_of = last_local_midnight(now, household.timezone)
    existing = session.get(RoutineModel, household_id)
    if existing is not None and existing.fitted_at >= as_of:
        return False
    end = int(as_of.timestamp())
    start = end - params.fit.window_days * 86400
    start_dt, end_dt = datetime.fromtimestamp(start, UTC), as_of
    device_ids = session.exec(select(Device.id).where(Device.household_id == household_id)).all()
    # The roll-up row, read once for both (a refit is ~20 round trips, issue 15.3). The watch is
    # read again at the end, on purpose: the latest row for rearm, as before.
    rollup = rollup_of(session, household_id)
    first = first_reading(session, device_ids, rollup=rollup)
    if first is None:
        return False
    # Seconds of data per hour: the roll-up's summaries, raw readings only for the last hour or so
    # (anomaly/reading_hours.py); from one gap before the window, as replay credits the first hour.
    coverage = household_coverage(
        session, household_id, device_ids, start_dt, end_dt, params.coverage_gap_s, rollup=rollup
    )
    # Plain columns, not ORM objects: a window holds hundreds of edges, and building an object a
    # row was a good part of a refit (issue 15.3).
    edges = [
        (int(ts.timestamp()), kind, label(appliance, channel), power_w)
        for ts, kind, channel, power_w, appliance in session.execute(
            select_columns(
                col(ActivityEdge.ts),
                col(ActivityEdge.kind),
                col(ActivityEdge.channel),
                col(ActivityEdge.power_w),
                col(Device.appliance),
            )
            .join(Device, col(Device.id) == ActivityEdge.device_id)
            .where(
                col(ActivityEdge.household_id) == household_id,
                col(ActivityEdge.ts) >= start_dt,
                col(ActivityEdge.ts) < end_dt,
            )
            .order_by(col(ActivityEdge.ts))
        ).all()
    ]
    events = [PowerEvent(ts, name, power_w) for ts, kind, name, power_w in edges if kind == EdgeKind.ON]
    # Replay's detector keeps the switch-offs of plugs the same way (anomaly/long_on.py).
    offs = [(ts, name) for ts, kind, name, _w in edges if kind == EdgeKind.OFF and name != AGGREGATE]
    days = (end - max(int(first.timestamp()), start)) / 86400
    automatic = learn_automatic(events, days=days, timezone=household.timezone, params=params.automatic)
    human = [(e.ts, e.channel) for e in events if is_human(e, automatic)]
    confirmed = confirmed_quiets(session, household_id, [ts for ts, _ in human], start=start_dt, end=end_dt)
    routine = fit_routine(
        human,
        coverage,
        now=end,
        timezone=household.timezone,
        automatic=automatic,
        params=params.fit,
        confirmed=confirmed,
    )
    if routine is None:
        if existing is not None:
            session.delete(existing)  # e.g. after a long absence: back to the fixed rule
        return False
    buckets = house_buckets(session, household_id, start_dt, end_dt, params.house.bucket_s)
    house = fit_house(
        buckets, (ts for ts, _ch in human), now=end, timezone=household.timezone, params=params.house
    )
    runs = programme_runs(switch_stream(events, offs), now=end)
    long_on = fit_long_on(runs, automatic, timezone=household.timezone)
    data = replace(routine, house=house, long_on=long_on).to_json()
    if existing is None:
        session.add(
            RoutineModel(household_id=household_id, fitted_at=as_of, days_used=routine.days_used, model=data)
        )
    else:
        existing.fitted_at, existing.days_used, existing.model = as_of, routine.days_used, data
    watch = session.get(Watch, household_id)
    if watch is not None:
        rearm(
            session, watch, household, settings, routine=Routine.from_json(data), ladder_params=params.ladder
        )
    log.info("routine of household %s refitted from %d usual days", household.code, routine.days_used)
    return True


def confirmed_quiets(
    session: Session, household_id: int, human: list[int], *, start: datetime, end: datetime
) -> list[ConfirmedQuiet]:
    """The household's confirmed false alarms known by ``end`` whose quiet ended in the window.

    Confirmed: an inactivity case *cleared* because the resident said they were fine, or
    *resolved* by staff as "resident fine" (staff's outcome wins over the clear reason: a case
    the resident answered but staff closed as away, hospital or device is not one). Not one:
    a case still acknowledged (staff have not decided yet), cleared by activity, or on which
    the resident said they were unwell or needed help at any point.

    The quiet runs from the last sign of life before the case opened (the latest human
    switch-on of ``human``, sorted unix s, or an earlier "I'm fine") to the confirmation (the
    clear, else the resolution). Cases whose last sign of life is before the window are left
    out: they age out with it.
    """
    cases = session.exec(
        select(Case).where(
            Case.household_id == household_id,
            Case.kind == CaseKind.INACTIVITY,
            col(Case.status).in_((CaseStatus.CLEARED, CaseStatus.RESOLVED)),
            col(Case.opened_at) < end,
        )
    ).all()
    checkins = sorted(
        c.cleared_at for c in cases if c.cleared_at is not None and c.clear_reason in RESIDENT_CLEAR_REASONS
    )
    watch = session.get(Watch, household_id)
    if watch is not None and watch.last_checkin_at is not None:
        checkins.append(watch.last_checkin_at)
    out: list[ConfirmedQuiet] = []
    for case in cases:
        if case.status == CaseStatus.RESOLVED:
            if case.resolution_code != ResolutionCode.RESIDENT_FINE or case.resolved_at is None:
                continue
            known_at = case.resolved_at
            confirmed_at = min(case.resolved_at, case.cleared_at or case.resolved_at)
        else:
            if case.clear_reason not in RESIDENT_CLEAR_REASONS or case.cleared_at is None:
                continue
            known_at = confirmed_at = case.cleared_at
        if known_at >= end or confirmed_at < start or _resident_not_fine(session, case):
            continue
        opened = case.opened_at.timestamp()
        i = bisect.bisect_left(human, opened)
        before = ([human[i - 1]] if i else []) + [
            int(c.timestamp()) for c in checkins if c.timestamp() < opened
        ]
        last = max(before, default=None)
        if last is None or last < start.timestamp():
            continue
        out.append(ConfirmedQuiet(start=last, end=int(confirmed_at.timestamp())))
    return out


def _resident_not_fine(session: Session, case: Case) -> bool:
    events = session.exec(
        select(CaseEvent).where(
            CaseEvent.case_id == case.id,
            col(CaseEvent.type).in_(
                (CaseEventType.STEP, CaseEventType.SEVERITY_RAISED, CaseEventType.CALL_OUTCOME)
            ),
        )
    ).all()
    for event in events:
        reason = str(event.data.get("reason") or "")
        if reason.startswith(_NOT_FINE) or event.data.get("outcome") in ("unwell", "emergency"):
            return True
    return False
