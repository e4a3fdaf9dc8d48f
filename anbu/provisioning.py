"""MQTT identities for simulated plugs (``anbu demo``, ``anbu simulate``), so they run with auth on.

The simulator imports nothing of the server: it gets each plug's username and password as data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine

from core.db import session_scope
from core.enums import DeviceVendor
from core.settings import Settings
from simulator.households import HouseholdSpec


def provision_plugs(
    engine: Engine, settings: Settings, specs: Sequence[HouseholdSpec], *, now: datetime
) -> dict[str, tuple[str, str]]:
    """(username, password) by device external id: new credentials for every plug of *specs*.

    A plug that already has an identity gets a new password (the old one is of no use: only its
    hash was kept), one without is added (claimed, if it was seen on the wire before).
    """
    from gateway.auth import credentials
    from gateway.auth.acl import username_for
    from gateway.auth.live import announce_issued

    issued: dict[str, tuple[str, str]] = {}
    with session_scope(engine) as session:
        for spec in specs:
            for device in spec.devices:
                vendor = DeviceVendor(device.vendor)
                try:
                    existing = credentials.find(session, username_for(vendor, device.external_id))
                except credentials.CredentialError:
                    existing = None
                rotating = existing is not None and existing.revoked_at is None
                if existing is not None and rotating:
                    result = credentials.rotate(session, existing, now=now)
                else:
                    result = credentials.add(session, vendor, device.external_id, settings=settings, now=now)
                announce_issued(settings, result, rotated=rotating)  # Mosquitto too, when configured
                issued[device.external_id] = (result.username, result.password)
    return issued
