"""The caseworker's dashboard: one server-rendered page; the queue itself is loaded by fetch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates

from anomaly.deadlines import known_appliances
from core.enums import AuditAction, AuditObject, CaseKind, Language, ResolutionCode, Severity
from core.i18n import DEFAULT_LANGUAGE, Catalogue

MESSAGES = Catalogue(Path(__file__).parent.parent / "messages")
FAVICON = Path(__file__).parent.parent / "static" / "favicon.svg"

router = APIRouter(tags=["dashboard"], include_in_schema=False)


def page_language(lang: str | None) -> Language:
    """``?lang=en`` switches; anything unknown falls back to Korean rather than failing the page."""
    try:
        return Language(lang) if lang else DEFAULT_LANGUAGE
    except ValueError:
        return DEFAULT_LANGUAGE


def page_messages(language: Language) -> dict[str, str]:
    """The dashboard catalogue, plus the appliance names the detector's explanations use (one
    catalogue for them: anomaly/messages), as ``appliance.<label>``."""
    messages = {key: MESSAGES.text(key, language) for key in sorted(MESSAGES.keys(language))}
    messages.update({f"appliance.{label}": name for label, name in known_appliances(language).items()})
    return messages


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, lang: Annotated[str | None, Query(max_length=8)] = None) -> HTMLResponse:
    language = page_language(lang)
    other = Language.EN if language == Language.KO else Language.KO
    messages = page_messages(language)
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        "dashboard.html",
        {
            "lang": language.value,
            "other_lang": other.value,
            "t": messages,
            "severities": [s.value for s in Severity],
            "kinds": [k.value for k in CaseKind],
            "appliances": known_appliances(language),
            "audit_actions": [a.value for a in AuditAction],
            "audit_objects": [o.value for o in AuditObject],
            "resolution_codes": [
                (code.value, messages[f"resolution.{code.value}"]) for code in ResolutionCode
            ],
        },
    )


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """The pages link ``/static/favicon.svg``; browsers and tools that ask for the traditional path
    anyway get the same icon instead of a 404 in every log (modern browsers accept an SVG there)."""
    return FileResponse(
        FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
    )
