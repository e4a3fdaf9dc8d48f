"""Tasmota payloads from the Tasmota docs (MQTT.md, Sonoff-Pow-R2.md) decode to observations."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.enums import DeviceVendor
from core.settings import Settings
from gateway.adapters import decode
from gateway.observation import DecodeError, Observation

SETTINGS = Settings(_env_file=None)

# Verbatim from docs/devices/Sonoff-Pow-R2.md and docs/MQTT.md (via research/wire-formats.md §1).
POW_SENSOR = (
    b'{"Time":"2018-02-15T17:37:10","ENERGY":{"TotalStartTime":"2018-11-14T18:39:40","Total":6.294,'
    b'"Yesterday":5.340,"Today":0.954,"Period":217,"Power":2635,"ApparentPower":2650,"ReactivePower":282,'
    b'"Factor":0.99,"Voltage":227,"Current":11.661}}'
)
POW_STATUS8 = (
    b'{"StatusSNS":{"Time":"2018-11-15T08:54:18","ENERGY":{"TotalStartTime":"2018-11-14T18:39:40",'
    b'"Total":6.404,"Yesterday":5.340,"Today":1.064,"Power":2629,"ApparentPower":2645,"ReactivePower":288,'
    b'"Factor":0.99,"Voltage":226,"Current":11.677}}}'
)
STATE = (
    b'{"Time":"2019-10-31T11:14:59","Uptime":"0T18:36:12","UptimeSec":66972,"Vcc":3.423,"Heap":28,'
    b'"SleepMode":"Dynamic","Sleep":50,"LoadAvg":19,"MqttCount":6,"POWER":"OFF","Wifi":{"AP":1,'
    b'"SSId":"Tasmota","BSSId":"00:00:00:00:00:00","Channel":13,"RSSI":100,"LinkCount":1,"Downtime":"0T00:00:06"}}'
)
# Constructed from xdrv_03_energy.ino's rules (two channels, common voltage), as in the research note.
SHELLY25_SENSOR = (
    b'{"Time":"2024-03-10T21:15:00","ENERGY":{"TotalStartTime":"2023-01-05T10:00:00","Total":41.253,'
    b'"Yesterday":0.311,"Today":0.087,"Period":[2,0],"Power":[24,0],"ApparentPower":[31,0],'
    b'"ReactivePower":[19,0],"Factor":[0.78,0.00],"Frequency":50,"Voltage":231,"Current":[0.134,0.000]}}'
)


def _decode(topic: str, payload: bytes, tz: str = "Asia/Seoul") -> list[Observation]:
    return decode(topic, payload, settings=SETTINGS, default_tz=tz)


def test_pow_sensor_is_one_reading_in_watts_and_watt_hours() -> None:
    [obs] = _decode("tele/pow1/SENSOR", POW_SENSOR)
    assert obs.vendor is DeviceVendor.TASMOTA
    assert obs.device_id == "pow1"
    assert obs.channel == "0"
    assert obs.power_w == 2635.0
    assert obs.energy_wh == pytest.approx(6294.0, abs=1e-6)
    assert obs.online is None
    # No offset: local time in the given zone (Seoul is UTC+9).
    assert obs.ts == datetime(2018, 2, 15, 8, 37, 10, tzinfo=UTC)


def test_local_time_follows_the_zone_it_is_given() -> None:
    [obs] = _decode("tele/pow1/SENSOR", POW_SENSOR, tz="Europe/London")
    assert obs.ts == datetime(2018, 2, 15, 17, 37, 10, tzinfo=UTC)


def test_time_with_offset_ignores_the_local_zone() -> None:
    payload = b'{"Time":"2021-06-27T15:03:44+02:00","ENERGY":{"Power":5,"Total":0.1}}'
    [obs] = _decode("tele/p/SENSOR", payload, tz="Asia/Seoul")
    assert obs.ts == datetime(2021, 6, 27, 13, 3, 44, tzinfo=UTC)


def test_legacy_dotted_time_is_read_as_local_time() -> None:
    [obs] = _decode("tele/p/SENSOR", b'{"Time":"2018.02.15 01:00:50","ENERGY":{"Power":1}}', tz="UTC")
    assert obs.ts == datetime(2018, 2, 15, 1, 0, 50, tzinfo=UTC)


@pytest.mark.parametrize("kind", ["STATUS8", "STATUS10"])
def test_status_replies_decode_like_sensor(kind: str) -> None:
    [obs] = _decode(f"stat/pow1/{kind}", POW_STATUS8)
    assert (obs.device_id, obs.channel, obs.power_w) == ("pow1", "0", 2629.0)
    assert obs.energy_wh == pytest.approx(6404.0, abs=1e-6)
    assert obs.ts == datetime(2018, 11, 14, 23, 54, 18, tzinfo=UTC)


def test_power_array_is_one_observation_per_channel_and_scalar_total_is_the_device() -> None:
    observations = _decode("tele/tasmota_shelly25/SENSOR", SHELLY25_SENSOR)
    by_channel = {o.channel: o for o in observations}
    assert set(by_channel) == {"0", "1", "2"}
    assert (by_channel["1"].power_w, by_channel["2"].power_w) == (24.0, 0.0)
    assert by_channel["1"].energy_wh is None and by_channel["2"].energy_wh is None
    # The summed Total belongs to the whole device, with no invented power.
    assert by_channel["0"].power_w is None
    assert by_channel["0"].energy_wh == pytest.approx(41253.0, abs=1e-6)


def test_total_array_splits_energy_per_channel() -> None:
    payload = b'{"Time":"2024-03-10T21:15:00","ENERGY":{"Total":[1.5,0.25],"Power":[100,0]}}'
    observations = _decode("tele/dual/SENSOR", payload)
    assert [(o.channel, o.power_w, o.energy_wh) for o in observations] == [
        ("1", 100.0, 1500.0),
        ("2", 0.0, 250.0),
    ]


def test_mismatched_channel_arrays_are_rejected() -> None:
    with pytest.raises(DecodeError, match="different numbers of channels"):
        _decode("tele/d/SENSOR", b'{"ENERGY":{"Total":[1,2,3],"Power":[1,2]}}')


def test_state_is_a_heartbeat_without_power() -> None:
    [obs] = _decode("tele/tasmota/STATE", STATE)
    assert (obs.power_w, obs.energy_wh, obs.online) == (None, None, None)
    assert not obs.is_reading and not obs.is_availability
    assert obs.ts == datetime(2019, 10, 31, 2, 14, 59, tzinfo=UTC)


def test_sensor_without_energy_is_a_heartbeat() -> None:
    [obs] = _decode("tele/th/SENSOR", b'{"Time":"2024-01-01T00:00:00","AM2301":{"Temperature":21.3}}')
    assert not obs.is_reading


def test_energy_without_power_keeps_power_unknown() -> None:
    [obs] = _decode("tele/p/SENSOR", b'{"ENERGY":{"Total":2.5}}')
    assert obs.power_w is None
    assert obs.energy_wh == 2500.0
    assert obs.ts is None  # no Time: the gateway will use the receive time


@pytest.mark.parametrize(
    ("payload", "online"), [(b"Online", True), (b"Offline", False), (b" offline\n", False)]
)
def test_lwt_is_availability(payload: bytes, online: bool) -> None:
    [obs] = _decode("tele/p/LWT", payload)
    assert obs.online is online
    assert obs.power_w is None and obs.ts is None


def test_zero_power_stays_zero() -> None:
    [obs] = _decode("tele/p/SENSOR", b'{"ENERGY":{"Power":0}}')
    assert obs.power_w == 0.0


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("tele/p/SENSOR", b'{"ENERGY":{"Power":-3}}', "negative"),
        ("tele/p/SENSOR", b'{"ENERGY":{"Power":25000}}', "implausibly large"),
        ("tele/p/SENSOR", b'{"ENERGY":{"Power":[10,25000]}}', "implausibly large"),
        ("tele/p/SENSOR", b'{"ENERGY":{"Power":NaN}}', "NaN"),
        ("tele/p/SENSOR", b'{"ENERGY":{"Power":Infinity}}', "Infinity"),
        ("tele/p/SENSOR", b'{"ENERGY":{"Power":1e999}}', "finite"),
        ("tele/p/SENSOR", b'{"ENERGY":{"Power":"12"}}', "must be a number"),
        ("tele/p/SENSOR", b'{"ENERGY":{"Power":true}}', "must be a number"),
        ("tele/p/SENSOR", b'{"ENERGY":{"Power":[]}}', "empty list"),
        ("tele/p/SENSOR", b'{"ENERGY":{"Power":[1,null]}}', "must be a number"),
        ("tele/p/SENSOR", b'{"ENERGY":{"Total":-1}}', "negative"),
        ("tele/p/SENSOR", b'{"ENERGY":[1,2]}', "ENERGY must be an object"),
        ("tele/p/SENSOR", b'{"Time":"yesterday","ENERGY":{"Power":1}}', "ISO 8601"),
        ("tele/p/SENSOR", b'{"Time":"2024-02-30T10:00:00","ENERGY":{"Power":1}}', "not a valid date"),
        ("tele/p/SENSOR", b"[1,2,3]", "expected a JSON object"),
        ("tele/p/SENSOR", b"{not json", "invalid JSON"),
        ("tele/p/SENSOR", b'{"ENERGY":{"Power":1}', "invalid JSON"),
        ("tele/p/SENSOR", b"\xff\xfe", "not valid UTF-8"),
        ("tele/p/SENSOR", b'{"a":' * 20 + b"1" + b"}" * 20, "nested too deeply"),
        ("tele/p/SENSOR", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        ("tele/p/LWT", b"maybe", "availability must be"),
        ("stat/p/STATUS8", b'{"ENERGY":{"Power":1}}', "no StatusSNS"),
        ("tele/p/POWER", b"ON", "unknown topic"),
        ("stat/p/RESULT", b'{"POWER":"ON"}', "unknown topic"),
        ("tele/a/b/SENSOR", b"{}", "unknown topic"),
        ("tele/bad+id/SENSOR", b"{}", "invalid device id"),
        ("tele//SENSOR", b"{}", "invalid device id"),
    ],
)
def test_bad_input_is_a_decode_error_with_a_reason(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as excinfo:
        _decode(topic, payload)
    assert reason in excinfo.value.reason


def test_custom_tasmota_prefix_is_honoured() -> None:
    settings = Settings(_env_file=None, mqtt_tasmota_prefix="home/tele")
    [obs] = decode("home/tele/plug7/SENSOR", b'{"ENERGY":{"Power":3}}', settings=settings, default_tz="UTC")
    assert obs.device_id == "plug7"
    with pytest.raises(DecodeError, match="unknown topic"):
        decode("tele/plug7/SENSOR", b'{"ENERGY":{"Power":3}}', settings=settings, default_tz="UTC")
