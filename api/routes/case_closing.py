"""Closing a case truthfully (issue 17, item 2): what the family will be told for each outcome,
before it is sent, and the households still quiet after their case was closed.

Neither is audited: the preview is a message template filled with the household code (what the
case page already shows) and a head count; the quiet list names households, as the queue does.
"""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import Session, col, select

from api.deps import ClockDep, ManagerUser, SessionDep, StaffUser
from api.errors import ErrorCode, error_response, not_found
from api.queries import get_visible_case, visible_households
from api.routes.pagination import PathId
from api.schemas import ClosurePreviewOut, QuietAfterClosingList, QuietAfterClosingOut
from core.enums import (
    ACTIVE_CASE_STATUSES,
    CaseStatus,
    MonitoringState,
    RecipientKind,
    ResolutionCode,
    WatchStatus,
)
from core.models import Case, Contact, Household, Watch
from notifier.closures import already_told, outcome_purpose
from notifier.templates import sms_body, template_for
from notifier.whom import caseworker_phone

router = APIRouter(tags=["cases"])


@router.get(
    "/cases/{case_id}/closure-preview",
    response_model=ClosurePreviewOut,
    responses={404: error_response("no such case, or not one you may see")},
)
def closure_preview(
    case_id: PathId, code: ResolutionCode, session: SessionDep, user: ManagerUser
) -> ClosurePreviewOut:
    """The text the family members already told about the case would get if it were resolved
    with ``code`` now, in the language of the first of them, and how many would get it (0: no
    family was told, so nobody is texted). Rendered by the same function the outbox uses."""
    found = get_visible_case(session, user, case_id)
    if found is None:
        raise not_found(ErrorCode.CASE_NOT_FOUND, "case")
    case, household = found
    family = [r for r in already_told(session, case_id) if r.kind == RecipientKind.CONTACT]
    if not family:
        return ClosurePreviewOut(code=code, family_told=0, language=None, message=None)
    template = template_for("family", outcome_purpose(code))
    first = session.get(Contact, family[0].id)
    message = sms_body(
        template,
        family[0].language,
        household_code=household.code,
        case=case,
        call=caseworker_phone(session, case),
        name=first.address_as if first is not None else "",
    )
    return ClosurePreviewOut(code=code, family_told=len(family), language=family[0].language, message=message)


@router.get("/quiet-after-closing", response_model=QuietAfterClosingList)
def quiet_after_closing(session: SessionDep, user: StaffUser, clock: ClockDep) -> QuietAfterClosingList:
    """Households whose watch is overdue (longer than their usual quiet) with no case open, as
    after a case was closed while she was still silent: the sweeper does not open another case
    until a sign of life resets the watch, so without this list they would drop out of sight.
    Monitored households only (a paused one is meant to be quiet); longest-silent first."""
    now = clock.now()
    active = select(Case.household_id).where(col(Case.status).in_(ACTIVE_CASE_STATUSES))
    rows = session.exec(
        select(Household, Watch)
        .join(Watch, col(Watch.household_id) == col(Household.id))
        .where(
            visible_households(user),
            col(Watch.status) == WatchStatus.OVERDUE,
            col(Household.monitoring) == MonitoringState.ACTIVE,
            col(Household.id).not_in(active),
        )
    ).all()
    items = [_quiet_item(session, household, watch) for household, watch in rows]
    items.sort(key=lambda i: (i.last_sign_at is not None, i.last_sign_at or now))
    return QuietAfterClosingList(items=items)


def _quiet_item(session: Session, household: Household, watch: Watch) -> QuietAfterClosingOut:
    assert household.id is not None
    closed = session.exec(
        select(Case)
        .where(
            col(Case.household_id) == household.id,
            col(Case.status).in_((CaseStatus.RESOLVED, CaseStatus.CLEARED)),
        )
        .order_by(col(Case.id).desc())
    ).first()
    signs = [t for t in (watch.last_activity_at, watch.last_checkin_at) if t is not None]
    return QuietAfterClosingOut(
        household_id=household.id,
        household_code=household.code,
        household_timezone=household.timezone,
        last_sign_at=max(signs) if signs else None,
        case_id=closed.id if closed else None,
        closed_at=(closed.resolved_at or closed.cleared_at) if closed else None,
        resolution_code=closed.resolution_code if closed else None,
    )
