"""MQTT identities for simulated plugs (``anbu demo``, ``anbu simulate``), so they run with auth on,
and the simulator that publishes with them to the server's broker.

The simulator imports nothing of the server: it gets the broker's address and each plug's
username and password as data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from core.db import session_scope
from core.enums import DeviceVendor
from core.settings import Settings
from simulator.households import HouseholdSpec

if TYPE_CHECKING:
    from simulator.runner import Simulator


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


def simulator_for(
    settings: Settings,
    specs: Sequence[HouseholdSpec],
    credentials: Mapping[str, tuple[str, str]],
    *,
    report_interval_s: float,
    initial_energy_wh: Mapping[str, float] | None = None,
) -> Simulator:
    """A simulator (not started) whose plugs publish to the broker of ``settings.mqtt_url``: its
    host, port, TLS and shared login, and each plug's own *credentials* (:func:`provision_plugs`)."""
    from simulator.runner import Simulator

    ep = settings.mqtt_endpoint
    return Simulator(
        specs,
        mqtt_host=ep.host,
        mqtt_port=ep.port,
        username=ep.username,
        password=ep.password,
        tls=ep.tls,
        credentials=credentials,
        report_interval_s=report_interval_s,
        initial_energy_wh=initial_energy_wh,
    )
