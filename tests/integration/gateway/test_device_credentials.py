"""Issuing, claiming, rotating and revoking device identities, and the brokers' cache of them."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import DeviceStatus, DeviceVendor
from core.models import Device, MqttCredential
from core.settings import Settings
from gateway.auth import credentials
from gateway.auth.credentials import CredentialError
from gateway.auth.directory import CredentialDirectory
from gateway.auth.passwords import verify_password
from tests.factories import make_device, make_household

SETTINGS = Settings(_env_file=None)


def _add(
    engine: Engine, clock: ManualClock, vendor: DeviceVendor, device: str, **kwargs: object
) -> credentials.Issued:
    with session_scope(engine) as s:
        return credentials.add(s, vendor, device, settings=SETTINGS, now=clock.now(), **kwargs)  # type: ignore[arg-type]


def test_add_registers_a_device_and_stores_only_a_hash(engine: Engine, clock: ManualClock) -> None:
    issued = _add(engine, clock, DeviceVendor.TASMOTA, "kettle-hh0042")
    assert (issued.username, issued.claimed) == ("tasmota:kettle-hh0042", False)
    with Session(engine) as s:
        row = s.exec(select(MqttCredential)).one()
        device = s.get(Device, issued.device_id)
        assert device is not None and (device.vendor, device.external_id) == (
            DeviceVendor.TASMOTA,
            "kettle-hh0042",
        )
        assert device.status == DeviceStatus.PENDING
        assert issued.password not in row.password_hash and verify_password(
            issued.password, row.password_hash
        )
        assert row.revision == credentials.current_revision(s) >= 1


def test_add_claims_a_pending_device_seen_on_the_wire(engine: Engine, clock: ManualClock) -> None:
    with session_scope(engine) as s:
        seen = make_device(s, household=None, vendor=DeviceVendor.SHELLY, external_id="shellyplusplugs-a1")
        seen_id = seen.id
    issued = _add(engine, clock, DeviceVendor.SHELLY, "shellyplusplugs-a1")
    assert issued.claimed and issued.device_id == seen_id


def test_add_can_assign_at_once(engine: Engine, clock: ManualClock) -> None:
    with session_scope(engine) as s:
        household_id = make_household(s).id
    issued = _add(engine, clock, DeviceVendor.NATIVE, "plug-1", household_id=household_id, appliance="kettle")
    with Session(engine) as s:
        device = s.get(Device, issued.device_id)
        assert device is not None and (device.household_id, device.appliance) == (household_id, "kettle")


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        ((DeviceVendor.TASMOTA, "k"), (DeviceVendor.TASMOTA, "k"), "already has credentials"),
        ((DeviceVendor.SHELLY, "kitchen"), (DeviceVendor.SHELLY, "kitchen/kettle"), "share a topic prefix"),
        ((DeviceVendor.ESPHOME, "a/b"), (DeviceVendor.SHELLY, "a"), "share a topic prefix"),
        ((DeviceVendor.ZIGBEE2MQTT, "hub1"), (DeviceVendor.ZIGBEE2MQTT, "hub2"), "one bridge per base topic"),
    ],
)
def test_identities_that_could_speak_for_each_other_are_refused(
    engine: Engine,
    clock: ManualClock,
    first: tuple[DeviceVendor, str],
    second: tuple[DeviceVendor, str],
    message: str,
) -> None:
    _add(engine, clock, *first)
    with pytest.raises(CredentialError, match=message):
        _add(engine, clock, *second)


def test_a_retired_device_gets_no_credentials(engine: Engine, clock: ManualClock) -> None:
    with session_scope(engine) as s:
        make_device(s, household=None, external_id="old").status = DeviceStatus.RETIRED
    with pytest.raises(CredentialError, match="retired"):
        _add(engine, clock, DeviceVendor.NATIVE, "old")


def test_a_zigbee2mqtt_bridge_is_an_identity_without_a_device(engine: Engine, clock: ManualClock) -> None:
    issued = _add(engine, clock, DeviceVendor.ZIGBEE2MQTT, "hub")
    assert issued.device_id is None and issued.username == "zigbee2mqtt:hub"
    with Session(engine) as s:
        assert s.exec(select(Device)).all() == []


def test_rotate_replaces_the_password_and_revoke_withdraws_it(engine: Engine, clock: ManualClock) -> None:
    issued = _add(engine, clock, DeviceVendor.NATIVE, "plug-1")
    with session_scope(engine) as s:
        rotated = credentials.rotate(s, credentials.find(s, "native:plug-1"), now=clock.now())
    assert rotated.password != issued.password
    with session_scope(engine) as s:
        row = credentials.find(s, str(issued.device_id))
        assert verify_password(rotated.password, row.password_hash)
        assert not verify_password(issued.password, row.password_hash)
        credentials.revoke(s, row, now=clock.now())
    with session_scope(engine) as s:
        row = credentials.find(s, "plug-1", DeviceVendor.NATIVE)
        assert row.revoked_at is not None
        with pytest.raises(CredentialError, match="already revoked"):
            credentials.revoke(s, row, now=clock.now())
        with pytest.raises(CredentialError, match="revoked"):
            credentials.rotate(s, row, now=clock.now())
    again = _add(engine, clock, DeviceVendor.NATIVE, "plug-1")  # re-adding issues a new password
    assert again.device_id == issued.device_id and not again.claimed


@pytest.mark.parametrize("ref", ["nobody:x", "99999", "plain-name"])
def test_find_says_what_is_wrong(engine: Engine, ref: str) -> None:
    with Session(engine) as s, pytest.raises(CredentialError):
        credentials.find(s, ref)


def test_the_directory_sees_adds_rotations_and_revocations(engine: Engine, clock: ManualClock) -> None:
    directory = CredentialDirectory(engine, SETTINGS)
    directory.refresh()
    assert len(directory) == 0
    a = _add(engine, clock, DeviceVendor.TASMOTA, "a")
    _add(engine, clock, DeviceVendor.TASMOTA, "b")
    assert directory.refresh() == set()  # new identities close nothing
    identity = directory.lookup("tasmota:a")
    assert identity is not None and verify_password(a.password, identity.password_hash)
    assert identity.acl.may_publish("tele/a/SENSOR") and not identity.acl.may_publish("tele/b/SENSOR")
    with session_scope(engine) as s:
        credentials.rotate(s, credentials.find(s, "tasmota:a"), now=clock.now())
        credentials.revoke(s, credentials.find(s, "tasmota:b"), now=clock.now())
    assert directory.refresh() == {"tasmota:a", "tasmota:b"}
    assert directory.lookup("tasmota:b") is None
    new_a = directory.lookup("tasmota:a")
    assert new_a is not None and not verify_password(a.password, new_a.password_hash)
    assert directory.refresh() == set()  # nothing changed since


def test_a_client_admitted_before_a_revocation_or_rotation_may_do_nothing_after_it(
    engine: Engine, clock: ManualClock
) -> None:
    """The embedded broker closes such a connection when it hears of the change, but packets
    already read from it are checked after that: the identity it was admitted with must be the
    current one, or each publish is refused (before, the ACL of connect time still let them in)."""
    from gateway.auth.authority import Authority

    settings = Settings(_env_file=None, mqtt_auth="required")
    kept = _add(engine, clock, DeviceVendor.TASMOTA, "kettle")
    rotated = _add(engine, clock, DeviceVendor.TASMOTA, "tv")
    directory = CredentialDirectory(engine, settings)
    directory.refresh()
    authority = Authority(settings, directory, None)
    principals = {
        issued.external_id: authority.admit(issued.username, issued.password, issued.username).principal
        for issued in (kept, rotated)
    }
    assert all(p is not None for p in principals.values())
    with session_scope(engine) as s:
        credentials.revoke(s, credentials.find(s, kept.username), now=clock.now())
        credentials.rotate(s, credentials.find(s, rotated.username), now=clock.now())
    directory.refresh()
    for device, principal in principals.items():
        assert principal is not None
        assert not authority.may_publish(principal, f"tele/{device}/SENSOR"), device
        assert not authority.may_subscribe(principal, f"cmnd/{device}/POWER"), device
        assert not authority.may_receive(principal, f"cmnd/{device}/POWER"), device
