"""Routes are remembered per topic and configuration, and always equal a fresh computation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.enums import DeviceVendor
from core.settings import Settings
from gateway import adapters
from gateway.adapters import route_of, tasmota
from gateway.observation import DecodeError

SETTINGS = Settings(_env_file=None, mqtt_vendors="native,tasmota,shelly_gen1,shelly,zigbee2mqtt,esphome")


def fresh(topic: str, config: Settings) -> object:
    """Routing without any memory: a new router every time."""
    return adapters._Router(config).route(topic)


_levels = st.sampled_from(
    [
        "tele",
        "stat",
        "shellies",
        "zigbee2mqtt",
        "anbu",
        "plug1",
        "status",
        "switch:0",
        "events",
        "rpc",
        "online",
        "SENSOR",
        "STATE",
        "LWT",
        "STATUS8",
        "sensor",
        "power",
        "state",
        "availability",
        "bridge",
        "relay",
        "0",
        "energy",
        "",
        "+",
        "home",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_levels, min_size=1, max_size=6).map("/".join))
def test_a_remembered_route_is_the_route(topic: str) -> None:
    first = route_of(topic, SETTINGS)
    again = route_of(topic, SETTINGS)  # served from memory
    assert first == again == fresh(topic, SETTINGS)


def test_another_configuration_gets_its_own_answers() -> None:
    default = Settings(_env_file=None, mqtt_vendors="shelly")
    prefixed = Settings(_env_file=None, mqtt_vendors="shelly", mqtt_shelly_prefix="home")
    topic = "home/plug1/events/rpc"
    assert route_of(topic, default).device_id == "home/plug1"  # type: ignore[union-attr]
    assert route_of(topic, prefixed).device_id == "plug1"  # type: ignore[union-attr]
    assert route_of(topic, default).device_id == "home/plug1"  # type: ignore[union-attr]


def test_disabled_vendors_are_not_served_from_another_configurations_memory() -> None:
    both = Settings(_env_file=None, mqtt_vendors="tasmota,native")
    native_only = Settings(_env_file=None, mqtt_vendors="native")
    assert route_of("tele/p1/SENSOR", both).vendor is DeviceVendor.TASMOTA  # type: ignore[union-attr]
    assert route_of("tele/p1/SENSOR", native_only) == "unknown topic"


def test_tasmota_stat_prefix_is_part_of_the_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    config = Settings(_env_file=None, mqtt_vendors="tasmota")
    assert route_of("stat-x/p1/STATUS8", config) == "unknown topic"
    monkeypatch.setattr(tasmota, "STAT_PREFIX", "stat-x")
    assert route_of("stat-x/p1/STATUS8", config).kind == "STATUS8"  # type: ignore[union-attr]


def test_memory_is_capped_and_answers_stay_right(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapters._Router, "MAX_TOPICS", 5)
    router = adapters._Router(SETTINGS)
    for i in range(50):  # hostile input: endless distinct topics
        assert router.route(f"tele/p{i}/SENSOR") == fresh(f"tele/p{i}/SENSOR", SETTINGS)
        assert len(router._known) <= 5


def test_refusals_keep_their_reason() -> None:
    assert route_of("tele/bad id/SENSOR", SETTINGS) == fresh("tele/bad id/SENSOR", SETTINGS)
    with pytest.raises(DecodeError, match="invalid device id"):
        adapters.parse_topic("tele/bad id/SENSOR", SETTINGS)
    with pytest.raises(DecodeError, match="unknown topic"):
        adapters.parse_topic("nobody/listens/here", SETTINGS)
