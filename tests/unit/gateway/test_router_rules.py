"""Which topic goes to which adapter, and what the gateway subscribes to (gateway/adapters/__init__.py).

The router tries the fixed roots first (native, Tasmota when its FullTopic starts with a literal
level, Shelly Gen1, Zigbee2MQTT), then the vendors recognised by their suffix (Shelly Gen2+,
ESPHome). Topics that two vendors could claim show that order; routes and refusals are compared
whole (docs/testing.md, mutation testing).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.enums import DeviceVendor
from core.settings import Settings
from gateway import adapters
from gateway.adapters import Route, decode_route, route_of, subscription_filters
from gateway.observation import DecodeError, Observation
from tests.unit.gateway.observations import decoded, observation

SETTINGS = Settings(_env_file=None)
NATIVE = DeviceVendor.NATIVE
TASMOTA = DeviceVendor.TASMOTA
GEN1 = DeviceVendor.SHELLY_GEN1
SHELLY = DeviceVendor.SHELLY
Z2M = DeviceVendor.ZIGBEE2MQTT
ESPHOME = DeviceVendor.ESPHOME
# Every vendor under a root of its own choosing; native and Shelly Gen1 below Shelly Gen2+'s "home".
OWN_ROOTS = Settings(
    _env_file=None,
    mqtt_native_prefix="home/anbu",
    mqtt_tasmota_prefix="tasmota",
    mqtt_shelly_gen1_prefix="home/shellies",
    mqtt_zigbee2mqtt_prefix="z2m",
    mqtt_shelly_prefix="home",
    mqtt_esphome_prefix="esp",
)


@pytest.mark.parametrize(
    ("topic", "route"),
    [
        ("anbu/kettle-01/reading", Route(NATIVE, "kettle-01", "reading")),
        ("anbu/kettle-01/status", Route(NATIVE, "kettle-01", "status")),
        ("tele/p1/SENSOR", Route(TASMOTA, "p1", "SENSOR")),
        ("stat/p1/STATUS10", Route(TASMOTA, "p1", "STATUS10")),
        ("shellies/sh1/relay/1/power", Route(GEN1, "sh1", "power", "1")),
        ("zigbee2mqtt/tv_plug", Route(Z2M, "tv_plug", "state")),
        ("plug1/events/rpc", Route(SHELLY, "plug1", "rpc")),
        ("plug1/online", Route(SHELLY, "plug1", "online")),
        ("plug/sensor/power/state", Route(ESPHOME, "plug", "sensor", "power")),
        ("plug/status", Route(ESPHOME, "plug", "status")),
    ],
)
def test_each_vendors_topic_goes_to_its_adapter(topic: str, route: Route) -> None:
    assert route_of(topic, SETTINGS) == route


@pytest.mark.parametrize(
    ("topic", "route"),
    [
        # A Shelly Gen2+ "<prefix>/online" under another vendor's fixed root is that vendor's.
        ("shellies/plug1/online", Route(GEN1, "plug1", "online")),
        ("zigbee2mqtt/plug/online", Route(Z2M, "plug/online", "state")),
        ("tele/p1/online", "unknown topic"),
        ("anbu/p1/online", "unknown topic"),
        ("anbu/p1/events/rpc", "unknown topic"),
    ],
)
def test_a_fixed_root_owns_every_topic_below_it(topic: str, route: Route | str) -> None:
    assert route_of(topic, SETTINGS) == route


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("anbu/d", "unknown topic"),
        ("anbu/reading", "unknown topic"),
        ("anbu/d/readings", "unknown topic"),
        ("anbu/d/reading/extra", "unknown topic"),
        ("anbu/d/status/reading", "unknown topic"),
        ("anbu/a b/reading", "invalid device id 'a b' in topic"),
        ("anbu//reading", "invalid device id '' in topic"),
        ("anbu/" + "x" * 65 + "/status", "invalid device id '" + "x" * 36 + "... in topic"),
        # Not below the native root: "anbux" is a Shelly Gen2+ or ESPHome prefix, and this is neither.
        ("anbux/d/reading", "unknown topic"),
    ],
)
def test_the_native_matcher_refuses_with_its_exact_reason(topic: str, reason: str) -> None:
    assert route_of(topic, SETTINGS) == reason


def test_every_root_comes_from_the_settings() -> None:
    config = OWN_ROOTS
    # native and Shelly Gen1 are under the Shelly Gen2+ root "home": the fixed roots go first.
    assert route_of("home/anbu/k1/reading", config) == Route(NATIVE, "k1", "reading")
    assert route_of("home/anbu/k1/events/rpc", config) == "unknown topic"
    assert route_of("home/shellies/sh1/relay/0/power", config) == Route(GEN1, "sh1", "power", "0")
    assert route_of("tasmota/p1/SENSOR", config) == Route(TASMOTA, "p1", "SENSOR")
    assert route_of("z2m/tv", config) == Route(Z2M, "tv", "state")
    assert route_of("home/plug1/events/rpc", config) == Route(SHELLY, "plug1", "rpc")
    assert route_of("esp/plug/sensor/power/state", config) == Route(ESPHOME, "plug", "sensor", "power")
    for default_root in ("anbu/k1/reading", "shellies/sh1/online", "zigbee2mqtt/tv", "tele/p1/SENSOR"):
        assert route_of(default_root, config) == "unknown topic"


def test_a_tasmota_fulltopic_without_a_root_of_its_own_comes_after_the_fixed_roots() -> None:
    config = Settings(_env_file=None, mqtt_tasmota_fulltopic="%topic%/%prefix%/")
    assert route_of("p1/tele/SENSOR", config) == Route(TASMOTA, "p1", "SENSOR")
    assert route_of("p1/stat/STATUS8", config) == Route(TASMOTA, "p1", "STATUS8")
    # Zigbee2MQTT's root is fixed: its topics stay its own even when they look like Tasmota's.
    assert route_of("zigbee2mqtt/tele/SENSOR", config) == Route(Z2M, "tele/SENSOR", "state")
    assert route_of("anbu/tele/SENSOR", config) == "unknown topic"
    assert route_of("tele/p1/SENSOR", config) == "unknown topic"
    # A Tasmota-shaped topic of an unknown kind is left to the suffix vendors.
    assert route_of("p1/tele/online", config) == Route(SHELLY, "p1/tele", "online")


def test_a_fixed_tasmota_root_goes_before_shelly_gen1_and_zigbee2mqtt() -> None:
    config = Settings(_env_file=None, mqtt_tasmota_prefix="zigbee2mqtt")
    assert route_of("zigbee2mqtt/p1/SENSOR", config) == Route(TASMOTA, "p1", "SENSOR")
    config = Settings(_env_file=None, mqtt_tasmota_prefix="shellies")
    assert route_of("shellies/p1/LWT", config) == Route(TASMOTA, "p1", "LWT")


def test_a_disabled_vendor_routes_nothing_and_leaves_its_topics_to_the_others() -> None:
    gen2_only = Settings(_env_file=None, mqtt_vendors="shelly")
    assert route_of("shellies/plug1/online", gen2_only) == Route(SHELLY, "shellies/plug1", "online")
    assert route_of("anbu/k1/reading", gen2_only) == "unknown topic"
    native_only = Settings(_env_file=None, mqtt_vendors="native")
    assert route_of("anbu/k1/reading", native_only) == Route(NATIVE, "k1", "reading")
    assert route_of("plug1/events/rpc", native_only) == "unknown topic"


def test_subscriptions_are_the_enabled_vendors_filters_below_their_roots() -> None:
    config = OWN_ROOTS
    assert subscription_filters(config) == [
        "home/anbu/+/reading",
        "home/anbu/+/status",
        "tasmota/+/SENSOR",
        "tasmota/+/STATE",
        "tasmota/+/LWT",
        "stat/+/STATUS8",
        "stat/+/STATUS10",
        "home/shellies/+/relay/+/power",
        "home/shellies/+/relay/+/energy",
        "home/shellies/+/relay/+",
        "home/shellies/+/online",
        "home/shellies/+/announce",
        "home/+/status/+",
        "home/+/events/rpc",
        "home/+/online",
        "z2m/#",
        "esp/+/sensor/+/state",
        "esp/+/switch/+/state",
        "esp/+/status",
    ]
    some = Settings(_env_file=None, mqtt_vendors="zigbee2mqtt,native", mqtt_zigbee2mqtt_prefix="z2m")
    assert subscription_filters(some) == ["anbu/+/reading", "anbu/+/status", "z2m/#"]


def test_decoding_a_routed_topic_passes_the_households_zone_and_the_units_on() -> None:
    # Tasmota and Zigbee2MQTT clocks without an offset are read in the household's zone (Asia/Seoul).
    [tasmota] = decoded("tele/p1/STATE", b'{"Time":"2026-03-02T09:00:00"}')
    assert tasmota == observation(TASMOTA, "p1", ts=datetime(2026, 3, 2, 0, 0, tzinfo=UTC))
    [z2m] = decoded("zigbee2mqtt/tv", b'{"power":5,"last_seen":"2026-03-02T09:00:00"}')
    assert z2m == observation(Z2M, "tv", power_w=5.0, ts=datetime(2026, 3, 2, 0, 0, tzinfo=UTC))
    # ESPHome units come from the settings: "total" is not a known sensor by default.
    kwh = Settings(_env_file=None, mqtt_esphome_units="total=kWh")
    [esphome] = decoded("plug/sensor/total/state", b"1.5", kwh)
    assert esphome == observation(ESPHOME, "plug", energy_wh=1500.0)
    assert decoded("plug/sensor/total/state", b"1.5") == [observation(ESPHOME, "plug")]


def test_a_route_of_no_known_vendor_is_refused_by_name() -> None:
    foreign = Route("acme", "d1", "reading")  # type: ignore[arg-type]
    with pytest.raises(DecodeError) as excinfo:
        decode_route(foreign, b"{}", settings=SETTINGS, default_tz="UTC")
    assert excinfo.value.reason == "no adapter for acme"


def test_decode_route_decodes_each_vendor_with_the_route_it_is_given() -> None:
    routed: list[tuple[Route, bytes, Observation]] = [
        (Route(NATIVE, "k1", "reading"), b'{"v":1,"power_w":3}', observation(NATIVE, "k1", power_w=3.0)),
        (Route(TASMOTA, "p1", "LWT"), b"Online", observation(TASMOTA, "p1", online=True)),
        (Route(GEN1, "sh1", "power", "1"), b"7", observation(GEN1, "sh1", "1", power_w=7.0)),
        (Route(SHELLY, "plug1", "online"), b"true", observation(SHELLY, "plug1", online=True)),
        (Route(Z2M, "tv", "state"), b'{"power":9}', observation(Z2M, "tv", power_w=9.0)),
        (Route(ESPHOME, "plug", "sensor", "power"), b"12", observation(ESPHOME, "plug", power_w=12.0)),
    ]
    for route, payload, expected in routed:
        assert decode_route(route, payload, settings=SETTINGS, default_tz="UTC") == [expected]


def test_routers_are_kept_per_configuration_and_all_dropped_past_sixteen() -> None:
    adapters._routers.clear()
    configs = [Settings(_env_file=None, mqtt_native_prefix=f"n{i}") for i in range(17)]
    routers = [adapters._router(config) for config in configs[:16]]
    assert adapters._router(configs[0]) is routers[0]  # the same configuration, the same memory
    assert len(adapters._routers) == 16
    assert adapters._router(configs[16]) is not routers[0]
    assert len(adapters._routers) == 1  # the 17th configuration cleared the others
    assert adapters._router(configs[0]) is not routers[0]
    assert route_of("n3/k1/reading", configs[3]) == Route(NATIVE, "k1", "reading")


def test_a_router_computes_each_topics_answer_once(monkeypatch: pytest.MonkeyPatch) -> None:
    computed: list[str] = []

    def counted(topic: str, matchers: list[tuple[DeviceVendor, adapters._Matcher]]) -> Route | str:
        computed.append(topic)
        return route_uncached(topic, matchers)

    route_uncached = adapters._route_uncached
    monkeypatch.setattr(adapters, "_route_uncached", counted)
    router = adapters._Router(SETTINGS)
    for _ in range(3):
        assert router.route("anbu/k1/reading") == Route(NATIVE, "k1", "reading")
        assert router.route("nobody/here") == "unknown topic"
    assert computed == ["anbu/k1/reading", "nobody/here"]


def test_a_router_remembers_each_answer_it_computed() -> None:
    router = adapters._Router(SETTINGS)
    assert router.route("anbu/k1/reading") == Route(NATIVE, "k1", "reading")
    assert router.route("nobody/here") == "unknown topic"
    assert router._known == {
        "anbu/k1/reading": Route(NATIVE, "k1", "reading"),
        "nobody/here": "unknown topic",
    }
