"""A household's contacts (family, neighbours, carers): add, change, remove."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from sqlmodel import Session

from api import audit
from api.deps import ClockDep, ManagerUser, SessionDep
from api.errors import (
    ErrorCode,
    error_response,
    not_found,
    unprocessable,
)
from api.household_queries import get_visible_household
from api.routes.pagination import PathId
from api.schemas import ContactIn, ContactOut, ContactPatch
from core.enums import AuditAction, AuditObject
from core.models import Contact, User

router = APIRouter(tags=["contacts"])
NOT_FOUND = "contact not found"


def contact_out(c: Contact) -> ContactOut:
    return ContactOut.model_validate(c)


@router.post(
    "/households/{household_id}/contacts",
    response_model=ContactOut,
    status_code=status.HTTP_201_CREATED,
    responses={404: error_response("no such household, or not one you may see")},
)
def add_contact(
    household_id: PathId,
    body: ContactIn,
    request: Request,
    session: SessionDep,
    user: ManagerUser,
    clock: ClockDep,
) -> ContactOut:
    if get_visible_household(session, user, household_id) is None:
        raise not_found(ErrorCode.HOUSEHOLD_NOT_FOUND, "household")
    contact = Contact(household_id=household_id, **body.model_dump())
    session.add(contact)
    session.flush()
    audit.record(
        session, request, user, AuditAction.UPDATE, AuditObject.HOUSEHOLD, household_id, now=clock.now()
    )
    return contact_out(contact)


@router.patch("/contacts/{contact_id}", response_model=ContactOut, responses={404: error_response(NOT_FOUND)})
def change_contact(
    contact_id: PathId,
    body: ContactPatch,
    request: Request,
    session: SessionDep,
    user: ManagerUser,
    clock: ClockDep,
) -> ContactOut:
    contact = _visible_contact(session, user, contact_id)
    changes = body.model_dump(exclude_unset=True)
    nulled = [name for name, value in changes.items() if value is None]
    if nulled:
        raise unprocessable(
            "fields cannot be set to null", "body", nulled[0], code=ErrorCode.FIELD_NOT_NULLABLE
        )
    for name, value in changes.items():
        setattr(contact, name, value)
    session.add(contact)
    audit.record(
        session,
        request,
        user,
        AuditAction.UPDATE,
        AuditObject.HOUSEHOLD,
        contact.household_id,
        now=clock.now(),
    )
    return contact_out(contact)


@router.delete(
    "/contacts/{contact_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: error_response(NOT_FOUND)},
)
def remove_contact(
    contact_id: PathId, request: Request, session: SessionDep, user: ManagerUser, clock: ClockDep
) -> Response:
    """Removing a contact also ends every family status link they hold."""
    contact = _visible_contact(session, user, contact_id)
    household_id = contact.household_id
    session.delete(contact)
    audit.record(
        session, request, user, AuditAction.UPDATE, AuditObject.HOUSEHOLD, household_id, now=clock.now()
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _visible_contact(session: Session, user: User, contact_id: int) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None or get_visible_household(session, user, contact.household_id) is None:
        raise not_found(ErrorCode.CONTACT_NOT_FOUND, "contact")
    return contact
