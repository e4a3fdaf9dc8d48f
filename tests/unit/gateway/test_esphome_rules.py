"""ESPHome rules that mutation testing found unpinned (docs/testing.md, gateway/adapters/esphome.py).

Whole observations are compared, so a heartbeat or an availability message that lost its vendor
or device is noticed; the configured units decide power or energy and their scale (a node's own
entry before the object id's); energy is stored in Wh at six decimals; refusals are compared by
their exact reason, which names the sensor.
"""

from __future__ import annotations

import pytest

from core.enums import DeviceVendor
from core.settings import Settings
from gateway.adapters import esphome, subscription_filters
from gateway.adapters.route import Route
from gateway.observation import DecodeError
from tests.unit.gateway.observations import decoded, observation, refusal

E = DeviceVendor.ESPHOME
NODE = "athom-smart-plug-v2"


def test_subscriptions_are_the_three_topic_kinds_below_the_configured_root() -> None:
    assert esphome.filters("") == ["+/sensor/+/state", "+/switch/+/state", "+/status"]
    assert esphome.filters("esp") == ["esp/+/sensor/+/state", "esp/+/switch/+/state", "esp/+/status"]
    settings = Settings(_env_file=None, mqtt_vendors="esphome", mqtt_esphome_prefix="esp")
    assert subscription_filters(settings) == esphome.filters("esp")
    # Below the root, the node's prefix is the device id (the root is not part of it).
    assert decoded("esp/home/plug1/status", b"online", settings) == [
        observation(E, "home/plug1", online=True)
    ]


@pytest.mark.parametrize(("payload", "online"), [(b"online", True), (b"offline", False)])
def test_status_is_the_whole_nodes_availability(payload: bytes, online: bool) -> None:
    assert decoded(f"{NODE}/status", payload) == [observation(E, NODE, online=online)]


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        (f"{NODE}/switch/relay/state", b"ON"),
        (f"{NODE}/switch/relay/state", b"OFF"),
        (f"{NODE}/sensor/voltage/state", b"231.2"),  # no unit configured: not power, not energy
        (f"{NODE}/sensor/power/state", b"nan"),
        (f"{NODE}/sensor/power/state", b""),
    ],
)
def test_a_message_without_a_value_is_a_heartbeat_of_the_node(topic: str, payload: bytes) -> None:
    assert decoded(topic, payload) == [observation(E, NODE)]


def test_readings_are_the_nodes_in_w_and_wh() -> None:
    assert decoded(f"{NODE}/sensor/power/state", b"23.4") == [observation(E, NODE, power_w=23.4)]
    assert decoded(f"{NODE}/sensor/energy/state", b"1.25") == [observation(E, NODE, energy_wh=1.25)]
    assert decoded(f"{NODE}/sensor/total_energy/state", b"1.250") == [observation(E, NODE, energy_wh=1250.0)]


def test_energy_is_stored_in_wh_to_a_millionth() -> None:
    assert decoded(f"{NODE}/sensor/energy/state", b"1.2345678") == [observation(E, NODE, energy_wh=1.234568)]
    assert decoded(f"{NODE}/sensor/total_energy/state", b"0.0015") == [observation(E, NODE, energy_wh=1.5)]


def test_a_nodes_own_unit_wins_over_the_object_ids() -> None:
    spec = "energy=Wh, kitchen-plug/energy=kWh"
    assert esphome.sensor_unit("kitchen-plug", "energy", spec) == "kWh"
    assert esphome.sensor_unit("hall-plug", "energy", spec) == "Wh"
    assert esphome.sensor_unit("hall-plug", "power", spec) is None


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (f"{NODE}/status", b"gone", "availability must be 'online' or 'offline', got 'gone'"),
        (f"{NODE}/switch/relay/state", b"dim", "relay state must be one of on, off, got 'dim'"),
        (f"{NODE}/sensor/power/state", b"inf", "power must be a plain number, got 'inf'"),
        (f"{NODE}/sensor/power/state", b"-1", "power is negative (-1 W)"),
        (f"{NODE}/sensor/total_energy/state", b"-0.5", "total_energy is negative (-500 Wh)"),
    ],
)
def test_a_refused_message_names_the_sensor_and_the_value(topic: str, payload: bytes, reason: str) -> None:
    assert refusal(topic, payload) == reason


def test_a_kind_no_route_gives_is_refused_by_name() -> None:
    with pytest.raises(DecodeError) as excinfo:
        esphome.decode(Route(E, NODE, "light", detail="lamp"), b"ON", units="")
    assert excinfo.value.reason == "unknown ESPHome message kind 'light'"
