"""Read side of the household page: one household with its people, devices, cases and activity."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from anomaly.household_state import load_routine
from anomaly.patterns import NOTE_KINDS, looks_away_for
from anomaly.routine import FitParams
from anomaly.watch import EXPLANATION_LANGUAGE, current_deadline, current_stage
from api.activity import average_week, hour_of_week_counts
from api.queries import visible_households
from api.schemas import (
    ActivityHeatmap,
    CaseHistoryItem,
    ContactOut,
    DeviceOut,
    HouseholdDetail,
    LooksAwaySuggestion,
    ResidentOut,
    RoutineSummary,
    StaffNote,
)
from core.enums import (
    ACTIVE_CASE_STATUSES,
    CaseEventType,
    CaseKind,
    EdgeKind,
    Language,
    Severity,
    WatchStatus,
)
from core.i18n import in_every_language
from core.models import ActivityEdge, Case, CaseEvent, Contact, Device, Household, Resident, User, Watch
from core.settings import Settings

CASE_HISTORY_LIMIT = 50
ROUTINE_WEEKS = 4


def get_visible_household(session: Session, user: User, household_id: int) -> Household | None:
    stmt = select(Household).where(col(Household.id) == household_id).where(visible_households(user))
    return session.exec(stmt).first()


def insert_household(
    session: Session,
    *,
    team_id: int,
    code: str,
    address: str,
    timezone: str,
    quiet_hours: float | None,
    resident: dict[str, Any] | None,
    now: datetime,
) -> Household:
    """Add a household (and its resident): one path for the form and the CSV import."""
    household = Household(
        team_id=team_id,
        code=code,
        address=address,
        timezone=timezone,
        quiet_hours=quiet_hours,
        created_at=now,
    )
    session.add(household)
    session.flush()
    assert household.id is not None
    if resident is not None:
        session.add(Resident(household_id=household.id, **resident))
        session.flush()
    return household


def _watch_explanations(
    session: Session, watch: Watch | None, household: Household, settings: Settings | None
) -> dict[str, str] | None:
    """The watch's "why" in every language. It is stored in Korean only (the gateway writes it
    with every reading, where a second language would cost every message), so the others are
    worked out again from the same sign of life when the page is read."""
    if watch is None or not watch.explanation or settings is None:
        return None
    stored = watch.explanation
    again = current_deadline(session, watch, household, settings)  # once, for every other language

    def render(language: Language) -> str:
        if language == EXPLANATION_LANGUAGE or again is None:
            return stored
        return again.explain_in(language)

    return in_every_language(render)


def _with_raised_case(
    session: Session, stage: tuple[Severity, datetime] | None, cases: Sequence[Case]
) -> tuple[Severity, datetime] | None:
    """An overdue household is at the ladder's alert stage, but its inactivity case may have been
    raised to critical since: the page then names the case's severity, as the queue does (the
    household page said 경보 where the queue said 긴급 for the same case)."""
    active = next(
        (c for c in cases if c.kind == CaseKind.INACTIVITY and c.status in ACTIVE_CASE_STATUSES), None
    )
    if stage is None or active is None or active.severity.rank <= stage[0].rank:
        return stage
    raised = session.exec(
        select(CaseEvent.at)
        .where(col(CaseEvent.case_id) == active.id, col(CaseEvent.type) == CaseEventType.SEVERITY_RAISED)
        .order_by(col(CaseEvent.at).desc())
        .limit(1)
    ).first()
    return active.severity, raised or active.opened_at


def household_detail(
    session: Session, household: Household, *, now: datetime | None = None, settings: Settings | None = None
) -> HouseholdDetail:
    """With ``now``, also the "looks away" suggestion (computed from the last day's readings) and
    the severity ladder's stage now; with ``settings``, the watch's explanation in every language."""
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
    notes = session.exec(
        select(Case)
        .where(col(Case.household_id) == household_id)
        .where(col(Case.kind).in_(NOTE_KINDS))
        .where(col(Case.status).in_(ACTIVE_CASE_STATUSES))
        .order_by(col(Case.opened_at).desc(), col(Case.id).desc())
    ).all()
    away = looks_away_for(session, household, now) if now is not None else None
    stage = current_stage(session, watch, household, now) if now is not None else None
    if watch is not None and watch.status == WatchStatus.OVERDUE:
        stage = _with_raised_case(session, stage, cases)
    return HouseholdDetail(
        id=household_id,
        code=household.code,
        timezone=household.timezone,
        team_id=household.team_id,
        address=household.address,
        resident_names=[r.name for r in residents if r.erased_at is None],
        monitoring=household.monitoring,
        paused_until=household.paused_until,
        erased_at=household.erased_at,
        quiet_hours=household.quiet_hours,
        watch_status=watch.status if watch else None,
        last_activity_at=watch.last_activity_at if watch else None,
        alert_after=watch.alert_after if watch else None,
        watch_explanation=watch.explanation if watch else "",
        watch_explanation_texts=_watch_explanations(session, watch, household, settings),
        stage=stage[0] if stage else None,
        stage_since=stage[1] if stage else None,
        open_cases=open_cases,
        residents=[ResidentOut.model_validate(r) for r in residents],
        contacts=[ContactOut.model_validate(c) for c in contacts],
        devices=[DeviceOut.model_validate(d) for d in devices],
        cases=[CaseHistoryItem.model_validate(c) for c in cases],
        notes=[
            StaffNote(
                case_id=_id(c.id),
                kind=c.kind,
                severity=c.severity,
                status=c.status,
                opened_at=c.opened_at,
                explanation=c.explanation,
                explanation_texts=c.explanation_texts,
            )
            for c in notes
        ],
        routine=routine_summary(session, household_id),
        looks_away=(
            LooksAwaySuggestion(since=away.since, peak_w=away.peak_w, base_w=away.base_w) if away else None
        ),
    )


def routine_summary(session: Session, household_id: int) -> RoutineSummary:
    needed = FitParams().min_days
    routine = load_routine(session, household_id)
    if routine is None:
        return RoutineSummary(
            learned=False,
            days_needed=needed,
            days_used=0,
            fitted_at=None,
            latest_usual_start=None,
            confirmed_false_alarms=0,
        )
    latest = routine.first_activity_latest_min
    return RoutineSummary(
        learned=True,
        days_needed=needed,
        days_used=routine.days_used,
        fitted_at=datetime.fromtimestamp(routine.fitted_at, UTC),
        latest_usual_start=None if latest is None else f"{latest // 60 % 24:02d}:{latest % 60:02d}",
        confirmed_false_alarms=routine.confirmed_false_alarms,
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
    # The 30-day view's usual week needs 58 days of history, and was blank with no word why.
    first = session.exec(
        select(func.min(ActivityEdge.ts))
        .where(col(ActivityEdge.household_id) == household_id)
        .where(col(ActivityEdge.kind) == EdgeKind.ON)
    ).one()
    return ActivityHeatmap(
        routine_since=routine_since,
        history_since=first,
        routine_complete=first is not None and first <= routine_since,
        routine_full_from=None if first is None else first + timedelta(days=days, weeks=ROUTINE_WEEKS),
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
