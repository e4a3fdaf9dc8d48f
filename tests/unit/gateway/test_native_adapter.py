"""Anbu's native v1 format, as documented in docs/devices.md."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.enums import DeviceVendor
from core.settings import Settings
from gateway.adapters import decode, parse_topic, subscription_filters, topic_device
from gateway.observation import DecodeError, Observation

SETTINGS = Settings(_env_file=None)


def _decode(topic: str, payload: bytes) -> list[Observation]:
    return decode(topic, payload, settings=SETTINGS, default_tz="Asia/Seoul")


def test_documented_example_reading() -> None:
    payload = b'{"v": 1, "ts": 1772409600, "power_w": 1834.5, "energy_wh": 120345.2}'
    [obs] = _decode("anbu/kettle-01/reading", payload)
    assert obs == Observation(
        vendor=DeviceVendor.NATIVE,
        device_id="kettle-01",
        channel="0",
        power_w=1834.5,
        energy_wh=120345.2,
        online=None,
        ts=datetime(2026, 3, 2, 0, 0, tzinfo=UTC),
    )


def test_iso_timestamp_with_offset_and_explicit_channel() -> None:
    payload = b'{"v":1,"ts":"2026-03-02T09:00:00+09:00","power_w":0,"channel":"2"}'
    [obs] = _decode("anbu/strip_7/reading", payload)
    assert obs.ts == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    assert obs.channel == "2"
    assert obs.power_w == 0.0
    assert obs.energy_wh is None


def test_z_suffix_and_fractional_seconds() -> None:
    [obs] = _decode("anbu/d/reading", b'{"v":1,"ts":"2026-03-02T00:00:00.250Z","power_w":1}')
    assert obs.ts == datetime(2026, 3, 2, 0, 0, 0, 250_000, tzinfo=UTC)


def test_missing_ts_is_left_to_the_gateway() -> None:
    [obs] = _decode("anbu/d/reading", b'{"v":1,"power_w":3}')
    assert obs.ts is None


def test_energy_only_reading_does_not_invent_power() -> None:
    [obs] = _decode("anbu/meter/reading", b'{"v":1,"energy_wh":10,"power_w":null}')
    assert obs.power_w is None and obs.energy_wh == 10.0


def test_unknown_fields_are_ignored_within_v1() -> None:
    [obs] = _decode("anbu/d/reading", b'{"v":1,"power_w":3,"voltage_v":229.1,"fw":"1.2"}')
    assert obs.power_w == 3.0


@pytest.mark.parametrize(("payload", "online"), [(b"online", True), (b"offline", False), (b"Online\n", True)])
def test_status_topic_is_availability(payload: bytes, online: bool) -> None:
    [obs] = _decode("anbu/d/status", payload)
    assert obs.online is online and not obs.is_reading


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"ts":1,"power_w":1}', "missing 'v'"),
        (b'{"v":2,"power_w":1}', "unsupported format version 2"),
        (b'{"v":"1","power_w":1}', "unsupported format version"),
        (b'{"v":true,"power_w":1}', "unsupported format version"),
        (b'{"v":1}', "neither power_w nor energy_wh"),
        (b'{"v":1,"power_w":null,"energy_wh":null}', "neither power_w nor energy_wh"),
        (b'{"v":1,"power_w":-0.5}', "negative"),
        (b'{"v":1,"power_w":20000.1}', "implausibly large"),
        (b'{"v":1,"power_w":"high"}', "must be a number"),
        (b'{"v":1,"power_w":NaN}', "NaN"),
        (b'{"v":1,"power_w":-Infinity}', "-Infinity"),
        (b'{"v":1,"power_w":1,"energy_wh":-2}', "negative"),
        (b'{"v":1,"power_w":1,"ts":"2026-03-02T09:00:00"}', "no UTC offset"),
        (b'{"v":1,"power_w":1,"ts":"soon"}', "ISO 8601"),
        (b'{"v":1,"power_w":1,"ts":1772409600000}', "milliseconds"),
        (b'{"v":1,"power_w":1,"ts":-5}', "out of range"),
        (b'{"v":1,"power_w":1,"ts":[1]}', "must be a number"),
        (b'{"v":1,"power_w":1,"channel":3}', "channel must be a string"),
        (b'{"v":1,"power_w":1,"channel":"a/b"}', "channel must be a string"),
        (b'{"v":1,"power_w":1,"channel":""}', "channel must be a string"),
        (b'{"v":1,"power_w":' + b"9" * 5000 + b"}", "invalid JSON value"),
        (b"", "invalid JSON"),
        (b"null", "expected a JSON object"),
    ],
)
def test_bad_readings_are_rejected_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as excinfo:
        _decode("anbu/d/reading", payload)
    assert reason in excinfo.value.reason


@pytest.mark.parametrize(
    "topic",
    ["anbu/d", "anbu/d/reading/extra", "anbu/d/readings", "other/d/reading", "anbu", "", "/anbu/d/reading"],
)
def test_unknown_topics_are_rejected(topic: str) -> None:
    with pytest.raises(DecodeError, match="unknown topic"):
        _decode(topic, b'{"v":1,"power_w":1}')


@pytest.mark.parametrize("device_id", ["a b", "x" * 65, "kühl", "a:b", "a+b", ""])
def test_native_device_ids_are_restricted(device_id: str) -> None:
    with pytest.raises(DecodeError, match="invalid device id"):
        _decode(f"anbu/{device_id}/reading", b'{"v":1,"power_w":1}')
    assert topic_device(f"anbu/{device_id}/reading", SETTINGS) is None


def test_topic_device_names_the_device_even_when_the_payload_is_bad() -> None:
    assert topic_device("anbu/k1/reading", SETTINGS) == (DeviceVendor.NATIVE, "k1")
    assert topic_device("stat/p1/STATUS10", SETTINGS) == (DeviceVendor.TASMOTA, "p1")
    assert topic_device("random/topic", SETTINGS) is None
    assert parse_topic("tele/p1/LWT", SETTINGS).kind == "LWT"


def test_subscriptions_cover_every_decodable_topic() -> None:
    assert subscription_filters(SETTINGS) == [
        "anbu/+/reading",
        "anbu/+/status",
        "tele/+/SENSOR",
        "tele/+/STATE",
        "tele/+/LWT",
        "stat/+/STATUS8",
        "stat/+/STATUS10",
        "shellies/+/relay/+/power",
        "shellies/+/relay/+/energy",
        "shellies/+/relay/+",
        "shellies/+/online",
        "shellies/+/announce",
        "+/status/+",
        "+/events/rpc",
        "+/online",
        "zigbee2mqtt/#",
        "+/sensor/+/state",
        "+/switch/+/state",
        "+/status",
    ]
