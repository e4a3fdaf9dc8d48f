"""The family status page: what a family member should see, behind a signed, expiring link.

Only this: the headline :mod:`api.family_status` picks (never "as usual" unless it is true),
roughly when the last sign of life was (to the hour), when the page was made, and the
caseworker's number when a person has to explain. No resident's name, transcripts, devices or
other contacts.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.deps import ClockDep, SessionDep, SettingsDep
from api.family_status import family_view
from api.routes.dashboard import MESSAGES, page_language
from api.status_links import MAX_TOKEN_LENGTH, InvalidStatusLink, read_status_token
from core.enums import Language, MonitoringState
from core.localtime import format_local
from core.models import Contact, Household

log = logging.getLogger(__name__)
router = APIRouter(tags=["status"], include_in_schema=False)
STATUS_PATH = "/status"


def about_when(ts: datetime, timezone: str, language: Language) -> str:
    """A coarse local time ("3월 2일 7시경" / "2 Mar, around 07:00"): enough to reassure, no more."""
    local = ts.astimezone(ZoneInfo(timezone))
    if language == Language.KO:
        return f"{local.month}월 {local.day}일 {local.hour}시경"
    return f"{local.day} {local.strftime('%b')}, around {local.hour:02d}:00"


def about_now(ts: datetime, timezone: str, language: Language) -> str:
    """When the page was made, to the minute: "updated at" (a page left open is not live)."""
    return format_local(ts, timezone, language)


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
    view = family_view(session, household, now)
    context.update(
        lang=language.value,
        t=t,
        valid=True,
        headline=t[view.key].replace(
            "%when%", about_when(view.checked_at, household.timezone, language) if view.checked_at else ""
        ),
        call=view.call,
        updated=about_now(now, household.timezone, language),
        last_sign=about_when(view.last_sign, household.timezone, language) if view.last_sign else None,
        paused_until=(
            about_when(household.paused_until, household.timezone, language)
            if household.monitoring == MonitoringState.PAUSED and household.paused_until
            else None
        ),
        expires=about_when(claims.expires_at, household.timezone, language),
    )
    log.info("status page viewed household=%s contact_id=%s", household.code, claims.contact_id)
    return templates.TemplateResponse(request, "status.html", context)
