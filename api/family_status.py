"""What the family status page may truthfully say about a household (issue 17, item 1).

The page once said "living as usual" beside a last sign of life 12 h old, after a case was
resolved as "in hospital". The rules, first match wins:

1. a case is being worked: "a caseworker is on it" / "something is being checked";
2. a person closed a case after the last sign of life: the outcome speaks (hospital → "in
   hospital", fine or a false alarm → "checked at … — no sign of life since", anything else →
   "the caseworker will explain"), with the caseworker's number where a person must explain;
3. monitoring paused: a neutral "no news to share" (:data:`NEUTRAL`) and whom to call, never
   "paused" or "away": whoever holds the link must not learn that the home is empty (issue 13.6);
4. no sign of life yet, or the last one older than the household's usual quiet (its watch is
   overdue): never "as usual" — "longer than usual without a sign of life" and whom to call;
5. otherwise "as usual".

Every headline is a ``status.*`` key of ``api/messages``; this module picks, it never words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from core.enums import ACTIVE_CASE_STATUSES, CaseStatus, MonitoringState, ResolutionCode, WatchStatus
from core.localtime import latest_sign_of_life
from core.models import Case, Household, Watch
from notifier.closures import FINE_RESOLUTIONS
from notifier.whom import caseworker_phone, centre_phone

# What a paused (away) household shows: nothing that says the home is empty, or until when.
NEUTRAL = "status.nothing_to_report"

# A person confirmed the resident was fine (or that nothing was wrong) when they closed the case.
CHECKED_OUTCOMES = FINE_RESOLUTIONS


@dataclass(frozen=True)
class FamilyView:
    key: str  # the headline's message key (status.*)
    last_sign: datetime | None
    checked_at: datetime | None = None  # when a person closed the case the headline is about
    call: str | None = None  # the number to ring about it (the caseworker's), when there is one


def family_view(session: Session, household: Household, now: datetime) -> FamilyView:
    assert household.id is not None
    watch = session.get(Watch, household.id)
    sign = latest_sign_of_life(watch.last_activity_at, watch.last_checkin_at, None) if watch else None
    last = sign.at if sign else None
    cases = session.exec(
        select(Case).where(col(Case.household_id) == household.id).order_by(col(Case.id).desc())
    ).all()
    active = [c for c in cases if c.status in ACTIVE_CASE_STATUSES]
    if active:
        taken = any(c.status == CaseStatus.ACKNOWLEDGED for c in active)
        return FamilyView("status.taken_on" if taken else "status.checking", last)
    closed = _latest_resolution(cases)
    if closed is not None and closed.resolved_at is not None and (last is None or closed.resolved_at > last):
        code = closed.resolution_code
        if code == ResolutionCode.HOSPITAL:
            return FamilyView("status.hospital", last, closed.resolved_at, caseworker_phone(session, closed))
        if code in CHECKED_OUTCOMES and not _paused(household, now):
            return FamilyView("status.checked", last, closed.resolved_at, caseworker_phone(session, closed))
        if code not in CHECKED_OUTCOMES:
            return FamilyView(
                "status.closed_ask", last, closed.resolved_at, caseworker_phone(session, closed)
            )
    phone = caseworker_phone(session, cases[0]) if cases else centre_phone(session, household)
    if _paused(household, now):  # whom to call, but no time that would date an absence
        return FamilyView(NEUTRAL, None, call=phone)
    if last is None:
        return FamilyView("status.no_sign", last, call=phone)
    if watch is not None and _overdue(watch, now):
        return FamilyView("status.quiet", last, call=phone)
    return FamilyView("status.usual", last)


def _latest_resolution(cases: Sequence[Case]) -> Case | None:
    resolved = [c for c in cases if c.status == CaseStatus.RESOLVED and c.resolved_at is not None]
    return max(resolved, key=lambda c: c.resolved_at or c.opened_at, default=None)


def _paused(household: Household, now: datetime) -> bool:
    return household.monitoring == MonitoringState.PAUSED and (
        household.paused_until is None or household.paused_until > now
    )


def _overdue(watch: Watch, now: datetime) -> bool:
    """Past the household's usual quiet: the sweeper's own deadline (which already allows for
    the night, the learned routine and data gaps), whether or not it has run yet."""
    return watch.status == WatchStatus.OVERDUE or (watch.alert_after is not None and watch.alert_after <= now)
