"""Device identities for the dashboard's device management: add (or claim), rotate, revoke (admins).

The same operations as ``anbu devices add|rotate|revoke`` (gateway/auth/credentials.py): the
password is in the response once, with the vendor's setup lines, and only its hash is kept; every
change is audited; with ``ANBU_MQTT_DYNSEC_URL`` Mosquitto is told before the change is committed.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, Field

from api import audit
from api.deps import AdminUser, ClockDep, SessionDep, SettingsDep
from api.errors import ErrorCode, conflict, not_found, unprocessable
from api.routes.pagination import PathId
from core.enums import AuditAction, AuditObject, DeviceVendor
from core.models import MqttCredential
from gateway.auth import credentials
from gateway.auth.live import announce_issued, announce_revoked
from gateway.auth.setup_lines import setup_guide

log = logging.getLogger(__name__)
router = APIRouter(prefix="/devices/identities", tags=["device-identities"])


class IdentityOut(BaseModel):
    id: int
    username: str
    vendor: DeviceVendor
    external_id: str
    device_id: int | None
    issued_at: datetime
    revoked_at: datetime | None


class IdentityList(BaseModel):
    items: list[IdentityOut]
    total: int


class IdentityIn(BaseModel):
    vendor: DeviceVendor
    external_id: str = Field(..., min_length=1, max_length=200, description="the id in the vendor's topics")


class SetupNoteOut(BaseModel):
    code: str = Field(description="the dashboard words it from its catalogue: identity.note.<code>")
    params: dict[str, str]


class SetupOut(BaseModel):
    format: str
    where: str
    lines: list[str] = Field(description="verbatim: what staff paste into the device")
    notes: list[str]
    note_codes: list[SetupNoteOut]


class IssuedOut(BaseModel):
    identity: IdentityOut
    password: str = Field(description="shown once: only a hash is kept")
    claimed: bool
    setup: SetupOut


class RevokedOut(BaseModel):
    identity: IdentityOut
    broker_told: bool
    problem: str | None = None


def _out(row: MqttCredential) -> IdentityOut:
    assert row.id is not None
    return IdentityOut(
        id=row.id,
        username=row.username,
        vendor=row.vendor,
        external_id=row.external_id,
        device_id=row.device_id,
        issued_at=row.issued_at,
        revoked_at=row.revoked_at,
    )


def _get(session: SessionDep, identity_id: int) -> MqttCredential:
    row = session.get(MqttCredential, identity_id)
    if row is None:
        raise not_found(ErrorCode.DEVICE_IDENTITY_NOT_FOUND, "device identity")
    return row


@router.get("", response_model=IdentityList)
def list_identities(
    session: SessionDep,
    _user: AdminUser,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> IdentityList:
    """Every device's MQTT identity, newest first (no passwords: they are not kept)."""
    rows, total = credentials.listing(session, offset=offset, limit=limit)
    return IdentityList(items=[_out(r) for r in rows], total=total)


@router.post("", response_model=IssuedOut, status_code=status.HTTP_201_CREATED)
def add_identity(
    body: IdentityIn,
    request: Request,
    session: SessionDep,
    user: AdminUser,
    clock: ClockDep,
    settings: SettingsDep,
) -> IssuedOut:
    """Register a device (or claim a pending one) and issue its credentials."""
    try:
        issued = credentials.add(session, body.vendor, body.external_id, settings=settings, now=clock.now())
        announce_issued(settings, issued)
    except credentials.CredentialError as exc:
        raise unprocessable(str(exc), "body", "external_id", code=ErrorCode.DEVICE_IDENTITY_REFUSED) from None
    return _issued(session, request, user, clock, settings, issued, AuditAction.ISSUE_CREDENTIALS)


@router.post("/{identity_id}/rotate", response_model=IssuedOut)
def rotate_identity(
    identity_id: PathId,
    request: Request,
    session: SessionDep,
    user: AdminUser,
    clock: ClockDep,
    settings: SettingsDep,
) -> IssuedOut:
    """A new password; the old one stops working and a connected device is disconnected."""
    try:
        issued = credentials.rotate(session, _get(session, identity_id), now=clock.now())
        announce_issued(settings, issued, rotated=True)
    except credentials.CredentialError as exc:
        raise conflict(ErrorCode.DEVICE_IDENTITY_STATE, str(exc)) from None
    return _issued(session, request, user, clock, settings, issued, AuditAction.ROTATE_CREDENTIALS)


@router.post("/{identity_id}/revoke", response_model=RevokedOut)
def revoke_identity(
    identity_id: PathId,
    request: Request,
    session: SessionDep,
    user: AdminUser,
    clock: ClockDep,
    settings: SettingsDep,
) -> RevokedOut:
    """Withdraw the credentials: the device is disconnected and cannot reconnect; its readings stay."""
    try:
        row = credentials.revoke(session, _get(session, identity_id), now=clock.now())
    except credentials.CredentialError as exc:
        raise conflict(ErrorCode.DEVICE_IDENTITY_STATE, str(exc)) from None
    audit.record(
        session,
        request,
        user,
        AuditAction.REVOKE_CREDENTIALS,
        AuditObject.MQTT_IDENTITY,
        identity_id,
        now=clock.now(),
    )
    # Mosquitto first (blocking the device is the safe side if the commit then failed); the
    # revocation stands in Anbu whatever Mosquitto answers, and the answer says so.
    problem = announce_revoked(settings, row.username)
    log.info("device identity revoked identity_id=%s user_id=%s", identity_id, user.id)
    return RevokedOut(identity=_out(row), broker_told=problem is None, problem=problem)


def _issued(
    session: SessionDep,
    request: Request,
    user: AdminUser,
    clock: ClockDep,
    settings: SettingsDep,
    issued: credentials.Issued,
    action: AuditAction,
) -> IssuedOut:
    audit.record(
        session, request, user, action, AuditObject.MQTT_IDENTITY, issued.credential_id, now=clock.now()
    )
    log.info("device identity %s identity_id=%s user_id=%s", action.value, issued.credential_id, user.id)
    row = session.get(MqttCredential, issued.credential_id)
    assert row is not None
    guide = setup_guide(issued.vendor, issued.external_id, issued.username, issued.password, settings)
    return IssuedOut(
        identity=_out(row),
        password=issued.password,
        claimed=issued.claimed,
        setup=SetupOut(
            format=guide.format,
            where=guide.where,
            lines=list(guide.lines),
            notes=[note.text for note in guide.notes],
            note_codes=[SetupNoteOut(code=note.code, params=dict(note.params)) for note in guide.notes],
        ),
    )
