"""Connectivity, kept apart from activity: silent plugs go offline; a household whose plugs are all
offline gets a ``device_offline`` case for staff ("check the plug"), cleared when one is back.

How silent is too silent depends on the plug: a Tasmota plug reports every ``TelePeriod`` (300 s
by default), a Shelly every 30 s. Ingest learns each device's usual gap between messages
(``Device.report_interval_s``, :func:`learn_interval`); a device is silent after
``ANBU_OFFLINE_SILENCE_FACTOR`` of those intervals, never sooner than ``ANBU_OFFLINE_MIN_SILENCE_S``.

The case never rings the resident: the escalation engine treats ``device_offline`` as staff-only.
Every write is a conditional UPDATE or goes through ``notifier.lifecycle``, so a tick racing the
gateway (a plug that speaks again) or another worker does no harm.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from anomaly.deadlines import explain_offline
from anomaly.sweeper import is_paused
from core.clock import Clock
from core.db import claim_row, session_scope
from core.enums import CaseKind, CaseStatus, DeviceStatus, Severity
from core.models import Device, Household
from core.settings import Settings
from notifier import lifecycle
from notifier.policy import snapshot_for_household

log = logging.getLogger(__name__)

# Gaps shorter than this are bursts (several values of one report, PowerDelta while a kettle boils),
# not the rhythm of the device.
MIN_LEARN_GAP_S = 1.0
# Until an interval is learned, gaps up to this long still teach it (TelePeriod may be up to 3600 s).
MAX_FIRST_GAP_S = 2 * 3600.0
# Asymmetric smoothing: follow longer gaps quickly, shorter ones slowly, so the estimate sits near the
# device's regular (periodic) interval rather than its bursts.
RISE, FALL = 0.3, 0.05


def silence_limit(report_interval_s: float | None, settings: Settings) -> timedelta:
    interval = report_interval_s or settings.offline_default_interval_s
    return timedelta(seconds=max(settings.offline_min_silence_s, settings.offline_silence_factor * interval))


def learn_interval(current: float | None, gap_s: float, settings: Settings) -> float | None:
    """Update the usual reporting interval with one observed gap between two messages.

    A gap longer than the device's silence limit was an outage, not its rhythm, and teaches nothing.
    """
    if gap_s < MIN_LEARN_GAP_S:
        return current
    if current is None:
        return gap_s if gap_s <= MAX_FIRST_GAP_S else None
    if gap_s > silence_limit(current, settings).total_seconds():
        return current
    weight = RISE if gap_s > current else FALL
    return current + weight * (gap_s - current)


def is_silent(device: Device, now: datetime, settings: Settings) -> bool:
    if device.last_seen_at is None:
        return False  # never heard: unknown, not silent
    return now - device.last_seen_at > silence_limit(device.report_interval_s, settings)


@dataclass
class ConnectivityResult:
    went_silent: int = 0  # devices marked offline for silence in this tick
    opened: int = 0  # device_offline cases opened (or re-detected)
    cleared: int = 0


def tick(engine: Engine, clock: Clock, settings: Settings) -> ConnectivityResult:
    now = clock.now()
    result = ConnectivityResult()
    with session_scope(engine) as session:
        result.went_silent = mark_silent_devices(session, now, settings)
    with session_scope(engine) as session:
        household_ids = session.exec(
            select(Device.household_id)
            .where(col(Device.household_id).is_not(None), Device.status == DeviceStatus.ASSIGNED)
            .distinct()
        ).all()
    for household_id in household_ids:
        if household_id is None:
            continue
        try:
            with session_scope(engine) as session:
                _check_household(session, household_id, now, result)
        except Exception:  # one bad household must not stop the sweep for the others
            log.exception("connectivity check failed for household id %s", household_id)
    if result.went_silent or result.opened or result.cleared:
        log.info(
            "connectivity: silent=%d opened=%d cleared=%d", result.went_silent, result.opened, result.cleared
        )
    return result


def mark_silent_devices(session: Session, now: datetime, settings: Settings) -> int:
    candidates = session.exec(
        select(Device).where(
            col(Device.online).is_not(False),
            col(Device.last_seen_at).is_not(None),
            Device.status != DeviceStatus.RETIRED,
        )
    ).all()
    marked = 0
    for device in candidates:
        if not is_silent(device, now, settings):
            continue
        # Only if nothing arrived since we looked: a message committed meanwhile wins.
        if claim_row(
            session,
            update(Device)
            .where(col(Device.id) == device.id, col(Device.last_seen_at) == device.last_seen_at)
            .values(online=False),
        ):
            marked += 1
            log.info(
                "device %s:%s silent since %s: offline",
                device.vendor.value,
                device.external_id,
                device.last_seen_at,
            )
    return marked


def _check_household(session: Session, household_id: int, now: datetime, result: ConnectivityResult) -> None:
    household = session.get(Household, household_id)
    if household is None:
        return
    plugs = session.exec(
        select(Device).where(Device.household_id == household_id, Device.status == DeviceStatus.ASSIGNED)
    ).all()
    all_offline = bool(plugs) and all(d.online is False for d in plugs)
    case = lifecycle.active_case(session, household_id, CaseKind.DEVICE_OFFLINE)
    if all_offline and case is None and not is_paused(household, now):
        seen = [d.last_seen_at for d in plugs if d.last_seen_at is not None]
        since = max(seen) if seen else now
        case, opened = lifecycle.open_or_redetect(
            session,
            household_id=household_id,
            kind=CaseKind.DEVICE_OFFLINE,
            severity=Severity.WARNING,
            explanation=explain_offline(int(since.timestamp()), household.timezone),
            policy_snapshot=snapshot_for_household(session, household_id),
            now=now,
        )
        result.opened += 1
        log.info(
            "device_offline case %s %s for household %s",
            case.id,
            "opened" if opened else "re-detected",
            household.code,
        )
    elif not all_offline and case is not None and case.status in (CaseStatus.OPEN, CaseStatus.ACKNOWLEDGED):
        lifecycle.clear(session, case, reason="device_back_online", now=now)
        result.cleared += 1
        log.info("device_offline case %s cleared for household %s: a plug is back", case.id, household.code)
