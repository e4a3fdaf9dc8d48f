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
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, not_, or_, tuple_, update
from sqlalchemy import case as when
from sqlmodel import Session, col, select

from anomaly.deadlines import explain_offline
from anomaly.watch import is_paused
from core.clock import Clock
from core.db import session_scope
from core.enums import ACTIVE_CASE_STATUSES, CaseKind, CaseStatus, DeviceStatus, MonitoringState, Severity
from core.i18n import in_every_language
from core.models import Case, Device, Household
from core.settings import Settings
from notifier import lifecycle
from notifier.opening import Opening, open_many
from notifier.policy import DEFAULT_POLICY, snapshot_for_household, snapshots_for_households

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


# Households checked (their cases opened or cleared) per transaction, and devices marked offline
# per statement: one round trip for many, still short transactions (issue 15).
BATCH = 200
MARK_BATCH = 500

CLEAR_REASON = "device_back_online"  # a device_offline case's: a plug of the household is heard again


def tick(engine: Engine, clock: Clock, settings: Settings) -> ConnectivityResult:
    """Set-based: a few queries find the devices that fall silent and the households whose
    ``device_offline`` case should open or clear; only those are touched (issue 15.2: a loop over
    every household cost 1.6–1.8 ms each, 166 s per 30 s tick at 100k households). Those are
    checked :data:`BATCH` to a transaction (:func:`check_households`); a batch that fails is rolled
    back and its households checked one by one, each in its own transaction."""
    now = clock.now()
    result = ConnectivityResult()
    with session_scope(engine) as session:
        result.went_silent = mark_silent_devices(session, now, settings)
    with session_scope(engine) as session:
        household_ids = households_to_check(session, now)
    for i in range(0, len(household_ids), BATCH):
        chunk = household_ids[i : i + BATCH]
        part = ConnectivityResult()
        try:
            with session_scope(engine) as session:
                done = check_households(session, chunk, now, part)
        except Exception:
            log.exception("connectivity check failed for %d households; checking them one by one", len(chunk))
            part = ConnectivityResult()
            for household_id in chunk:
                try:
                    with session_scope(engine) as session:
                        check_household(session, household_id, now, part)
                except Exception:  # one bad household must not stop the sweep for the others
                    log.exception("connectivity check failed for household id %s", household_id)
        else:
            for message, *args in done:  # after the commit: a batch that failed said nothing
                log.info(message, *args)
        result.opened += part.opened
        result.cleared += part.cleared
    if result.went_silent or result.opened or result.cleared:
        log.info(
            "connectivity: silent=%d opened=%d cleared=%d", result.went_silent, result.opened, result.cleared
        )
    return result


def households_to_check(session: Session, now: datetime) -> list[int]:
    """The households :func:`check_household` would act on, and no others (two set queries).

    To open: every assigned plug offline, no active ``device_offline`` case, not paused. To clear:
    an open case, or an acknowledged one whose plug's return is not noted yet (:func:`_to_clear`),
    and some assigned plug not offline. Households without an assigned plug are
    never checked (as before). ``check_household`` decides again inside its own transaction.
    """
    assigned = (col(Device.household_id).is_not(None), Device.status == DeviceStatus.ASSIGNED)
    offline = col(Device.online).is_(False)
    active_case = (
        select(Case.household_id)
        .where(Case.kind == CaseKind.DEVICE_OFFLINE, col(Case.status).in_(ACTIVE_CASE_STATUSES))
        .scalar_subquery()
    )
    paused = and_(
        col(Household.monitoring) == MonitoringState.PAUSED,
        or_(col(Household.paused_until).is_(None), col(Household.paused_until) > now),
    )
    # Only households with an offline plug can be all offline.
    with_offline = select(Device.household_id).where(*assigned, offline).scalar_subquery()
    to_open = session.exec(
        select(Device.household_id)
        .join(Household, col(Household.id) == Device.household_id)
        .where(
            *assigned,
            col(Device.household_id).in_(with_offline),
            col(Device.household_id).not_in(active_case),
            not_(paused),
        )
        .group_by(col(Device.household_id))
        .having(func.count() == func.sum(when((offline, 1), else_=0)))
    ).all()
    to_be_cleared = (
        select(Case.household_id)
        .where(
            Case.kind == CaseKind.DEVICE_OFFLINE,
            or_(
                col(Case.status) == CaseStatus.OPEN,
                and_(col(Case.status) == CaseStatus.ACKNOWLEDGED, col(Case.cleared_at).is_(None)),
            ),
        )
        .scalar_subquery()
    )
    to_clear = session.exec(
        select(Device.household_id)
        .where(*assigned, col(Device.household_id).in_(to_be_cleared), col(Device.online).is_not(False))
        .distinct()
    ).all()
    return sorted({h for h in (*to_open, *to_clear) if h is not None})


