"""Read side of the household page: one household with its people, devices, cases and activity."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from api.activity import average_week, hour_of_week_counts
from api.queries import visible_households
from api.schemas import (
    ActivityHeatmap,
    CaseHistoryItem,
    ContactOut,
    DeviceOut,
    HouseholdDetail,
    ResidentOut,
)
from core.enums import ACTIVE_CASE_STATUSES, EdgeKind
from core.models import ActivityEdge, Case, Contact, Device, Household, Resident, User, Watch

CASE_HISTORY_LIMIT = 50
ROUTINE_WEEKS = 4


def get_visible_household(session: Session, user: User, household_id: int) -> Household | None:
    stmt = select(Household).where(col(Household.id) == household_id).where(visible_households(user))
    return session.exec(stmt).first()


def household_detail(session: Session, household: Household) -> HouseholdDetail:
    household_id = _id(household.id)
    watch = session.get(Watch, household_id)
    residents = session.exec(
        select(Resident).where(col(Resident.household_id) == household_id).order_by(col(Resident.id))
    ).all()
    contacts = session.exec(
        select(Contact)
        .where(col(Contact.household_id) == household_id)
        .order_by(col(Contact.tier), col(Contact.id))
    ).all()
    devices = session.exec(
        select(Device).where(col(Device.household_id) == household_id).order_by(col(Device.id))
    ).all()
    cases = session.exec(
        select(Case)
        .where(col(Case.household_id) == household_id)
        .order_by(col(Case.opened_at).desc(), col(Case.id).desc())
        .limit(CASE_HISTORY_LIMIT)
    ).all()
    open_cases = sum(1 for c in cases if c.status in ACTIVE_CASE_STATUSES)
    return HouseholdDetail(
        id=household_id,
        code=household.code,
        timezone=household.timezone,
        team_id=household.team_id,
        monitoring=household.monitoring,
        paused_until=household.paused_until,
        quiet_hours=household.quiet_hours,
        watch_status=watch.status if watch else None,
        last_activity_at=watch.last_activity_at if watch else None,
        alert_after=watch.alert_after if watch else None,
        watch_explanation=watch.explanation if watch else "",
        open_cases=open_cases,
        residents=[
            ResidentOut(
                id=_id(r.id), name=r.name, phone=r.phone, language=r.language, birth_year=r.birth_year
            )
            for r in residents
        ],
        contacts=[
            ContactOut(
                id=_id(c.id),
                name=c.name,
                relation=c.relation,
                phone=c.phone,
                tier=c.tier,
                language=c.language,
                preferred_channel=c.preferred_channel,
                opted_out=c.opted_out,
            )
            for c in contacts
        ],
        devices=[
            DeviceOut(
                id=_id(d.id),
                vendor=d.vendor,
                external_id=d.external_id,
                appliance=d.appliance,
                status=d.status,
                online=d.online,
                last_seen_at=d.last_seen_at,
                last_power_w=d.last_power_w,
                last_reading_at=d.last_reading_at,
            )
            for d in devices
        ],
        cases=[
            CaseHistoryItem(
                id=_id(c.id),
                kind=c.kind,
                status=c.status,
                severity=c.severity,
                opened_at=c.opened_at,
                resolved_at=c.resolved_at,
                resolution_code=c.resolution_code,
            )
            for c in cases
        ],
    )


def activity_heatmap(session: Session, household: Household, *, days: int, now: datetime) -> ActivityHeatmap:
    """Switch-on edges of the last *days* days against the average of the 4 weeks before."""
    household_id = _id(household.id)
    since = now - timedelta(days=days)
    routine_since = since - timedelta(weeks=ROUTINE_WEEKS)
    stamps = session.exec(
        select(ActivityEdge.ts)
        .where(col(ActivityEdge.household_id) == household_id)
        .where(col(ActivityEdge.kind) == EdgeKind.ON)
        .where(col(ActivityEdge.ts) >= routine_since)
        .where(col(ActivityEdge.ts) < now)
    ).all()
    recent = [ts for ts in stamps if ts >= since]
    before = [ts for ts in stamps if ts < since]
    return ActivityHeatmap(
        timezone=household.timezone,
        days=days,
        since=since,
        until=now,
        recent=hour_of_week_counts(recent, household.timezone),
        routine_weeks=ROUTINE_WEEKS,
        routine=average_week(hour_of_week_counts(before, household.timezone), ROUTINE_WEEKS),
    )


def _id(value: int | None) -> int:
    assert value is not None, "row without id (not flushed?)"
    return value
