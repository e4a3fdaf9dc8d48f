"""Family status links, for the household page: make one for a contact, list them, revoke one.

A link's URL is shown once, when it is made; afterwards only its row (who made it, when it
expires, when it was last opened, whether it was revoked). Every action here is audited against
the household, naming the link.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, status
from sqlalchemy import func
from sqlmodel import Session, col, select

from api import audit
from api.deps import ClockDep, ManagerUser, SessionDep, SettingsDep
from api.errors import ErrorCode, error_response, not_found, unprocessable
from api.household_queries import get_visible_household
from api.routes.pagination import DEFAULT_LIMIT, Limit, Offset, PathId
from api.routes.status_page import STATUS_PATH
from api.schemas import StatusLinkIn, StatusLinkItem, StatusLinkOut, StatusLinkPage
from api.status_links import new_token
from core.enums import AuditAction, AuditObject
from core.models import Contact, StatusLink, User

router = APIRouter(tags=["households"])
HOUSEHOLD_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: error_response("no such household, or not one you may see")
}


@router.post(
    "/households/{household_id}/status-links",
    response_model=StatusLinkOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        **HOUSEHOLD_NOT_FOUND,
        422: {"description": "the contact is not one of this household's, or opted out"},
    },
)
def create_status_link(
    household_id: PathId,
    body: StatusLinkIn,
    request: Request,
    session: SessionDep,
    user: ManagerUser,
    clock: ClockDep,
    settings: SettingsDep,
) -> StatusLinkOut:
    """A link to the family status page for one contact, working for ``days`` days or until revoked."""
    _visible_household(session, user, household_id)
    contact = session.get(Contact, body.contact_id)
    if contact is None or contact.household_id != household_id:
        raise unprocessable(
            "no such contact in this household", "body", "contact_id", code=ErrorCode.NO_SUCH_CONTACT
        )
    if contact.opted_out:
        raise unprocessable(
            "this contact has opted out", "body", "contact_id", code=ErrorCode.CONTACT_OPTED_OUT
        )
    assert user.id is not None
    now = clock.now()
    token, token_hash = new_token()
    link = StatusLink(
        token_hash=token_hash,
        household_id=household_id,
        contact_id=body.contact_id,
        created_by=user.id,
        created_at=now,
        expires_at=(now + timedelta(days=body.days)).replace(microsecond=0),
    )
    session.add(link)
    session.flush()
    assert link.id is not None
    audit.record(
        session,
        request,
        user,
        AuditAction.CREATE_STATUS_LINK,
        AuditObject.HOUSEHOLD,
        household_id,
        now=now,
        status_link_id=link.id,
    )
    url = f"{settings.effective_public_base_url}{STATUS_PATH}/{token}"
    return StatusLinkOut(id=link.id, url=url, expires_at=link.expires_at)


@router.get(
    "/households/{household_id}/status-links", response_model=StatusLinkPage, responses=HOUSEHOLD_NOT_FOUND
)
def list_status_links(
    household_id: PathId,
    request: Request,
    session: SessionDep,
    user: ManagerUser,
    clock: ClockDep,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> StatusLinkPage:
    """The household's links, newest first: when each was made, expires and was last opened."""
    _visible_household(session, user, household_id)
    now = clock.now()
    where = col(StatusLink.household_id) == household_id
    total = session.exec(select(func.count()).select_from(StatusLink).where(where)).one()
    rows = session.exec(
        select(StatusLink).where(where).order_by(col(StatusLink.id).desc()).limit(limit).offset(offset)
    ).all()
    # When a family member last looked is about the household: reading it is a view.
    audit.record_view_part(session, request, user, AuditObject.HOUSEHOLD, household_id, now=now)
    return StatusLinkPage(
        items=[_item(link, now) for link in rows], total=int(total), limit=limit, offset=offset
    )


@router.post(
    "/status-links/{status_link_id}/revoke",
    response_model=StatusLinkItem,
    responses={404: error_response("no such status link, or not one you may see")},
)
def revoke_status_link(
    status_link_id: PathId, request: Request, session: SessionDep, user: ManagerUser, clock: ClockDep
) -> StatusLinkItem:
    """The link stops working at once; revoking it again changes (and records) nothing."""
    link = session.get(StatusLink, status_link_id)
    if link is None or get_visible_household(session, user, link.household_id) is None:
        raise not_found(ErrorCode.STATUS_LINK_NOT_FOUND, "status link")
    now = clock.now()
    if link.revoked_at is None:
        link.revoked_at = now
        session.add(link)
        audit.record(
            session,
            request,
            user,
            AuditAction.REVOKE_STATUS_LINK,
            AuditObject.HOUSEHOLD,
            link.household_id,
            now=now,
            status_link_id=status_link_id,
        )
    return _item(link, now)


def _item(link: StatusLink, now: datetime) -> StatusLinkItem:
    assert link.id is not None
    return StatusLinkItem(
        id=link.id,
        contact_id=link.contact_id,
        created_by=link.created_by,
        created_at=link.created_at,
        expires_at=link.expires_at,
        revoked_at=link.revoked_at,
        last_used_at=link.last_used_at,
        working=link.revoked_at is None and link.expires_at > now,
    )


def _visible_household(session: Session, user: User, household_id: int) -> None:
    if get_visible_household(session, user, household_id) is None:
        raise not_found(ErrorCode.HOUSEHOLD_NOT_FOUND, "household")