def mark_silent_devices(session: Session, now: datetime, settings: Settings) -> int:
    """Mark devices silent past their limit offline; returns how many.

    Every limit is at least ``offline_min_silence_s``, so only devices quiet that long are read
    (the rest, nearly all of them, stay in the database); each is judged by :func:`is_silent`.
    """
    quiet_since = now - timedelta(seconds=settings.offline_min_silence_s)
    candidates = session.exec(
        select(Device).where(
            col(Device.online).is_not(False),
            col(Device.last_seen_at).is_not(None),
            col(Device.last_seen_at) < quiet_since,
            Device.status != DeviceStatus.RETIRED,
        )
    ).all()
    return mark_offline(session, [d for d in candidates if is_silent(d, now, settings)])


def mark_offline(session: Session, devices: Sequence[Device]) -> int:
    """Mark ``devices`` offline, each only if nothing arrived since it was read (a message
    committed meanwhile wins): one conditional UPDATE per :data:`MARK_BATCH` devices."""
    marked = 0
    for i in range(0, len(devices), MARK_BATCH):
        seen = {d.id: d for d in devices[i : i + MARK_BATCH]}
        won = session.execute(
            update(Device)
            .where(
                tuple_(col(Device.id), col(Device.last_seen_at)).in_(
                    [(d.id, d.last_seen_at) for d in seen.values()]
                )
            )
            .values(online=False)
            .returning(col(Device.id))
            .execution_options(synchronize_session=False)
        ).scalars()
        for device_id in sorted(won):
            device = seen[device_id]
            marked += 1
            log.info(
                "device %s:%s silent since %s: offline",
                device.vendor.value,
                device.external_id,
                device.last_seen_at,
            )
    return marked


@dataclass(frozen=True, slots=True)
class Open:
    """Open a ``device_offline`` case: every plug is offline, the last one heard at ``since``."""

    since: datetime


@dataclass(frozen=True, slots=True)
class Clear:
    """Clear the household's ``device_offline`` case: a plug is back."""

    case: Case


def decide(
    household: Household, plugs: Sequence[Device], case: Case | None, now: datetime
) -> Open | Clear | None:
    """The connectivity rule for one household, pure (its assigned plugs, its active
    ``device_offline`` case if any): every plug offline, no case and not away → open, offline since
    the last plug was heard (now if none ever was); a plug back and the case open or acknowledged →
    clear. :func:`check_household` and the batched :func:`check_households` both act on it."""
    all_offline = bool(plugs) and all(d.online is False for d in plugs)
    if all_offline and case is None and not is_paused(household, now):
        seen = [d.last_seen_at for d in plugs if d.last_seen_at is not None]
        return Open(since=max(seen) if seen else now)
    if not all_offline and case is not None and _to_clear(case.status, case.cleared_at):
        return Clear(case=case)
    return None


def _to_clear(status: CaseStatus, cleared_at: datetime | None) -> bool:
    """An open case is cleared; an acknowledged one stays with the person who took it and has the
    plug's return noted once (noted on every tick before: an event each 30 s until resolved)."""
    return status == CaseStatus.OPEN or (status == CaseStatus.ACKNOWLEDGED and cleared_at is None)


