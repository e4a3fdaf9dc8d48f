"""Topic ACLs: each device publishes exactly what the gateway reads as that device, and nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.enums import DeviceVendor
from core.settings import Settings
from gateway.adapters import route_device, route_of, subscription_filters
from gateway.auth.acl import (
    IdentityError,
    TopicAcl,
    check_identity,
    covers,
    device_acl,
    gateway_acl,
    matches,
)
from gateway.auth.passwords import generate_password, hash_password, parse_hash, verify_password
from gateway.link import probe_topic


def settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **overrides)


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("tele/kettle/SENSOR", "tele/kettle/SENSOR", True),
        ("tele/+/SENSOR", "tele/kettle/SENSOR", True),
        ("tele/+/SENSOR", "tele/kettle/x/SENSOR", False),
        ("tele/#", "tele", True),
        ("tele/#", "tele/a/b/c", True),
        ("#", "$SYS/broker/uptime", False),
        ("$SYS/#", "$SYS/broker/uptime", True),
        ("tele/kettle/SENSOR", "tele/kettle/SENSOR/x", False),
        ("tele/kettle/+", "tele/kettle", False),
    ],
)
def test_topic_matching(pattern: str, topic: str, expected: bool) -> None:
    assert matches(pattern, topic) is expected


@pytest.mark.parametrize(
    ("pattern", "topic_filter", "expected"),
    [
        ("cmnd/kettle/#", "cmnd/kettle/#", True),
        ("cmnd/kettle/#", "cmnd/kettle/POWER", True),
        ("cmnd/kettle/#", "cmnd/+/POWER", False),  # a wildcard reaching other devices
        ("cmnd/kettle/#", "#", False),
        ("cmnd/kettle/#", "cmnd/#", False),
        ("tele/+/SENSOR", "tele/+/SENSOR", True),
        ("tele/+/SENSOR", "tele/#", False),
        ("shellies/x/relay/+/command", "shellies/x/relay/0/command", True),
    ],
)
def test_subscription_coverage(pattern: str, topic_filter: str, expected: bool) -> None:
    assert covers(pattern, topic_filter) is expected


def test_shared_subscription_prefix_is_ignored_for_the_check() -> None:
    acl = TopicAcl(publish=(), subscribe=("tele/+/SENSOR",))
    assert acl.may_subscribe("$share/gateways/tele/+/SENSOR")
    assert not acl.may_subscribe("$share/gateways/#")


def own_topics(d: str) -> dict[DeviceVendor, list[str]]:
    """Topics of device *d* of every vendor, as the firmware publishes them (default prefixes)."""
    return {
        DeviceVendor.NATIVE: [f"anbu/{d}/reading", f"anbu/{d}/status"],
        DeviceVendor.TASMOTA: [f"tele/{d}/{k}" for k in ("SENSOR", "STATE", "LWT")]
        + [f"stat/{d}/STATUS8", f"stat/{d}/STATUS10"],
        DeviceVendor.SHELLY_GEN1: [
            f"shellies/{d}/relay/0/power",
            f"shellies/{d}/relay/0/energy",
            f"shellies/{d}/relay/0",
            f"shellies/{d}/online",
            f"shellies/{d}/announce",
        ],
        DeviceVendor.SHELLY: [f"{d}/status/switch:0", f"{d}/events/rpc", f"{d}/online"],
        DeviceVendor.ESPHOME: [f"{d}/sensor/power/state", f"{d}/switch/relay/state", f"{d}/status"],
    }


VENDORS = list(own_topics("a"))


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_device_may_publish_its_own_topics_and_they_route_to_it(vendor: DeviceVendor) -> None:
    s = settings()
    acl = device_acl(vendor, "a", s)
    for topic in own_topics("a")[vendor]:
        assert acl.may_publish(topic), topic
        assert route_device(route_of(topic, s)) == (vendor, "a"), topic


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_device_may_not_publish_another_devices_topics(vendor: DeviceVendor) -> None:
    s = settings()
    acl = device_acl(vendor, "a", s)
    for topics in own_topics("b").values():
        for topic in topics:
            assert not acl.may_publish(topic), topic
    # Nor its own vendor's topics that the gateway does not read (Tasmota INFO1, a Shelly debug log).
    for stray in ("tele/a/INFO1", "a/debug/log", "homeassistant/switch/a/config", "anbu/a/reading/x"):
        assert not acl.may_publish(stray), stray


def test_tasmota_acl_follows_a_custom_fulltopic() -> None:
    s = settings(mqtt_tasmota_fulltopic="tasmota/%topic%/%prefix%/")
    acl = device_acl(DeviceVendor.TASMOTA, "kettle", s)
    assert acl.may_publish("tasmota/kettle/tele/SENSOR")
    assert not acl.may_publish("tele/kettle/SENSOR")
    assert acl.may_subscribe("tasmota/kettle/cmnd/#")
    assert not acl.may_subscribe("tasmota/+/cmnd/#")


def test_devices_read_only_their_own_command_topics() -> None:
    s = settings()
    tasmota = device_acl(DeviceVendor.TASMOTA, "a", s)
    assert tasmota.may_subscribe("cmnd/a/#")
    for stolen in ("#", "tele/#", "tele/+/SENSOR", "cmnd/b/#", "cmnd/#", "tele/a/SENSOR"):
        assert not tasmota.may_subscribe(stolen), stolen
    native = device_acl(DeviceVendor.NATIVE, "a", s)
    assert not native.may_subscribe("anbu/a/reading")


def test_the_gateway_reads_every_device_topic_and_publishes_only_its_probes() -> None:
    s = settings()
    acl = gateway_acl(s)
    probe = probe_topic(s.mqtt_client_id)
    assert acl.may_publish(probe) and acl.may_subscribe(probe)
    for topic_filter in subscription_filters(s):
        assert acl.may_subscribe(topic_filter)
    for topics in own_topics("a").values():
        for topic in topics:
            assert acl.may_receive(topic) and not acl.may_publish(topic)


def test_a_zigbee2mqtt_bridge_speaks_for_its_base_topic_only() -> None:
    acl = device_acl(DeviceVendor.ZIGBEE2MQTT, "hub", settings())
    assert acl.may_publish("zigbee2mqtt/kitchen/kettle") and acl.may_publish("zigbee2mqtt/bridge/state")
    assert not acl.may_publish("tele/a/SENSOR")
    assert acl.may_subscribe("zigbee2mqtt/#") and not acl.may_subscribe("#")


@pytest.mark.parametrize(
    ("vendor", "device_id", "why"),
    [
        (DeviceVendor.SHELLY, "tele/x", "reads as"),  # would publish tele/x/online: Tasmota's root
        (DeviceVendor.ESPHOME, "anbu", "reads as"),  # anbu/status is the native root
        (DeviceVendor.SHELLY, "homeassistant/x", "unknown topic"),
        (DeviceVendor.NATIVE, "a/b", "not a valid"),
        (DeviceVendor.TASMOTA, "a+b", "not a valid"),
        (DeviceVendor.ZIGBEE2MQTT, "my bridge", "bridge name"),
    ],
)
def test_ids_that_would_speak_for_someone_else_are_refused(
    vendor: DeviceVendor, device_id: str, why: str
) -> None:
    with pytest.raises(IdentityError, match=why):
        check_identity(vendor, device_id, settings())


def test_a_disabled_vendor_gets_no_identity() -> None:
    with pytest.raises(IdentityError, match="not enabled"):
        check_identity(DeviceVendor.ESPHOME, "node", settings(mqtt_vendors="native,tasmota"))


@pytest.mark.parametrize("vendor", VENDORS)
def test_ordinary_ids_are_accepted(vendor: DeviceVendor) -> None:
    check_identity(vendor, "kettle-hh0042", settings())


def test_passwords_are_long_random_and_verify_only_themselves() -> None:
    password = generate_password()
    assert len(password) == 32 and password.replace("-", "").replace("_", "").isalnum()
    stored = hash_password(password)
    assert stored.startswith("$7$1000$") and password not in stored
    assert verify_password(password, stored)
    assert not verify_password(password[:-1] + ("A" if password[-1] != "A" else "B"), stored)
    assert hash_password(password) != stored  # salted


@pytest.mark.parametrize("stored", ["", "$7$", "$6$abc$def", "$7$x$AAAA$BBBB", "$7$1000$!!$??", "argon2"])
def test_malformed_hashes_never_verify(stored: str) -> None:
    assert parse_hash(stored) is None
    assert not verify_password("anything", stored)


@given(st.text(min_size=1, max_size=40))
def test_any_password_round_trips(password: str) -> None:
    stored = hash_password(password, iterations=2)
    assert verify_password(password, stored)
