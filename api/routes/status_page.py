"""The family status page: what a family member should see, behind a random, revocable link.

Only this: the headline :mod:`api.family_status` picks (never "as usual" unless it is true),
roughly when the last sign of life was (to the hour), when the page was made, and the
caseworker's number when a person has to explain. No resident's name, transcripts, devices or
other contacts, and never that monitoring is paused (away): whoever holds a link (a forwarded
text, a shared phone) must not learn that nobody is home, or until when, so a pause shows a
neutral line and no times at all (docs/security.md, "Family status links").
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api import audit
from api.deps import ClockDep, EngineDep
from api.family_status import NEUTRAL, family_view
from api.routes.dashboard import MESSAGES, page_language
from api.status_links import MAX_TOKEN_LENGTH, working_link
from core.db import session_scope
from core.enums import AuditAction, AuditObject, Language
from core.localtime import format_local
from core.models import Household

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


def _texts(language: Language) -> dict[str, str]:
    return {key: MESSAGES.text(key, language) for key in MESSAGES.keys(language) if key.startswith("status.")}


@router.get(STATUS_PATH + "/{token}", response_class=HTMLResponse)
def status_page(
    request: Request,
    token: Annotated[str, Path(max_length=MAX_TOKEN_LENGTH)],
    engine: EngineDep,
    clock: ClockDep,
    lang: str | None = None,
) -> HTMLResponse:
    now = clock.now()
    templates: Jinja2Templates = request.app.state.templates
    # Its own transaction: a view stamps the link's last use and is audited (a GET's request
    # session would roll the stamp back).
    with session_scope(engine) as session:
        found = working_link(session, token, now)
        household = session.get(Household, found[0].household_id) if found else None
        if found is None or household is None:
            language = page_language(lang)
            invalid: dict[str, object] = {"lang": language.value, "t": _texts(language), "valid": False}
            return templates.TemplateResponse(request, "status.html", invalid, status_code=404)
        link, contact = found
        language = page_language(lang or contact.language.value)
        t = _texts(language)
        view = family_view(session, household, now)
        neutral = view.key == NEUTRAL  # away: no times at all (the last one would date the absence)
        context: dict[str, object] = {
            "lang": language.value,
            "t": t,
            "valid": True,
            "headline": t[view.key].replace(
                "%when%", about_when(view.checked_at, household.timezone, language) if view.checked_at else ""
            ),
            "call": view.call,
            "updated": about_now(now, household.timezone, language),
            "show_last_sign": not neutral,
            "last_sign": (
                about_when(view.last_sign, household.timezone, language)
                if view.last_sign and not neutral
                else None
            ),
            "expires": about_when(link.expires_at, household.timezone, language),
        }
        link.last_used_at = now
        session.add(link)
        session.add(
            audit.entry(
                request,
                None,
                AuditAction.VIEW_STATUS_PAGE,
                AuditObject.HOUSEHOLD,
                household.id,
                now=now,
                status_link_id=link.id,
            )
        )
    log.info("status page viewed household_id=%s status_link_id=%s", household.id, link.id)
    return templates.TemplateResponse(request, "status.html", context)