def check_household(session: Session, household_id: int, now: datetime, result: ConnectivityResult) -> None:
    household = session.get(Household, household_id)
    if household is None:
        return
    plugs = session.exec(
        select(Device).where(Device.household_id == household_id, Device.status == DeviceStatus.ASSIGNED)
    ).all()
    decision = decide(
        household, plugs, lifecycle.active_case(session, household_id, CaseKind.DEVICE_OFFLINE), now
    )
    if isinstance(decision, Open):
        policy = snapshot_for_household(session, household_id)
        opening = _opening(household_id, household, decision.since, policy)
        case, opened = lifecycle.open_or_redetect(session, **opening.arguments(), now=now)
        result.opened += 1
        log.info(*_opened_line(case, opened, household))
    elif isinstance(decision, Clear):
        log.info(*_clear(session, decision.case, household, now, result))


def offline_explanation(since: datetime, timezone: str) -> dict[str, str]:
    return in_every_language(lambda language: explain_offline(int(since.timestamp()), timezone, language))


def check_households(
    session: Session, household_ids: Sequence[int], now: datetime, result: ConnectivityResult
) -> list[tuple[object, ...]]:
    """:func:`check_household` for many households in one transaction: their rows read in four
    queries, the cases to open opened together (:func:`notifier.opening.open_many`), the ones to
    clear cleared through the lifecycle. Returns the log lines to write once it is committed."""
    households = {
        h.id: h for h in session.exec(select(Household).where(col(Household.id).in_(household_ids))).all()
    }
    plugs: dict[int, list[Device]] = defaultdict(list)
    for device in session.exec(
        select(Device).where(
            col(Device.household_id).in_(household_ids), Device.status == DeviceStatus.ASSIGNED
        )
    ).all():
        assert device.household_id is not None
        plugs[device.household_id].append(device)
    cases = lifecycle.active_cases(session, household_ids, CaseKind.DEVICE_OFFLINE)
    lines: list[tuple[object, ...]] = []
    to_open: list[tuple[int, Household, datetime]] = []
    to_clear: list[tuple[Case, Household]] = []
    for household_id in household_ids:
        household = households.get(household_id)
        if household is None:
            continue
        decision = decide(household, plugs.get(household_id, []), cases.get(household_id), now)
        if isinstance(decision, Open):
            to_open.append((household_id, household, decision.since))
        elif isinstance(decision, Clear):
            to_clear.append((decision.case, household))
    # A conflict (someone acknowledged a case meanwhile) fails the batch: redone one by one.
    lifecycle.clear_many(session, [case for case, _ in to_clear], reason=CLEAR_REASON, now=now)
    result.cleared += len(to_clear)
    lines.extend(_cleared_line(case, household) for case, household in to_clear)
    policies = snapshots_for_households(session, [household_id for household_id, _, _ in to_open])
    openings = [
        _opening(household_id, household, since, policies.get(household_id) or DEFAULT_POLICY.snapshot())
        for household_id, household, since in to_open
    ]
    for (_, household, _), (case, opened) in zip(to_open, open_many(session, openings, now=now), strict=True):
        result.opened += 1
        lines.append(_opened_line(case, opened, household))
    return lines


def _opening(household_id: int, household: Household, since: datetime, policy: dict[str, Any]) -> Opening:
    """The household's ``device_offline`` case, offline since ``since``, under ``policy``."""
    return Opening(
        household_id=household_id,
        kind=CaseKind.DEVICE_OFFLINE,
        severity=Severity.WARNING,
        explanation=offline_explanation(since, household.timezone),
        policy_snapshot=policy,
    )


def _clear(
    session: Session, case: Case, household: Household, now: datetime, result: ConnectivityResult
) -> tuple[object, ...]:
    """Clear the case through the lifecycle; the log line to write for it."""
    lifecycle.clear(session, case, reason=CLEAR_REASON, now=now)
    result.cleared += 1
    return _cleared_line(case, household)


def _cleared_line(case: Case, household: Household) -> tuple[object, ...]:
    return ("device_offline case %s cleared for household %s: a plug is back", case.id, household.code)


def _opened_line(case: Case, opened: bool, household: Household) -> tuple[object, ...]:
    return (
        "device_offline case %s %s for household %s",
        case.id,
        "opened" if opened else "re-detected",
        household.code,
    )
