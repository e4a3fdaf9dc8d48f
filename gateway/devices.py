"""Pending devices and their assignment to a household (the operator's side of "plug and see")."""

from __future__ import annotations

from sqlmodel import Session, col, func, select

from core.enums import DeviceStatus
from core.models import Device, Household

APPLIANCE_MAX_CHARS = 60


class DeviceAssignmentError(ValueError):
    """The assignment cannot be made; the message says why."""


def pending_devices(session: Session, *, limit: int | None = None, offset: int = 0) -> list[Device]:
    """Devices seen on the wire but not yet assigned, most recently heard from first.

    Paged: a flood of fake devices (up to ``ANBU_PENDING_DEVICES_MAX``) must not become one
    response or one screen."""
    statement = (
        select(Device)
        .where(Device.status == DeviceStatus.PENDING)
        .order_by(col(Device.last_seen_at).desc().nulls_last(), col(Device.id))
        .offset(offset)
        .limit(limit)
    )
    return list(session.exec(statement).all())


def count_pending_devices(session: Session) -> int:
    statement = select(func.count()).select_from(Device).where(Device.status == DeviceStatus.PENDING)
    return int(session.exec(statement).one())


def assign_device(session: Session, device_id: int, household_id: int, appliance: str) -> Device:
    """Attach a device to a household. From the next ON edge, its use counts as a sign of life.

    Re-assigning an assigned device (moving a plug) is allowed; a retired device is not.
    """
    appliance = appliance.strip()
    if not appliance:
        raise DeviceAssignmentError("appliance must not be empty (e.g. kettle, tv, rice_cooker)")
    if len(appliance) > APPLIANCE_MAX_CHARS:
        raise DeviceAssignmentError(f"appliance is longer than {APPLIANCE_MAX_CHARS} characters")
    device = session.get(Device, device_id)
    if device is None:
        raise DeviceAssignmentError(f"no device with id {device_id}")
    if device.status == DeviceStatus.RETIRED:
        raise DeviceAssignmentError(f"device {device_id} is retired")
    if session.get(Household, household_id) is None:
        raise DeviceAssignmentError(f"no household with id {household_id}")
    device.household_id = household_id
    device.appliance = appliance
    device.status = DeviceStatus.ASSIGNED
    session.add(device)
    session.flush()
    return device
