"""Pending devices are listed for the operator and can be assigned to a household."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from core.clock import ManualClock
from core.db import session_scope
from core.enums import DeviceStatus, DeviceVendor
from core.models import Device
from gateway.devices import DeviceAssignmentError, assign_device, pending_devices
from tests.factories import make_device, make_household


def test_pending_devices_lists_only_pending_most_recent_first(engine: Engine, clock: ManualClock) -> None:
    now = clock.now()
    with session_scope(engine) as s:
        h = make_household(s)
        make_device(s, household=h, external_id="assigned")
        old = make_device(s, household=None, external_id="old")
        new = make_device(s, household=None, vendor=DeviceVendor.TASMOTA, external_id="new")
        silent = make_device(s, household=None, external_id="silent")
        old.last_seen_at = now - timedelta(hours=1)
        new.last_seen_at = now
        silent.last_seen_at = None
    with Session(engine) as s:
        assert [d.external_id for d in pending_devices(s)] == ["new", "old", "silent"]


def test_assign_device_attaches_it_to_the_household(engine: Engine) -> None:
    with session_scope(engine) as s:
        h = make_household(s)
        d = make_device(s, household=None, external_id="p1")
        assert d.id is not None and h.id is not None
        device = assign_device(s, d.id, h.id, "  kettle ")
        ids = (d.id, h.id)
    assert (device.status, device.household_id, device.appliance) == (DeviceStatus.ASSIGNED, ids[1], "kettle")
    with Session(engine) as s:
        stored = s.get(Device, ids[0])
        assert stored is not None and stored.household_id == ids[1]
        assert pending_devices(s) == []


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no_device", "no device"),
        ("no_household", "no household"),
        ("empty_appliance", "appliance must not be empty"),
        ("long_appliance", "longer than 60"),
        ("retired", "retired"),
    ],
)
def test_assign_device_refuses_with_a_clear_reason(engine: Engine, case: str, message: str) -> None:
    with session_scope(engine) as s:
        h = make_household(s)
        d = make_device(s, household=None, external_id="p1")
        if case == "retired":
            d.status = DeviceStatus.RETIRED
        assert d.id is not None and h.id is not None
        device_id = d.id + 1000 if case == "no_device" else d.id
        household_id = h.id + 1000 if case == "no_household" else h.id
        appliance = {"empty_appliance": "  ", "long_appliance": "x" * 61}.get(case, "tv")
        with pytest.raises(DeviceAssignmentError, match=message):
            assign_device(s, device_id, household_id, appliance)
