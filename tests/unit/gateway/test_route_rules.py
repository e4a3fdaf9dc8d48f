"""Topic helpers shared by the adapters (gateway/adapters/route.py), each rule at its edge.

Device ids that may span topic levels (Zigbee2MQTT names, Shelly and ESPHome prefixes): the
length limit, the refused characters and empty levels, other software's roots; and the part of
a topic below a vendor's root.
"""

from __future__ import annotations

import pytest

from gateway.adapters.route import MAX_DEVICE_ID_CHARS, join, nested_device_id, under
from gateway.observation import DecodeError


def _refusal(device_id: str) -> str:
    with pytest.raises(DecodeError) as excinfo:
        nested_device_id(device_id)
    return excinfo.value.reason


def test_a_nested_device_id_may_be_as_long_as_the_limit_and_no_longer() -> None:
    longest = "a" * (MAX_DEVICE_ID_CHARS - 2) + "/b"
    assert nested_device_id(longest) == longest
    too_long = longest + "c"
    assert _refusal(too_long) == f"invalid device id {repr(too_long)[:37]}... in topic"


@pytest.mark.parametrize("device_id", ["kitchen", "living_room/kettle_plug", "0xa4c138f2e1d2c3b4", "a/b/c/d"])
def test_a_nested_device_id_is_returned_as_given(device_id: str) -> None:
    assert nested_device_id(device_id) == device_id


@pytest.mark.parametrize(
    ("device_id", "quoted"),
    [
        ("", "''"),
        ("/kitchen", "'/kitchen'"),
        ("kitchen/", "'kitchen/'"),
        ("living//kettle", "'living//kettle'"),
        ("kettle plug", "'kettle plug'"),
        ("plug+1", "'plug+1'"),
        ("plug#", "'plug#'"),
        ("plug\x00", "'plug\\x00'"),
        ("plug\x7f", "'plug\\x7f'"),
    ],
)
def test_a_nested_device_id_refuses_empty_levels_wildcards_and_control_characters(
    device_id: str, quoted: str
) -> None:
    assert _refusal(device_id) == f"invalid device id {quoted} in topic"


@pytest.mark.parametrize("device_id", ["homeassistant", "homeassistant/sensor/plug"])
def test_home_assistants_root_is_never_a_device_prefix(device_id: str) -> None:
    assert _refusal(device_id) == "unknown topic"


@pytest.mark.parametrize("device_id", ["home/homeassistant", "homeassistant2/plug"])
def test_only_home_assistants_own_first_level_is_foreign(device_id: str) -> None:
    assert nested_device_id(device_id) == device_id


@pytest.mark.parametrize(
    ("topic", "root", "rest"),
    [
        ("zigbee2mqtt/kitchen/plug", "zigbee2mqtt", "kitchen/plug"),
        ("home/shelly/plug/online", "home/shelly", "plug/online"),
        ("kitchen/plug", "", "kitchen/plug"),
        ("zigbee2mqtt", "zigbee2mqtt", None),
        ("zigbee2mqttx/plug", "zigbee2mqtt", None),
        ("other/zigbee2mqtt/plug", "zigbee2mqtt", None),
    ],
)
def test_under_is_the_part_below_the_root_or_none(topic: str, root: str, rest: str | None) -> None:
    assert under(topic, root) == rest


def test_join_puts_a_root_before_the_rest_only_when_there_is_one() -> None:
    assert join("home/shelly", "+/online") == "home/shelly/+/online"
    assert join("", "+/online") == "+/online"
