"""The inactivity sweeper: overdue watches open cases; renewed signs of life clear them.

One tick is a handful of short transactions. Races with the gateway and with other
sweepers are settled by conditional UPDATEs on the watch row (principle 3): whoever
flips the status first acts, everyone else sees zero rows changed and moves on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from anomaly.deadlines import Deadline, compute_deadline, latest_sign_of_life
from anomaly.training import load_routine
from core.clock import Clock
from core.db import session_scope
from core.enums import CaseKind, CaseStatus, MonitoringState, Severity, WatchStatus
from core.models import Device, Household, Watch
from core.settings import Settings
from notifier import lifecycle
from notifier.policy import snapshot_for_household

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    opened: int = 0
    redetected: int = 0
    recovered: int = 0
    rearmed: int = 0
    skipped_paused: int = 0


def tick(engine: Engine, clock: Clock, settings: Settings, *, limit: int = 500) -> SweepResult:
    now = clock.now()
    result = SweepResult()
    with session_scope(engine) as session:
        due = session.exec(
            select(Watch.household_id)
            .where(col(Watch.status) != WatchStatus.OVERDUE, col(Watch.alert_after) <= now)
            .order_by(col(Watch.alert_after))
            .limit(limit)
        ).all()
        overdue = session.exec(select(Watch.household_id).where(Watch.status == WatchStatus.OVERDUE)).all()
    for household_id in due:
        with session_scope(engine) as session:
            _check_due(session, household_id, now, settings, result)
    for household_id in overdue:
        with session_scope(engine) as session:
            _check_recovered(session, household_id, now, settings, result)
    if result.opened or result.recovered:
        log.info("sweep: opened=%d recovered=%d", result.opened, result.recovered)
    return result


def current_deadline(
    session: Session, watch: Watch, household: Household, settings: Settings
) -> Deadline | None:
    """Recompute the deadline from the latest sign of life (activity or check-in)."""
    appliance = None
    if watch.last_activity_device_id is not None:
        device = session.get(Device, watch.last_activity_device_id)
        appliance = device.appliance if device else None
    sign = latest_sign_of_life(watch.last_activity_at, watch.last_checkin_at, appliance)
    if sign is None:
        return None
    return compute_deadline(
        sign,
        quiet_hours=household.quiet_hours or settings.inactivity_default_hours,
        timezone=household.timezone,
        routine=load_routine(session, household.id) if household.id is not None else None,
    )


def is_paused(household: Household, now: datetime) -> bool:
    if household.monitoring != MonitoringState.PAUSED:
        return False
    return household.paused_until is None or household.paused_until > now


def _check_due(
    session: Session, household_id: int, now: datetime, settings: Settings, result: SweepResult
) -> None:
    watch = session.get(Watch, household_id)
    household = session.get(Household, household_id)
    if watch is None or household is None or watch.status == WatchStatus.OVERDUE:
        return
    if is_paused(household, now):
        result.skipped_paused += 1
        return
    deadline = current_deadline(session, watch, household, settings)
    if deadline is None:
        return
    if deadline.alert_after > now:
        # A check-in (or a newer rule) moved the deadline: re-arm instead of alerting.
        _update_watch(session, watch, alert_after=deadline.alert_after, explanation=deadline.explanation)
        result.rearmed += 1
        return
    flipped = _update_watch(
        session,
        watch,
        status=WatchStatus.OVERDUE,
        explanation=deadline.explanation,
        expect_status=watch.status,
    )
    if not flipped:
        return
    case, opened = lifecycle.open_or_redetect(
        session,
        household_id=household_id,
        kind=CaseKind.INACTIVITY,
        severity=Severity.ALERT,
        explanation=deadline.explanation,
        policy_snapshot=snapshot_for_household(session, household_id),
        now=now,
    )
    if opened:
        result.opened += 1
        log.info("inactivity case %s opened for household %s", case.id, household.code)
    else:
        result.redetected += 1


def _check_recovered(
    session: Session, household_id: int, now: datetime, settings: Settings, result: SweepResult
) -> None:
    watch = session.get(Watch, household_id)
    household = session.get(Household, household_id)
    if watch is None or household is None or watch.status != WatchStatus.OVERDUE:
        return
    deadline = current_deadline(session, watch, household, settings)
    if deadline is None:
        return
    if deadline.alert_after <= now:
        _raise_if_critical(session, household_id, deadline, now)
        return
    flipped = _update_watch(
        session,
        watch,
        status=WatchStatus.UP,
        alert_after=deadline.alert_after,
        explanation=deadline.explanation,
        expect_status=WatchStatus.OVERDUE,
    )
    if not flipped:
        return
    result.recovered += 1
    case = lifecycle.active_case(session, household_id, CaseKind.INACTIVITY)
    if case is None:
        return  # e.g. the resident said "I'm fine" and the call handler already cleared it
    checked_in = watch.last_checkin_at is not None and (
        watch.last_activity_at is None or watch.last_checkin_at > watch.last_activity_at
    )
    reason = "resident_checked_in" if checked_in else "activity_resumed"
    if case.status in (CaseStatus.OPEN, CaseStatus.ACKNOWLEDGED):
        lifecycle.clear(session, case, reason=reason, now=now)


def _raise_if_critical(session: Session, household_id: int, deadline: Deadline, now: datetime) -> None:
    """The ladder's last stage: still nothing long after the alert makes the open case critical."""
    if deadline.critical_after is None or deadline.critical_after > now:
        return
    case = lifecycle.active_case(session, household_id, CaseKind.INACTIVITY)
    if case is None or case.severity.rank >= Severity.CRITICAL.rank:
        return
    lifecycle.raise_severity(session, case, severity=Severity.CRITICAL, reason="still_inactive", now=now)


def _update_watch(
    session: Session,
    watch: Watch,
    *,
    status: WatchStatus | None = None,
    alert_after: datetime | None = None,
    explanation: str | None = None,
    expect_status: WatchStatus | None = None,
) -> bool:
    values: dict[str, object] = {}
    if status is not None:
        values["status"] = status
    if alert_after is not None:
        values["alert_after"] = alert_after
    if explanation is not None:
        values["explanation"] = explanation
    stmt = update(Watch).where(col(Watch.household_id) == watch.household_id)
    if expect_status is not None:
        stmt = stmt.where(col(Watch.status) == expect_status)
    res = session.execute(stmt.values(**values).execution_options(synchronize_session=False))
    if res.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.expire(watch)
    return True
