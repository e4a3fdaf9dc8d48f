"""Issuing, rotating and revoking devices' MQTT identities (the database side; functions never commit).

``add`` registers a device and gives it credentials; for a device already seen on the wire (pending)
it *claims* that row, so its history stays. The password is returned once and only its hash is
stored. Every change bumps ``mqtt_credential_revision`` in the same transaction, which is how the
brokers' caches (gateway/auth/directory.py) notice it within a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, func, select

from core.enums import DeviceStatus, DeviceVendor
from core.models import Device, MqttCredential, MqttCredentialRevision
from core.settings import Settings
from gateway.auth.acl import IdentityError, check_identity, nested_overlap, topic_base, username_for
from gateway.auth.passwords import generate_password, hash_password
from gateway.devices import assign_device

# Vendors whose device id is a topic prefix that may span levels: one must not sit below another.
_NESTED_VENDORS = (DeviceVendor.SHELLY, DeviceVendor.ESPHOME)


class CredentialError(ValueError):
    """The change cannot be made; the message says why (shown to staff as is)."""


@dataclass(frozen=True)
class Issued:
    """A password shown exactly once, with what it belongs to."""

    credential_id: int
    device_id: int | None
    vendor: DeviceVendor
    external_id: str
    username: str
    password: str
    claimed: bool  # the device had already been seen on the wire (pending) and keeps its history


def add(
    session: Session,
    vendor: DeviceVendor,
    external_id: str,
    *,
    settings: Settings,
    now: datetime,
    household_id: int | None = None,
    appliance: str = "",
) -> Issued:
    """Register a device (or claim a pending one) and issue its credentials.

    A Zigbee2MQTT *bridge* gets an identity but no device row: the Zigbee devices behind it appear
    as pending devices by friendly name, as before.
    """
    external_id = external_id.strip()
    try:
        check_identity(vendor, external_id, settings)
    except IdentityError as exc:
        raise CredentialError(str(exc)) from exc
    username = username_for(vendor, external_id)
    credential = session.exec(select(MqttCredential).where(MqttCredential.username == username)).first()
    if credential is not None and credential.revoked_at is None:
        raise CredentialError(f"{username} already has credentials: rotate them, or revoke them first")
    _refuse_overlaps(session, vendor, external_id, settings)
    device, pending = _device_for(session, vendor, external_id, now=now)
    claimed = pending and credential is None  # seen on the wire, never given credentials
    if household_id is not None:
        if device is None or device.id is None:
            raise CredentialError("a Zigbee2MQTT bridge belongs to no household; assign its devices instead")
        assign_device(session, device.id, household_id, appliance)
    password = generate_password()
    revision = bump_revision(session)
    if credential is None:
        credential = MqttCredential(
            username=username,
            vendor=vendor,
            external_id=external_id,
            device_id=device.id if device else None,
            password_hash=hash_password(password),
            issued_at=now,
            revision=revision,
        )
    else:  # re-adding a revoked identity: a new password, the same row
        credential.password_hash = hash_password(password)
        credential.issued_at, credential.revoked_at, credential.revision = now, None, revision
        credential.device_id = device.id if device else None
    session.add(credential)
    session.flush()
    return _issued(credential, password, claimed=claimed)


def rotate(session: Session, credential: MqttCredential, *, now: datetime) -> Issued:
    """A new password; the old one stops working at once (connected sessions are closed)."""
    if credential.revoked_at is not None:
        raise CredentialError(f"{credential.username} is revoked: add the device again to issue credentials")
    password = generate_password()
    credential.password_hash = hash_password(password)
    credential.issued_at, credential.revision = now, bump_revision(session)
    session.add(credential)
    session.flush()
    return _issued(credential, password, claimed=False)


def revoke(session: Session, credential: MqttCredential, *, now: datetime) -> MqttCredential:
    """The identity may no longer connect; a connected session is closed. Readings stay."""
    if credential.revoked_at is not None:
        raise CredentialError(f"{credential.username} is already revoked")
    credential.revoked_at, credential.revision = now, bump_revision(session)
    session.add(credential)
    session.flush()
    return credential


def find(session: Session, ref: str, vendor: DeviceVendor | None = None) -> MqttCredential:
    """The identity named by ``vendor:external_id``, a device number, or an external id with *vendor*."""
    ref = ref.strip()
    if vendor is not None:
        username = username_for(vendor, ref)
        statement = select(MqttCredential).where(MqttCredential.username == username)
    elif ref.isdigit():
        statement = select(MqttCredential).where(MqttCredential.device_id == int(ref))
    elif ":" in ref:
        statement = select(MqttCredential).where(MqttCredential.username == ref)
    else:
        raise CredentialError(
            f"name the device as VENDOR:ID (e.g. tasmota:{ref}), by number, or with --vendor"
        )
    credential = session.exec(statement).first()
    if credential is None:
        raise CredentialError(f"no MQTT identity for {ref!r}: add the device first (anbu devices add)")
    return credential


def for_device(session: Session, device_id: int) -> MqttCredential | None:
    return session.exec(select(MqttCredential).where(MqttCredential.device_id == device_id)).first()


def listing(session: Session, *, offset: int = 0, limit: int = 100) -> tuple[list[MqttCredential], int]:
    """One page of identities (newest first) and how many there are."""
    total = int(session.exec(select(func.count()).select_from(MqttCredential)).one())
    page = session.exec(
        select(MqttCredential).order_by(col(MqttCredential.id).desc()).offset(offset).limit(limit)
    ).all()
    return list(page), total


def current_revision(session: Session) -> int:
    value = session.exec(select(MqttCredentialRevision.value).where(MqttCredentialRevision.id == 1)).first()
    return int(value or 0)


def bump_revision(session: Session) -> int:
    """Increment the one revision row (its row lock orders concurrent changes) and return the value.

    The migration creates the row; one lost since (a table emptied by hand) is made again.
    """
    result = session.execute(
        update(MqttCredentialRevision)
        .where(col(MqttCredentialRevision.id) == 1)
        .values(value=MqttCredentialRevision.value + 1)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.add(MqttCredentialRevision(id=1, value=1))
        session.flush()
    return current_revision(session)


def _device_for(
    session: Session, vendor: DeviceVendor, external_id: str, *, now: datetime
) -> tuple[Device | None, bool]:
    if vendor == DeviceVendor.ZIGBEE2MQTT:
        return None, False
    device = session.exec(
        select(Device).where(Device.vendor == vendor, Device.external_id == external_id)
    ).first()
    if device is not None:
        if device.status == DeviceStatus.RETIRED:
            raise CredentialError(f"{username_for(vendor, external_id)} is retired")
        return device, device.status == DeviceStatus.PENDING
    device = Device(vendor=vendor, external_id=external_id, status=DeviceStatus.PENDING, created_at=now)
    session.add(device)
    session.flush()
    return device, False


def _refuse_overlaps(session: Session, vendor: DeviceVendor, external_id: str, settings: Settings) -> None:
    active = select(MqttCredential).where(col(MqttCredential.revoked_at).is_(None))
    if vendor == DeviceVendor.ZIGBEE2MQTT:
        bridge = session.exec(active.where(MqttCredential.vendor == vendor)).first()
        if bridge is not None:
            raise CredentialError(
                f"{bridge.username} already speaks for the whole Zigbee2MQTT base topic: one bridge "
                "per base topic (revoke it first; docs/security.md)"
            )
        return
    if vendor not in _NESTED_VENDORS:
        return
    mine = topic_base(vendor, external_id, settings)
    for other in session.exec(active.where(col(MqttCredential.vendor).in_(_NESTED_VENDORS))).all():
        theirs = topic_base(other.vendor, other.external_id, settings)
        if other.username != username_for(vendor, external_id) and nested_overlap(theirs, mine):
            raise CredentialError(
                f"{external_id!r} and {other.username} share a topic prefix, so one could speak for the "
                "other; give each device its own prefix"
            )


def _issued(credential: MqttCredential, password: str, *, claimed: bool) -> Issued:
    assert credential.id is not None
    return Issued(
        credential_id=credential.id,
        device_id=credential.device_id,
        vendor=credential.vendor,
        external_id=credential.external_id,
        username=credential.username,
        password=password,
        claimed=claimed,
    )
