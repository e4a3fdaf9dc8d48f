"""Tasmota rules that mutation testing found unpinned (docs/testing.md, gateway/adapters/tasmota.py).

Whole observations are compared, not single fields, so a heartbeat or an LWT that lost its device,
channel or time is noticed; channel order and limits, sub-Wh energy and the topic edges of the
Tasmota tree each get their own case.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from core.enums import DeviceVendor
from core.settings import Settings
from gateway.adapters import decode, parse_topic, tasmota
from gateway.adapters._common import MAX_CHANNELS
from gateway.observation import DecodeError, Observation

SETTINGS = Settings(_env_file=None)
T = DeviceVendor.TASMOTA
SEOUL_NOON = datetime(2024, 3, 10, 3, 0, tzinfo=UTC)  # "2024-03-10T12:00:00" local in Seoul


def _decode(topic: str, payload: bytes) -> list[Observation]:
    return decode(topic, payload, settings=SETTINGS, default_tz="Asia/Seoul")


def _obs(channel: str = "0", **values: object) -> Observation:
    fields: dict[str, object] = {"power_w": None, "energy_wh": None, "online": None, "ts": None}
    fields.update(values)
    return Observation(vendor=T, device_id="plug-7", channel=channel, **fields)  # type: ignore[arg-type]


# --- heartbeats and availability keep the device, the channel and the time ----------------------


def test_state_heartbeat_is_the_whole_device_at_the_reported_time() -> None:
    payload = b'{"Time":"2024-03-10T12:00:00","Uptime":"0T01:00:00","POWER":"ON"}'
    assert _decode("tele/plug-7/STATE", payload) == [_obs(ts=SEOUL_NOON)]


def test_sensor_without_energy_is_a_heartbeat_of_the_whole_device_at_its_time() -> None:
    payload = b'{"Time":"2024-03-10T12:00:00","AM2301":{"Temperature":21.3}}'
    assert _decode("tele/plug-7/SENSOR", payload) == [_obs(ts=SEOUL_NOON)]


def test_an_empty_energy_object_is_a_heartbeat_too() -> None:
    payload = b'{"Time":"2024-03-10T12:00:00","ENERGY":{"Voltage":230}}'
    assert _decode("tele/plug-7/SENSOR", payload) == [_obs(ts=SEOUL_NOON)]


@pytest.mark.parametrize(("payload", "online"), [(b"Online", True), (b"Offline", False)])
def test_lwt_is_the_whole_devices_availability(payload: bytes, online: bool) -> None:
    assert _decode("tele/plug-7/LWT", payload) == [_obs(online=online)]


def test_status_reply_is_a_reading_of_the_named_device() -> None:
    payload = b'{"StatusSNS":{"Time":"2024-03-10T12:00:00","ENERGY":{"Power":12,"Total":0.5}}}'
    assert _decode("stat/plug-7/STATUS10", payload) == [_obs(power_w=12.0, energy_wh=500.0, ts=SEOUL_NOON)]


# --- channels: numeric order past 9, at most 32 ---------------------------------------------------


def _channels(n: int) -> bytes:
    powers = list(range(10, 10 + n))
    return json.dumps({"ENERGY": {"Power": powers, "Total": [p / 1000 for p in powers]}}).encode()


def test_channels_come_in_numeric_order_past_nine() -> None:
    observations = _decode("tele/plug-7/SENSOR", _channels(12))
    assert [o.channel for o in observations] == [str(i) for i in range(1, 13)]
    # each channel keeps its own values: channel "10" is the tenth entry, not the second
    assert [(o.power_w, o.energy_wh) for o in observations] == [(float(p), float(p)) for p in range(10, 22)]


def test_thirty_two_channels_are_accepted_and_thirty_three_refused() -> None:
    assert MAX_CHANNELS == 32
    assert len(_decode("tele/plug-7/SENSOR", _channels(32))) == 32
    with pytest.raises(DecodeError) as refused:
        _decode("tele/plug-7/SENSOR", _channels(33))
    assert refused.value.reason == "ENERGY.Power has more than 32 channels"


def test_a_bad_channel_value_names_its_position() -> None:
    with pytest.raises(DecodeError) as refused:
        _decode("tele/plug-7/SENSOR", b'{"ENERGY":{"Power":[1,2,-3]}}')
    assert "ENERGY.Power[2]" in refused.value.reason


# --- energy: kWh on the wire, Wh stored, exact below 1 Wh --------------------------------------------


@pytest.mark.parametrize(
    ("total_kwh", "wh"),
    [
        ("6.294", 6294.0),  # 6.294 * 1000 is 6293.999999999999 in floats: rounded, not truncated
        ("0.0004", 0.4),  # below 1 Wh: kept, not rounded to a whole Wh
        ("0.00001", 0.01),  # Tasmota's finest EnergyRes (5 decimals)
        ("12.3456789", 12345.6789),
        ("0.0000004", 0.0004),  # the 6th decimal of a Wh still counts...
        ("0.0000000004", 0.0),  # ...the 7th is float noise
    ],
)
def test_energy_is_watt_hours_to_a_millionth(total_kwh: str, wh: float) -> None:
    payload = b'{"ENERGY":{"Total":' + total_kwh.encode() + b"}}"
    [obs] = _decode("tele/plug-7/SENSOR", payload)
    assert obs.energy_wh == wh  # exact: the stored value is rounded to 6 decimals of a Wh


# --- topics: the edges of the Tasmota tree ---------------------------------------------------------


@pytest.mark.parametrize("topic", ["tele", "stat"])
def test_the_bare_root_is_not_a_tasmota_topic(topic: str) -> None:
    assert tasmota.match(topic, SETTINGS) is None  # nothing below the root: another vendor may own it
    with pytest.raises(DecodeError, match="unknown topic"):
        parse_topic(topic, SETTINGS)


@pytest.mark.parametrize("topic", ["tele/plug-7", "stat/plug-7", "tele/plug-7/", "stat/plug-7/STATUS"])
def test_topics_under_the_root_that_are_no_message_are_unknown(topic: str) -> None:
    with pytest.raises(DecodeError, match="unknown topic"):
        tasmota.match(topic, SETTINGS)


@pytest.mark.parametrize("kind", ["SENSOR", "STATE", "LWT"])
def test_telemetry_kinds_under_stat_are_unknown_topics(kind: str) -> None:
    with pytest.raises(DecodeError, match="unknown topic"):
        tasmota.match(f"stat/plug-7/{kind}", SETTINGS)
    route = tasmota.match(f"tele/plug-7/{kind}", SETTINGS)
    assert route is not None and (route.device_id, route.kind) == ("plug-7", kind)


@pytest.mark.parametrize("kind", ["STATUS8", "STATUS10"])
def test_status_kinds_under_tele_are_unknown_topics(kind: str) -> None:
    with pytest.raises(DecodeError, match="unknown topic"):
        tasmota.match(f"tele/plug-7/{kind}", SETTINGS)
    route = tasmota.match(f"stat/plug-7/{kind}", SETTINGS)
    assert route is not None and (route.device_id, route.kind) == ("plug-7", kind)


def test_device_ids_are_at_most_64_characters() -> None:
    assert tasmota.match("tele/" + "d" * 64 + "/SENSOR", SETTINGS) is not None
    with pytest.raises(DecodeError, match="invalid device id"):
        tasmota.match("tele/" + "d" * 65 + "/SENSOR", SETTINGS)


# --- refusals name the field and the value at fault -------------------------------------------------

SENSOR = "tele/plug-7/SENSOR"


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (SENSOR, b'{"ENERGY":[1,2]}', "ENERGY must be an object, got [1, 2]"),
        (
            SENSOR,
            b'{"ENERGY":{"Power":[1,2],"Total":[1,2,3]}}',
            "ENERGY.Power and ENERGY.Total have different numbers of channels",
        ),
        (SENSOR, b'{"ENERGY":{"Power":"12"}}', "ENERGY.Power must be a number, got '12'"),
        (SENSOR, b'{"ENERGY":{"Power":[1,"x"]}}', "ENERGY.Power[1] must be a number, got 'x'"),
        (SENSOR, b'{"ENERGY":{"Total":"6.3"}}', "ENERGY.Total must be a number, got '6.3'"),
        (SENSOR, b'{"ENERGY":{"Total":[1,"x"]}}', "ENERGY.Total[1] must be a number, got 'x'"),
        (SENSOR, b'{"ENERGY":{"Total":-1}}', "ENERGY.Total is negative (-1000 Wh)"),
        (SENSOR, b'{"ENERGY":{"Total":[1,-0.5]}}', "ENERGY.Total[1] is negative (-500 Wh)"),
        (SENSOR, b'{"Time":"yesterday"}', "Time is not an ISO 8601 timestamp: 'yesterday'"),
        ("tele/plug-7/STATE", b'{"Time":12}', "Time must be a string, got 12"),
        # the words Tasmota sends, spelt as it spells them
        ("tele/plug-7/LWT", b"maybe", "availability must be 'Online' or 'Offline', got 'maybe'"),
        ("tele/plug+7/SENSOR", b"{}", "invalid device id 'plug+7' in topic"),
        ("tele/plug-7/POWER", b"ON", "unknown topic"),
    ],
)
def test_a_refused_message_names_the_field_and_the_value(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as refused:
        _decode(topic, payload)
    assert refused.value.reason == reason


def test_a_kind_no_route_gives_is_refused_by_name() -> None:
    # The router only hands over the kinds above; a caller that passes another is told which.
    with pytest.raises(DecodeError) as refused:
        tasmota.decode("POWER", "plug-7", b"ON", local_tz="Asia/Seoul")
    assert refused.value.reason == "unknown Tasmota message kind 'POWER'"
