"""Shelly Gen1/Gen2, Zigbee2MQTT and ESPHome payloads (as documented by each vendor) decode to observations.

Payloads are the documented examples quoted in ../shared/design/research/wire-formats.md §2-§4.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.enums import DeviceVendor
from core.settings import Settings
from gateway.adapters import decode, parse_topic, subscription_filters, topic_device
from gateway.observation import DecodeError, Observation

SETTINGS = Settings(_env_file=None)
GEN1 = "shellies/shellyplug-s-7E0E6C"
GEN2 = "shellyplusplugs-e465b8b7a1c4"

# Shelly Plus Plug S status/switch:0 (captured shape, Shelly's ", " separators kept).
GEN2_SWITCH_STATUS = (
    b'{"id":0, "source":"init", "output":true, "apower":8.6, "voltage":229.8, "current":0.071, '
    b'"aenergy":{"total":2583.511,"by_minute":[143.210,143.210,140.118],"minute_ts":1714550460},'
    b'"temperature":{"tC":33.9, "tF":93.0}}'
)
GEN2_NOTIFY_STATUS = (
    b'{"src":"shellyplusplugs-e465b8b7a1c4","dst":"shellyplusplugs-e465b8b7a1c4/events",'
    b'"method":"NotifyStatus","params":{"ts":1714550502.35,"switch:0":{"id":0,"apower":1520.4,"current":6.612}}}'
)
Z2M_TV_PLUG = (
    b'{"current":0.05,"energy":12.5,"linkquality":120,"power":9.8,"power_outage_memory":"restore",'
    b'"state":"ON","voltage":231}'
)


def _decode(topic: str, payload: bytes, settings: Settings = SETTINGS) -> list[Observation]:
    return decode(topic, payload, settings=settings, default_tz="Asia/Seoul")


def _one(topic: str, payload: bytes, settings: Settings = SETTINGS) -> Observation:
    observations = _decode(topic, payload, settings)
    assert len(observations) == 1
    return observations[0]


def _values(obs: Observation) -> tuple[object, ...]:
    return (obs.vendor, obs.device_id, obs.channel, obs.power_w, obs.energy_wh, obs.online, obs.ts)


# --- Shelly Gen1 -----------------------------------------------------------------------------


def test_gen1_power_is_watts_on_the_relay_channel() -> None:
    obs = _one(f"{GEN1}/relay/0/power", b"42.57")
    assert _values(obs) == (DeviceVendor.SHELLY_GEN1, "shellyplug-s-7E0E6C", "0", 42.57, None, None, None)
    assert _one(f"{GEN1}/relay/1/power", b"0").channel == "1"


def test_gen1_energy_is_watt_minutes_stored_as_wh() -> None:
    obs = _one(f"{GEN1}/relay/0/energy", b"7260")
    assert (obs.power_w, obs.energy_wh) == (None, 121.0)  # 7260 W·min / 60; no power invented


def test_gen1_relay_state_and_announce_are_heartbeats() -> None:
    for payload in (b"on", b"off", b"overpower"):
        obs = _one(f"{GEN1}/relay/0", payload)
        assert (obs.power_w, obs.energy_wh, obs.online) == (None, None, None)
    announce = (
        b'{"id":"shellyplug-s-7E0E6C","model":"SHPLG-S","mac":"C45BBE7E0E6C","ip":"192.168.1.50",'
        b'"new_fw":false,"fw_ver":"20230913-114008/v1.14.0-gcb84623"}'
    )
    assert _one("shellies/announce", announce).device_id == "shellyplug-s-7E0E6C"
    assert topic_device("shellies/announce", SETTINGS) is None  # the id is in the payload
    assert _one(f"{GEN1}/announce", announce).device_id == "shellyplug-s-7E0E6C"


def test_gen1_online_is_availability() -> None:
    assert _one(f"{GEN1}/online", b"true").online is True
    assert _one(f"{GEN1}/online", b"false").online is False


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (f"{GEN1}/relay/0/power", b"nan", "plain number"),
        (f"{GEN1}/relay/0/power", b"-3", "negative"),
        (f"{GEN1}/relay/0/power", b"25000", "implausibly large"),
        (f"{GEN1}/relay/0/energy", b"-1", "negative"),
        (f"{GEN1}/relay/0/energy", b"0x10", "plain number"),
        (f"{GEN1}/relay/0", b"maybe", "relay state"),
        (f"{GEN1}/online", b"yes", "availability"),
        (f"{GEN1}/temperature", b"31.2", "unknown topic"),
        ("shellies/bad id/relay/0/power", b"1", "invalid device id"),
        (f"{GEN1}/announce", b'{"id":"other-device"}', "does not match"),
    ],
)
def test_gen1_bad_messages_say_why(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        _decode(topic, payload)


# --- Shelly Gen2 / Plus / Gen3 ---------------------------------------------------------------


def test_gen2_switch_status_has_power_and_wh_total() -> None:
    obs = _one(f"{GEN2}/status/switch:0", GEN2_SWITCH_STATUS)
    assert _values(obs) == (DeviceVendor.SHELLY, GEN2, "0", 8.6, 2583.511, None, None)


def test_gen2_notify_status_partial_update_carries_only_what_changed() -> None:
    obs = _one(f"{GEN2}/events/rpc", GEN2_NOTIFY_STATUS)
    ts = datetime.fromtimestamp(1714550502.35, UTC)
    assert _values(obs) == (DeviceVendor.SHELLY, GEN2, "0", 1520.4, None, None, ts)


def test_gen2_notify_status_without_power_is_a_heartbeat_not_zero_watts() -> None:
    frame = b'{"method":"NotifyStatus","params":{"ts":1714550503,"switch:0":{"id":0,"current":6.6}}}'
    obs = _one(f"{GEN2}/events/rpc", frame)
    assert (obs.power_w, obs.energy_wh, obs.online) == (None, None, None)
    assert obs.ts == datetime.fromtimestamp(1714550503, UTC)


def test_gen2_full_status_gives_one_observation_per_metered_switch() -> None:
    frame = (
        b'{"method":"NotifyFullStatus","params":{"ts":1714550400.0,"sys":{"uptime":5},'
        b'"switch:1":{"id":1,"apower":0,"aenergy":{"total":10.0}},'
        b'"switch:0":{"id":0,"apower":12.5,"aenergy":{"total":2583.5}}}}'
    )
    observations = _decode(f"{GEN2}/events/rpc", frame)
    assert [(o.channel, o.power_w, o.energy_wh) for o in observations] == [
        ("0", 12.5, 2583.5),
        ("1", 0.0, 10.0),
    ]


def test_gen2_other_components_and_events_are_heartbeats() -> None:
    assert _one(f"{GEN2}/status/sys", b'{"uptime": 12}').power_w is None
    event = (
        b'{"method":"NotifyEvent","params":{"ts":1714550500,"events":[{"component":"switch:0","event":"x"}]}}'
    )
    assert _one(f"{GEN2}/events/rpc", event).power_w is None


def test_gen2_online_and_prefix_with_slashes() -> None:
    assert _one(f"{GEN2}/online", b"false").online is False
    nested = _one("home/plugs/kitchen/status/switch:0", GEN2_SWITCH_STATUS)
    assert (nested.vendor, nested.device_id) == (DeviceVendor.SHELLY, "home/plugs/kitchen")


def test_gen2_root_setting_strips_the_common_root() -> None:
    settings = Settings(_env_file=None, mqtt_shelly_prefix="shelly/")
    assert settings.mqtt_shelly_prefix == "shelly"
    assert _one(f"shelly/{GEN2}/online", b"true", settings).device_id == GEN2


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (f"{GEN2}/events/rpc", b'{"params":{}}', "method"),
        (f"{GEN2}/events/rpc", b'{"method":"NotifyStatus","params":[]}', "params must be an object"),
        (f"{GEN2}/events/rpc", b'{"method":"NotifyStatus","params":{"switch:0":{"apower":-5}}}', "negative"),
        (f"{GEN2}/events/rpc", b'{"method":"NotifyStatus","params":{"ts":1714550502350}}', "milliseconds"),
        (f"{GEN2}/status/switch:0", b'{"apower":"high"}', "must be a number"),
        (f"{GEN2}/status/switch:0", b'{"aenergy":5}', "aenergy must be an object"),
        (f"{GEN2}/online", b"maybe", "availability"),
    ],
)
def test_gen2_bad_messages_say_why(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        _decode(topic, payload)


# --- Zigbee2MQTT -----------------------------------------------------------------------------


def test_z2m_plug_power_watts_energy_kwh() -> None:
    obs = _one("zigbee2mqtt/tv_plug", Z2M_TV_PLUG)
    assert _values(obs) == (DeviceVendor.ZIGBEE2MQTT, "tv_plug", "0", 9.8, 12500.0, None, None)


def test_z2m_friendly_name_may_contain_slashes() -> None:
    obs = _one("zigbee2mqtt/living_room/kettle_plug", b'{"power":1800}')
    assert (obs.device_id, obs.power_w, obs.energy_wh) == ("living_room/kettle_plug", 1800.0, None)
    assert topic_device("zigbee2mqtt/living_room/kettle_plug/availability", SETTINGS) == (
        DeviceVendor.ZIGBEE2MQTT,
        "living_room/kettle_plug",
    )


def test_z2m_availability_json_and_legacy_string() -> None:
    topic = "zigbee2mqtt/living_room/kettle_plug/availability"
    assert _one(topic, b'{"state":"online"}').online is True
    assert _one(topic, b'{"state":"offline"}').online is False
    assert _one(topic, b"online").online is True
    assert _one(topic, b"offline").online is False


def test_z2m_bridge_state_is_bridge_wide() -> None:
    for payload, online in ((b'{"state":"offline"}', False), (b"online", True)):
        obs = _one("zigbee2mqtt/bridge/state", payload)
        assert (obs.device_id, obs.online) == (None, online)
    assert topic_device("zigbee2mqtt/bridge/state", SETTINGS) is None


def test_z2m_commands_and_bridge_chatter_are_ignored_not_errors() -> None:
    for topic in ("zigbee2mqtt/tv_plug/set", "zigbee2mqtt/tv_plug/get", "zigbee2mqtt/bridge/devices"):
        assert _decode(topic, b'{"state":"ON"}') == []


def test_z2m_message_without_power_is_a_heartbeat() -> None:
    obs = _one("zigbee2mqtt/tv_plug", b'{"state":"ON","linkquality":80,"power":null}')
    assert (obs.power_w, obs.energy_wh) == (None, None)


def test_z2m_last_seen_is_the_device_timestamp() -> None:
    iso = _one("zigbee2mqtt/tv_plug", b'{"power":5,"last_seen":"2024-05-01T01:15:30.123Z"}')
    assert iso.ts == datetime(2024, 5, 1, 1, 15, 30, 123000, tzinfo=UTC)
    epoch = _one("zigbee2mqtt/tv_plug", b'{"power":5,"last_seen":1714526130123}')  # milliseconds
    assert epoch.ts == datetime(2024, 5, 1, 1, 15, 30, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("zigbee2mqtt/tv_plug", b'{"power":"9.8"}', "must be a number"),
        ("zigbee2mqtt/tv_plug", b'{"energy":-1}', "negative"),
        ("zigbee2mqtt/tv_plug", b'{"power":NaN}', "NaN"),
        ("zigbee2mqtt/tv_plug", b"ON", "invalid JSON"),
        ("zigbee2mqtt/tv_plug/availability", b'{"state":"sleepy"}', "availability"),
        ("zigbee2mqtt//double", b"{}", "invalid device id"),
    ],
)
def test_z2m_bad_messages_say_why(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        _decode(topic, payload)


# --- ESPHome ---------------------------------------------------------------------------------


def test_esphome_default_units_power_w_energy_wh_total_kwh() -> None:
    node = "athom-smart-plug-v2"
    power = _one(f"{node}/sensor/power/state", b"23.4")
    assert _values(power) == (DeviceVendor.ESPHOME, node, "0", 23.4, None, None, None)
    assert _one(f"{node}/sensor/energy/state", b"1.250").energy_wh == 1.25
    assert _one(f"{node}/sensor/total_energy/state", b"1.250").energy_wh == 1250.0


def test_esphome_units_are_configurable_per_device() -> None:
    settings = Settings(_env_file=None, mqtt_esphome_units="power=W,kitchen-plug/energy=kWh,load=kW")
    assert _one("kitchen-plug/sensor/energy/state", b"2.5", settings).energy_wh == 2500.0
    assert _one("other-plug/sensor/energy/state", b"2.5", settings).energy_wh is None  # not configured
    assert _one("other-plug/sensor/load/state", b"1.2", settings).power_w == 1200.0


def test_esphome_nan_and_unconfigured_sensors_never_invent_power() -> None:
    for payload in (b"nan", b"NaN", b"None"):
        obs = _one("athom-smart-plug-v2/sensor/power/state", payload)
        assert (obs.power_w, obs.energy_wh) == (None, None)
    assert _one("athom-smart-plug-v2/sensor/voltage/state", b"231.2").power_w is None
    assert _one("athom-smart-plug-v2/switch/relay/state", b"ON").power_w is None


def test_esphome_status_is_availability() -> None:
    assert _one("athom-smart-plug-v2/status", b"online").online is True
    assert _one("athom-smart-plug-v2/status", b"offline").online is False
    assert parse_topic("home/esp/plug1/status", SETTINGS).device_id == "home/esp/plug1"


def test_esphome_bad_unit_setting_is_refused_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unit one of W, kW, Wh, kWh"):
        Settings(_env_file=None, mqtt_esphome_units="power=watts")


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("plug/sensor/power/state", b"-1", "negative"),
        ("plug/sensor/power/state", b"inf", "plain number"),
        ("plug/sensor/power/state", b"\xff", "UTF-8"),
        ("plug/switch/relay/state", b"dim", "relay state"),
        ("plug/status", b"gone", "availability"),
    ],
)
def test_esphome_bad_messages_say_why(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        _decode(topic, payload)


# --- routing -----------------------------------------------------------------------------------


def test_fixed_roots_own_their_namespace() -> None:
    # Under a vendor's fixed root an unused topic is unknown, not mistaken for an ESPHome/Shelly device.
    for topic in ("shellies/x/status", "anbu/x/online", "tele/x/status"):
        with pytest.raises(DecodeError, match="unknown topic"):
            parse_topic(topic, SETTINGS)
    assert topic_device("random/topic", SETTINGS) is None


def test_home_assistant_birth_message_is_not_an_esphome_node() -> None:
    with pytest.raises(DecodeError, match="unknown topic"):
        parse_topic("homeassistant/status", SETTINGS)


def test_disabled_vendors_are_neither_subscribed_nor_decoded() -> None:
    settings = Settings(_env_file=None, mqtt_vendors="native, tasmota")
    assert all(f.startswith(("anbu/", "tele/", "stat/")) for f in subscription_filters(settings))
    with pytest.raises(DecodeError, match="unknown topic"):
        parse_topic("zigbee2mqtt/tv_plug", settings)
    with pytest.raises(ValueError, match="unknown"):
        Settings(_env_file=None, mqtt_vendors="native,lifx")


# --- Tasmota FullTopic layouts -----------------------------------------------------------------

TASMOTA_SENSOR = b'{"Time":"2026-03-01T09:00:00","ENERGY":{"Total":6.294,"Power":2635}}'


def test_tasmota_default_fulltopic_is_prefix_then_topic() -> None:
    assert SETTINGS.mqtt_tasmota_fulltopic == "%prefix%/%topic%/"
    tasmota_filters = [f for f in subscription_filters(SETTINGS) if f.endswith(("SENSOR", "LWT", "STATUS8"))]
    assert tasmota_filters == ["tele/+/SENSOR", "tele/+/LWT", "stat/+/STATUS8"]
    obs = _one("tele/kettle1/SENSOR", TASMOTA_SENSOR)
    assert (obs.vendor, obs.device_id, obs.power_w) == (DeviceVendor.TASMOTA, "kettle1", 2635)
    assert _one("stat/kettle1/STATUS8", b'{"StatusSNS":{"ENERGY":{"Power":7}}}').power_w == 7


def test_tasmota_custom_fulltopic_drives_subscription_and_decoding() -> None:
    settings = Settings(_env_file=None, mqtt_tasmota_fulltopic="tasmota/%topic%/%prefix%/")
    filters = subscription_filters(settings)
    assert "tasmota/+/tele/SENSOR" in filters and "tasmota/+/stat/STATUS10" in filters
    assert not any(f.startswith(("tele/", "stat/")) for f in filters)
    obs = _one("tasmota/kettle1/tele/SENSOR", TASMOTA_SENSOR, settings)
    assert (obs.vendor, obs.device_id, obs.power_w, obs.energy_wh) == (
        DeviceVendor.TASMOTA,
        "kettle1",
        2635,
        6294,
    )
    assert obs.ts == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)  # 09:00 Seoul
    assert _one("tasmota/kettle1/tele/LWT", b"Offline", settings).online is False
    assert topic_device("tasmota/kettle1/stat/STATUS8", settings) == (DeviceVendor.TASMOTA, "kettle1")
    # The default layout's topics are no longer Tasmota's; under the custom root, strays are unknown.
    assert topic_device("tele/kettle1/SENSOR", settings) is None
    for topic in ("tasmota/kettle1/tele/POWER", "tasmota/kettle1/SENSOR", "tasmota/tele/kettle1/SENSOR"):
        with pytest.raises(DecodeError, match="unknown topic"):
            parse_topic(topic, settings)
    with pytest.raises(DecodeError, match="invalid device id"):
        parse_topic("tasmota//tele/SENSOR", settings)


def test_tasmota_fulltopic_with_hostname_and_multi_level_prefix() -> None:
    settings = Settings(
        _env_file=None,
        mqtt_tasmota_prefix="home/tele",
        mqtt_tasmota_fulltopic="site/%hostname%/%prefix%/%topic%",
    )
    assert "site/+/home/tele/+/SENSOR" in subscription_filters(settings)
    obs = _one("site/tasmota-1A2B3C-1234/home/tele/plug7/SENSOR", b'{"ENERGY":{"Power":3}}', settings)
    assert (obs.device_id, obs.power_w) == ("plug7", 3)


def test_tasmota_fulltopic_starting_with_topic_owns_no_root() -> None:
    settings = Settings(_env_file=None, mqtt_tasmota_fulltopic="%topic%/%prefix%/")
    assert "+/tele/SENSOR" in subscription_filters(settings)
    assert _one("kettle1/tele/SENSOR", TASMOTA_SENSOR, settings).device_id == "kettle1"
    # Other vendors' topics still reach their own adapters.
    assert _one("zigbee2mqtt/tv_plug", Z2M_TV_PLUG, settings).vendor is DeviceVendor.ZIGBEE2MQTT
    assert _one("athom-plug/status", b"online", settings).vendor is DeviceVendor.ESPHOME
    assert topic_device("kettle1/cmnd/POWER", settings) is None


@pytest.mark.parametrize(
    ("layout", "reason"),
    [
        ("%topic%/", "%prefix% must appear exactly once"),
        ("%prefix%/", "%topic% must appear exactly once"),
        ("%prefix%/%topic%/%topic%/", "%topic% must appear exactly once"),
        ("%prefix%/home-%topic%/", "whole topic level"),
        ("%prefix%//%topic%/", "empty topic level"),
        ("%prefix%/+/%topic%/", "no %, +, # or whitespace"),
        ("%prefix%/%topic%/%unknown%/", "no %, +, # or whitespace"),
    ],
)
def test_bad_tasmota_fulltopic_is_refused_with_a_clear_error(layout: str, reason: str) -> None:
    with pytest.raises(ValueError, match="ANBU_MQTT_TASMOTA_FULLTOPIC") as excinfo:
        Settings(_env_file=None, mqtt_tasmota_fulltopic=layout)
    assert reason in str(excinfo.value)
