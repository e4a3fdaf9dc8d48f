"""Shelly Gen2+ rules that mutation testing found unpinned (docs/testing.md, gateway/adapters/shelly.py).

Whole observations are compared, so a heartbeat or an availability message that lost its vendor,
device or time is noticed; refusals are compared by their exact reason (the field is named, the
bad value repeated); channel order across components and the channel limit get their own cases.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from core.enums import DeviceVendor
from core.settings import Settings
from gateway.adapters import shelly, subscription_filters
from gateway.adapters._common import MAX_CHANNELS
from gateway.adapters.route import Route
from gateway.observation import DecodeError, Observation
from tests.unit.gateway.observations import decoded, observation, refusal

DEVICE = "shellyplusplugs-e465b8b7a1c4"
S = DeviceVendor.SHELLY
TS = 1714550502.35


def _obs(channel: str = "0", **values: object) -> Observation:
    return observation(S, DEVICE, channel, **values)


# --- what Anbu subscribes to -------------------------------------------------------------------


def test_subscriptions_are_the_three_topic_kinds_below_the_configured_root() -> None:
    assert shelly.filters("") == ["+/status/+", "+/events/rpc", "+/online"]
    assert shelly.filters("home/shelly") == [
        "home/shelly/+/status/+",
        "home/shelly/+/events/rpc",
        "home/shelly/+/online",
    ]
    settings = Settings(_env_file=None, mqtt_vendors="shelly", mqtt_shelly_prefix="home/shelly")
    assert subscription_filters(settings) == shelly.filters("home/shelly")


# --- heartbeats and availability keep the vendor, the device and the time ------------------------


@pytest.mark.parametrize(("payload", "online"), [(b"true", True), (b"false", False)])
def test_online_is_the_whole_devices_availability(payload: bytes, online: bool) -> None:
    assert decoded(f"{DEVICE}/online", payload) == [_obs(online=online)]


def test_status_of_another_component_is_a_heartbeat_of_the_device() -> None:
    assert decoded(f"{DEVICE}/status/sys", b'{"uptime": 12}') == [_obs()]


def test_an_event_notification_is_a_heartbeat_at_the_devices_time() -> None:
    frame = {"method": "NotifyEvent", "params": {"ts": TS, "events": [{"component": "switch:0"}]}}
    assert decoded(f"{DEVICE}/events/rpc", json.dumps(frame).encode()) == [
        _obs(ts=datetime.fromtimestamp(TS, UTC))
    ]


def test_a_notification_without_params_is_a_heartbeat_without_a_time() -> None:
    assert decoded(f"{DEVICE}/events/rpc", b'{"method":"NotifyEvent"}') == [_obs()]
    assert decoded(f"{DEVICE}/events/rpc", b'{"method":"NotifyStatus"}') == [_obs()]


# --- channels ------------------------------------------------------------------------------------


def test_metered_components_come_out_by_kind_then_by_number() -> None:
    # pm1 (Shelly PM Mini) before switch; switch:10 after switch:2 (numbers, not text).
    params = {
        "ts": TS,
        "switch:10": {"apower": 10.0},
        "switch:2": {"apower": 2.0},
        "pm1:1": {"apower": 1.0},
    }
    frame = json.dumps({"method": "NotifyFullStatus", "params": params}).encode()
    ts = datetime.fromtimestamp(TS, UTC)
    assert decoded(f"{DEVICE}/events/rpc", frame) == [
        _obs("1", power_w=1.0, ts=ts),
        _obs("2", power_w=2.0, ts=ts),
        _obs("10", power_w=10.0, ts=ts),
    ]


def test_at_most_the_channel_limit_of_metered_components_in_one_frame() -> None:
    def frame(count: int) -> bytes:
        params = {f"switch:{n}": {"apower": float(n)} for n in range(count)}
        return json.dumps({"method": "NotifyFullStatus", "params": params}).encode()

    observations = decoded(f"{DEVICE}/events/rpc", frame(MAX_CHANNELS))
    assert [(o.channel, o.power_w) for o in observations] == [(str(n), float(n)) for n in range(MAX_CHANNELS)]
    assert refusal(f"{DEVICE}/events/rpc", frame(MAX_CHANNELS + 1)) == "more than 32 metered components"


# --- refusals name the field and repeat the value -------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (f"{DEVICE}/online", b"maybe", "availability must be 'true' or 'false', got 'maybe'"),
        (f"{DEVICE}/events/rpc", b'{"method":7}', "RPC notification needs a string 'method', got 7"),
        (
            f"{DEVICE}/events/rpc",
            b'{"method":"NotifyStatus","params":[1]}',
            "RPC params must be an object, got [1]",
        ),
        (
            f"{DEVICE}/events/rpc",
            b'{"method":"NotifyStatus","params":{"ts":"noon"}}',
            "params.ts must be a number, got 'noon'",
        ),
        (
            f"{DEVICE}/events/rpc",
            b'{"method":"NotifyStatus","params":{"switch:0":5}}',
            "params.switch:0 must be an object, got 5",
        ),
        (
            f"{DEVICE}/events/rpc",
            b'{"method":"NotifyStatus","params":{"switch:0":{"apower":-5}}}',
            "params.switch:0.apower is negative (-5 W)",
        ),
        (f"{DEVICE}/status/switch:0", b'{"apower":"high"}', "switch:0.apower must be a number, got 'high'"),
        (f"{DEVICE}/status/switch:0", b'{"aenergy":5}', "switch:0.aenergy must be an object, got 5"),
        (
            f"{DEVICE}/status/switch:0",
            b'{"aenergy":{"total":-1}}',
            "switch:0.aenergy.total is negative (-1 Wh)",
        ),
    ],
)
def test_a_refused_message_names_the_field_and_the_value(topic: str, payload: bytes, reason: str) -> None:
    assert refusal(topic, payload) == reason


def test_a_kind_no_route_gives_is_refused_by_name() -> None:
    with pytest.raises(DecodeError) as excinfo:
        shelly.decode(Route(S, DEVICE, "config"), b"{}")
    assert excinfo.value.reason == "unknown Shelly message kind 'config'"
