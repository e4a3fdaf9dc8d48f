from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from simulator.plugs import EnergyMeter, SimulatedPlug, encode_native_reading, encode_tasmota_sensor

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 09:00 in Seoul
DOC_EXAMPLE = (  # tasmota docs, tele/pow1/SENSOR
    '{"Time":"2018-02-15T17:37:10","ENERGY":{"TotalStartTime":"2018-11-14T18:39:40","Total":6.294,'
    '"Yesterday":5.340,"Today":0.954,"Period":217,"Power":2635,"ApparentPower":2650,"ReactivePower":282,'
    '"Factor":0.99,"Voltage":227,"Current":11.661}}'
)


def test_tasmota_reading_has_the_documented_shape_and_units():
    plug = SimulatedPlug(
        "tasmota", "tasmota_A1B2C3", started_at=T0, initial_energy_wh=1234.5, power_factor=1.0
    )
    plug.reading(T0, 1000.0)
    message = plug.reading(T0 + timedelta(hours=1), 1800.0)
    assert message.topic == "tele/tasmota_A1B2C3/SENSOR" and message.qos == 1 and not message.retain
    data = json.loads(message.payload)
    assert list(data) == ["Time", "ENERGY"]
    assert list(data["ENERGY"]) == list(json.loads(DOC_EXAMPLE)["ENERGY"])  # same keys, same order
    assert data["Time"] == "2026-03-02T10:00:00"  # local (Asia/Seoul), no offset
    assert data["ENERGY"]["TotalStartTime"] == "2026-03-02T09:00:00"
    energy = data["ENERGY"]
    assert energy["Total"] == pytest.approx(2.2345, abs=5e-4)  # kWh (3 decimals): 1234.5 Wh + 1 h at 1 kW
    assert energy["Today"] == pytest.approx(1.0) and energy["Yesterday"] == 0
    assert energy["Period"] == 1000  # Wh since the previous periodic report
    assert energy["Power"] == 1800 and energy["Factor"] == 1.0 and energy["Voltage"] == 220
    assert energy["Current"] == pytest.approx(1800 / 220, abs=1e-3)


def test_tasmota_numbers_keep_firmware_decimals():
    payload = encode_tasmota_sensor(
        local_time=datetime(2026, 1, 1, 7, 0),
        total_start_time=datetime(2025, 1, 1),
        total_kwh=6.0,
        yesterday_kwh=0.0,
        today_kwh=0.5,
        power_w=0.0,
        period_wh=0.0,
    )
    assert '"Total":6.000,' in payload and '"Yesterday":0.000,' in payload and '"Today":0.500,' in payload
    assert '"Power":0,' in payload and '"Factor":0.00,' in payload and '"Current":0.000}' in payload
    assert " " not in payload  # compact, like the firmware


def test_change_triggered_tasmota_reading_has_no_period():
    plug = SimulatedPlug("tasmota", "tasmota_A1B2C3", started_at=T0)
    plug.reading(T0, 90.0)
    data = json.loads(plug.reading(T0 + timedelta(seconds=30), 1.0, periodic=False).payload)
    assert "Period" not in data["ENERGY"]
    # the energy of the change-triggered interval is still in the next periodic Period
    later = json.loads(plug.reading(T0 + timedelta(seconds=60), 1.0).payload)
    assert later["ENERGY"]["Period"] == round(90 * 30 / 3600 + 1 * 30 / 3600)


def test_native_reading_shape():
    plug = SimulatedPlug("native", "anbu-plug-0a1b2c", started_at=T0, initial_energy_wh=100.0)
    plug.reading(T0, 700.0)
    message = plug.reading(T0 + timedelta(minutes=30), 40.0)
    assert message.topic == "anbu/anbu-plug-0a1b2c/reading"
    data = json.loads(message.payload)
    assert data == {
        "v": 1,
        "ts": (T0 + timedelta(minutes=30)).timestamp(),
        "power_w": 40.0,
        "energy_wh": pytest.approx(450.0),
        "channel": "0",
    }


def test_native_reading_refuses_naive_time():
    with pytest.raises(ValueError, match="aware"):
        encode_native_reading(ts=datetime(2026, 1, 1), power_w=1, energy_wh=1)


@pytest.mark.parametrize(
    ("vendor", "topic", "online", "offline"),
    [
        ("tasmota", "tele/tasmota_A1B2C3/LWT", "Online", "Offline"),
        ("native", "anbu/tasmota_A1B2C3/status", "online", "offline"),
    ],
)
def test_availability_is_retained(vendor, topic, online, offline):
    plug = SimulatedPlug(vendor, "tasmota_A1B2C3", started_at=T0)
    assert (plug.online().topic, plug.online().payload, plug.online().retain) == (topic, online, True)
    assert (plug.offline().topic, plug.offline().payload, plug.offline().retain) == (topic, offline, True)


def test_meter_splits_energy_at_local_midnight():
    seoul = ZoneInfo("Asia/Seoul")
    start = datetime(2026, 3, 2, 23, 0, tzinfo=seoul)
    meter = EnergyMeter(seoul, start, initial_wh=0.0)
    meter.advance(start, 100.0)
    meter.advance(start + timedelta(hours=2), 0.0)  # 01:00 next day
    assert meter.total_wh == pytest.approx(200.0)
    assert meter.yesterday_wh == pytest.approx(100.0) and meter.today_wh == pytest.approx(100.0)


def test_meter_over_several_days_keeps_the_last_full_day_as_yesterday():
    seoul = ZoneInfo("Asia/Seoul")
    start = datetime(2026, 3, 2, 12, 0, tzinfo=seoul)
    meter = EnergyMeter(seoul, start)
    meter.advance(start, 10.0)
    meter.advance(start + timedelta(days=3), 10.0)  # 12:00 three days later
    assert meter.yesterday_wh == pytest.approx(240.0) and meter.today_wh == pytest.approx(120.0)
    assert meter.total_wh == pytest.approx(720.0)


def test_meter_refuses_to_go_back_in_time():
    meter = EnergyMeter(ZoneInfo("UTC"), T0)
    meter.advance(T0 + timedelta(minutes=1), 5.0)
    with pytest.raises(ValueError, match="backwards"):
        meter.advance(T0, 5.0)


def test_unknown_vendor_is_refused():
    with pytest.raises(ValueError, match="vendor"):
        SimulatedPlug("shelly", "x", started_at=T0)  # type: ignore[arg-type]


def test_tasmota_time_has_no_offset():
    plug = SimulatedPlug("tasmota", "t", started_at=T0, timezone="Europe/London")
    data = json.loads(plug.reading(datetime(2026, 7, 1, 12, 0, tzinfo=UTC), 0).payload)
    assert data["Time"] == "2026-07-01T13:00:00" and re.fullmatch(r"[\d\-T:]+", data["Time"])
