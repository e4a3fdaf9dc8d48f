"""Shelly Gen1 rules that mutation testing found unpinned (docs/testing.md, gateway/adapters/shelly_gen1.py).

Whole observations are compared on a channel other than the default, so a reading, a relay
heartbeat, an availability or an announce that lost its vendor, device or channel is noticed;
watt-minutes become Wh at six decimals; refusals are compared by their exact reason.
"""

from __future__ import annotations

import pytest

from core.enums import DeviceVendor
from gateway.adapters import shelly_gen1
from gateway.adapters.route import Route
from gateway.observation import DecodeError, Observation
from tests.unit.gateway.observations import decoded, observation, refusal

DEVICE = "shellyplug-s-7E0E6C"
TOPIC = f"shellies/{DEVICE}"
G1 = DeviceVendor.SHELLY_GEN1
ANNOUNCE = (
    b'{"id":"shellyplug-s-7E0E6C","model":"SHPLG-S","mac":"C45BBE7E0E6C","ip":"192.168.1.50",'
    b'"new_fw":false,"fw_ver":"20230913-114008/v1.14.0-gcb84623"}'
)


def _obs(channel: str = "0", **values: object) -> Observation:
    return observation(G1, DEVICE, channel, **values)


# --- every message keeps the vendor, the device and the relay's channel ---------------------------


def test_energy_of_the_second_relay_is_its_watt_minutes_in_wh() -> None:
    assert decoded(f"{TOPIC}/relay/1/energy", b"7260") == [_obs("1", energy_wh=121.0)]


def test_energy_is_rounded_to_a_millionth_of_a_wh() -> None:
    # 1 W·min = 0.01666... Wh: six decimals, neither float noise nor whole Wh.
    assert decoded(f"{TOPIC}/relay/1/energy", b"1") == [_obs("1", energy_wh=0.016667)]
    assert decoded(f"{TOPIC}/relay/0/energy", b"100") == [_obs("0", energy_wh=1.666667)]


def test_energy_is_bounded_in_wh_as_for_every_vendor() -> None:
    # 6e13 W·min = 1e12 Wh, the largest counter any vendor may report (MAX_ENERGY_WH).
    assert decoded(f"{TOPIC}/relay/0/energy", b"60000000000000") == [_obs("0", energy_wh=1e12)]


@pytest.mark.parametrize("payload", [b"on", b"off", b"overpower"])
def test_relay_state_is_a_heartbeat_of_that_relay(payload: bytes) -> None:
    assert decoded(f"{TOPIC}/relay/1", payload) == [_obs("1")]


@pytest.mark.parametrize(("payload", "online"), [(b"true", True), (b"false", False)])
def test_online_is_the_whole_devices_availability(payload: bytes, online: bool) -> None:
    assert decoded(f"{TOPIC}/online", payload) == [_obs(online=online)]


@pytest.mark.parametrize("topic", ["shellies/announce", f"{TOPIC}/announce"])
def test_announce_is_a_heartbeat_of_the_announced_device(topic: str) -> None:
    assert decoded(topic, ANNOUNCE) == [_obs()]


# --- topics --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "topic",
    [
        "shellies/shellyem-B9E1D2/emeter/0/power",  # Shelly EM: not a relay, not read
        f"{TOPIC}/light/0",
        f"{TOPIC}/relay/0/overpower_value",
        f"{TOPIC}/temperature",
    ],
)
def test_only_relay_topics_carry_readings(topic: str) -> None:
    assert refusal(topic, b"1") == "unknown topic"


# --- refusals name the field and repeat the value -------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("shellies/bad id/relay/0/power", b"1", "invalid device id 'bad id' in topic"),
        (f"{TOPIC}/relay/0/power", b"nan", "power must be a plain number, got 'nan'"),
        (f"{TOPIC}/relay/0/power", b"-3", "power is negative (-3 W)"),
        (f"{TOPIC}/relay/0/energy", b"0x10", "energy must be a plain number, got '0x10'"),
        # -1 W·min is -1/60 Wh: the reason quotes the value in the unit it names.
        (f"{TOPIC}/relay/0/energy", b"-1", "energy is negative (-0.0166667 Wh)"),
        (f"{TOPIC}/relay/0/energy", b"60000000000060", "energy is implausibly large (1e+12 Wh)"),
        (f"{TOPIC}/online", b"yes", "availability must be 'true' or 'false', got 'yes'"),
        (f"{TOPIC}/announce", b'{"id":5}', "announce needs a string 'id', got 5"),
        ("shellies/announce", b'{"id":"bad id"}', "announce needs a string 'id', got 'bad id'"),
        (
            f"{TOPIC}/announce",
            b'{"id":"other-device"}',
            "announce id 'other-device' does not match the topic",
        ),
    ],
)
def test_a_refused_message_names_the_field_and_the_value(topic: str, payload: bytes, reason: str) -> None:
    assert refusal(topic, payload) == reason


def test_a_kind_no_route_gives_is_refused_by_name() -> None:
    with pytest.raises(DecodeError) as excinfo:
        shelly_gen1.decode(Route(G1, DEVICE, "temperature"), b"31.2")
    assert excinfo.value.reason == "unknown Shelly Gen1 message kind 'temperature'"
