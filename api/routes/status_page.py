"""The family status page: what a family member should see, behind a signed, expiring link.

Only this: whether the household shows its usual signs of life, whether something is being
checked and whether a person has taken it on, monitoring paused, and roughly when the last
sign of life was (to the hour). No names, numbers, transcripts, devices or other contacts.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlmodel import Session, col, select

from api.deps import ClockDep, SessionDep, SettingsDep
from api.routes.dashboard import MESSAGES, page_language
from api.status_links import MAX_TOKEN_LENGTH, InvalidStatusLink, read_status_token
from core.enums import ACTIVE_CASE_STATUSES, CaseStatus, Language, MonitoringState
from core.models import Case, Contact, Household, Watch

log = logging.getLogger(__name__)
router = APIRouter(tags=["status"], include_in_schema=False)
STATUS_PATH = "/status"


def about_when(ts: datetime, timezone: str, language: Language) -> str:
    """A coarse local time ("3월 2일 7시경" / "2 Mar, around 07:00"): enough to reassure, no more."""
    local = ts.astimezone(ZoneInfo(timezone))
    if language == Language.KO:
        return f"{local.month}월 {local.day}일 {local.hour}시경"
    return f"{local.day} {local.strftime('%b')}, around {local.hour:02d}:00"


def headline(session: Session, household: Household, now: datetime) -> str:
    """The one message key that sums the household up for a family member."""
    if household.monitoring == MonitoringState.PAUSED and (
        household.paused_until is None or household.paused_until > now
    ):
        return "status.paused"
    statuses = session.exec(
        select(Case.status)
        .where(col(Case.household_id) == household.id)
        .where(col(Case.status).in_(ACTIVE_CASE_STATUSES))
    ).all()
    if CaseStatus.ACKNOWLEDGED in statuses:
        return "status.taken_on"
    if CaseStatus.OPEN in statuses:
        return "status.checking"
    return "status.usual"


@router.get(STATUS_PATH + "/{token}", response_class=HTMLResponse)
def status_page(
    request: Request,
    token: Annotated[str, Path(max_length=MAX_TOKEN_LENGTH)],
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    lang: str | None = None,
) -> HTMLResponse:
    now = clock.now()
    language = page_language(lang)
    templates: Jinja2Templates = request.app.state.templates
    t = {key: MESSAGES.text(key, language) for key in MESSAGES.keys(language) if key.startswith("status.")}
    context: dict[str, object] = {"lang": language.value, "t": t, "valid": False}
    household = None
    try:
        claims = read_status_token(token, secret_key=settings.secret_key, now=now)
        contact = session.get(Contact, claims.contact_id)
        if contact is not None and contact.household_id == claims.household_id and not contact.opted_out:
            household = session.get(Household, claims.household_id)
            language = page_language(lang or contact.language.value)
    except InvalidStatusLink as exc:
        log.info("status link refused: %s", exc)
    if household is None:
        return templates.TemplateResponse(request, "status.html", context, status_code=404)
    t = {key: MESSAGES.text(key, language) for key in MESSAGES.keys(language) if key.startswith("status.")}
    watch = session.get(Watch, household.id)
    last = watch.last_activity_at if watch else None
    if watch and watch.last_checkin_at and (last is None or watch.last_checkin_at > last):
        last = watch.last_checkin_at
    context.update(
        lang=language.value,
        t=t,
        valid=True,
        headline=t[headline(session, household, now)],
        last_sign=about_when(last, household.timezone, language) if last else None,
        paused_until=(
            about_when(household.paused_until, household.timezone, language)
            if household.monitoring == MonitoringState.PAUSED and household.paused_until
            else None
        ),
        expires=about_when(claims.expires_at, household.timezone, language),
    )
    log.info("status page viewed household=%s contact_id=%s", household.code, claims.contact_id)
    return templates.TemplateResponse(request, "status.html", context)
