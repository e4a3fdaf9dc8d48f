"""Zigbee2MQTT rules that mutation testing found unpinned (docs/testing.md, gateway/adapters/zigbee2mqtt.py).

Whole observations are compared, so an availability message that lost its vendor or device is
noticed; kWh become Wh at six decimals; a ``last_seen`` without an offset is the household's
local time; refusals are compared by their exact reason.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.enums import DeviceVendor
from gateway.adapters import zigbee2mqtt
from gateway.adapters.route import Route
from gateway.observation import DecodeError
from tests.unit.gateway.observations import decoded, observation, refusal

Z = DeviceVendor.ZIGBEE2MQTT
NAME = "living_room/kettle_plug"


@pytest.mark.parametrize(("payload", "online"), [(b'{"state":"online"}', True), (b"offline", False)])
def test_availability_is_the_named_devices(payload: bytes, online: bool) -> None:
    assert decoded(f"zigbee2mqtt/{NAME}/availability", payload) == [observation(Z, NAME, online=online)]


def test_a_device_named_availability_is_a_device_not_an_availability_topic() -> None:
    assert decoded("zigbee2mqtt/availability", b'{"power":3}') == [
        observation(Z, "availability", power_w=3.0)
    ]


def test_energy_in_kwh_is_stored_in_wh_to_a_millionth() -> None:
    # 0.0015 kWh = 1.5 Wh (not rounded to whole Wh); 0.001234567891 kWh = 1.234568 Wh.
    assert decoded(f"zigbee2mqtt/{NAME}", b'{"energy":0.0015}') == [observation(Z, NAME, energy_wh=1.5)]
    assert decoded(f"zigbee2mqtt/{NAME}", b'{"energy":0.001234567891}') == [
        observation(Z, NAME, energy_wh=1.234568)
    ]


def test_last_seen_without_an_offset_is_the_households_local_time() -> None:
    # advanced.last_seen: ISO_8601_local without an offset; the household is in Seoul (UTC+9).
    payload = b'{"power":5,"last_seen":"2024-05-01T10:15:30"}'
    assert decoded(f"zigbee2mqtt/{NAME}", payload) == [
        observation(Z, NAME, power_w=5.0, ts=datetime(2024, 5, 1, 1, 15, 30, tzinfo=UTC))
    ]


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (
            f"zigbee2mqtt/{NAME}/availability",
            b'{"state":"sleepy"}',
            "availability must be online or offline, got 'sleepy'",
        ),
        (f"zigbee2mqtt/{NAME}", b'{"power":"9.8"}', "power must be a number, got '9.8'"),
        (f"zigbee2mqtt/{NAME}", b'{"energy":"12.5"}', "energy must be a number, got '12.5'"),
        (f"zigbee2mqtt/{NAME}", b'{"energy":-1}', "energy is negative (-1000 Wh)"),
        (
            f"zigbee2mqtt/{NAME}",
            b'{"last_seen":"yesterday"}',
            "last_seen is not an ISO 8601 timestamp: 'yesterday'",
        ),
        (f"zigbee2mqtt/{NAME}", b'{"last_seen":true}', "last_seen must be a number, got True"),
        (f"zigbee2mqtt/{NAME}", b'{"last_seen":-5000}', "last_seen is out of range"),
    ],
)
def test_a_refused_message_names_the_field_and_the_value(topic: str, payload: bytes, reason: str) -> None:
    assert refusal(topic, payload) == reason


def test_a_kind_no_route_gives_is_refused_by_name() -> None:
    with pytest.raises(DecodeError) as excinfo:
        zigbee2mqtt.decode(Route(Z, NAME, "group"), b"{}", local_tz="Asia/Seoul")
    assert excinfo.value.reason == "unknown Zigbee2MQTT message kind 'group'"
