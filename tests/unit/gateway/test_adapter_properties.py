"""Property tests: whatever arrives, the adapters answer with observations or a DecodeError, nothing else."""

from __future__ import annotations

import json
import math
from datetime import UTC

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.settings import Settings
from gateway.adapters import decode, parse_topic
from gateway.adapters._common import MAX_POWER_W
from gateway.observation import DecodeError, Observation

SETTINGS = Settings(_env_file=None)

KNOWN_TOPICS = [
    "anbu/dev1/reading",
    "anbu/dev1/status",
    "tele/plug/SENSOR",
    "tele/plug/STATE",
    "tele/plug/LWT",
    "stat/plug/STATUS8",
    "stat/plug/STATUS10",
    "shellies/shellyplug-s-7E0E6C/relay/0/power",
    "shellies/shellyplug-s-7E0E6C/relay/0/energy",
    "shellies/shellyplug-s-7E0E6C/relay/0",
    "shellies/shellyplug-s-7E0E6C/online",
    "shellies/announce",
    "shellyplusplugs-e465b8b7a1c4/status/switch:0",
    "shellyplusplugs-e465b8b7a1c4/events/rpc",
    "shellyplusplugs-e465b8b7a1c4/online",
    "zigbee2mqtt/living_room/kettle_plug",
    "zigbee2mqtt/living_room/kettle_plug/availability",
    "zigbee2mqtt/bridge/state",
    "athom-plug/sensor/power/state",
    "athom-plug/sensor/total_energy/state",
    "athom-plug/switch/relay/state",
    "athom-plug/status",
]

topics = st.one_of(st.sampled_from(KNOWN_TOPICS), st.text(max_size=80))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
energy_objects = st.fixed_dictionaries(
    {},
    optional={
        "Power": st.one_of(json_values, st.lists(st.floats(), max_size=4), st.floats()),
        "Total": st.one_of(json_values, st.lists(st.floats(), max_size=4), st.floats()),
        "Time": st.text(max_size=30),
    },
)
plausible_payloads = st.one_of(
    st.fixed_dictionaries(
        {"v": st.one_of(st.just(1), json_values)},
        optional={
            "ts": st.one_of(json_values, st.floats(), st.text(max_size=30)),
            "power_w": st.one_of(json_values, st.floats()),
            "energy_wh": st.one_of(json_values, st.floats()),
            "channel": json_values,
        },
    ),
    st.fixed_dictionaries({"ENERGY": energy_objects}, optional={"Time": json_values}),
    st.fixed_dictionaries({"StatusSNS": st.fixed_dictionaries({"ENERGY": energy_objects})}),
    # Shelly Gen2 status and RPC frames, Zigbee2MQTT state.
    st.fixed_dictionaries(
        {},
        optional={
            "apower": json_values,
            "aenergy": st.one_of(json_values, st.fixed_dictionaries({"total": json_values})),
        },
    ),
    st.fixed_dictionaries(
        {"method": st.sampled_from(["NotifyStatus", "NotifyFullStatus", "NotifyEvent"]) | json_values},
        optional={
            "params": st.fixed_dictionaries(
                {},
                optional={
                    "ts": st.one_of(json_values, st.floats()),
                    "switch:0": st.fixed_dictionaries(
                        {}, optional={"apower": json_values, "aenergy": json_values}
                    ),
                    "pm1:1": json_values,
                },
            )
        },
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "power": json_values,
            "energy": json_values,
            "last_seen": json_values,
            "state": json_values,
        },
    ),
)
plain_payloads = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers().map(str),
    st.sampled_from(["nan", "None", "on", "off", "ON", "true", "false", "online", "offline", " 1.5 ", ""]),
    st.text(max_size=20),
)


def _check(topic: str, observations: list[Observation]) -> None:
    # Only a topic about no single device (Z2M bridge chatter, commands) may decode to nothing.
    assert isinstance(observations, list)
    assert observations or parse_topic(topic, SETTINGS).device_id is None
    for obs in observations:
        if obs.power_w is not None:
            assert math.isfinite(obs.power_w) and 0 <= obs.power_w <= MAX_POWER_W
        if obs.energy_wh is not None:
            assert math.isfinite(obs.energy_wh) and obs.energy_wh >= 0
        if obs.ts is not None:
            assert obs.ts.tzinfo is UTC


def _decode_or_reason(topic: str, payload: bytes) -> None:
    try:
        observations = decode(topic, payload, settings=SETTINGS, default_tz="Asia/Seoul")
    except DecodeError as exc:
        assert exc.reason  # a reason a person can read
        return
    _check(topic, observations)


@given(topic=topics, payload=st.binary(max_size=300))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_arbitrary_bytes_only_raise_decode_error(topic: str, payload: bytes) -> None:
    _decode_or_reason(topic, payload)


@given(topic=st.sampled_from(KNOWN_TOPICS), data=plausible_payloads)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_structured_json_only_raises_decode_error(topic: str, data: dict[str, object]) -> None:
    payload = json.dumps(data, allow_nan=True).encode()
    _decode_or_reason(topic, payload)


@given(topic=topics, data=json_values)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_arbitrary_json_only_raises_decode_error(topic: str, data: object) -> None:
    _decode_or_reason(topic, json.dumps(data, allow_nan=True).encode())


@given(topic=st.sampled_from(KNOWN_TOPICS), text=plain_payloads)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_plain_text_payloads_only_raise_decode_error(topic: str, text: str) -> None:
    _decode_or_reason(topic, text.encode())


@given(watt_minutes=st.integers(min_value=0, max_value=10**9))
def test_shelly_gen1_energy_is_always_watt_minutes_over_sixty(watt_minutes: int) -> None:
    [obs] = decode(
        "shellies/plug-1/relay/0/energy", str(watt_minutes).encode(), settings=SETTINGS, default_tz="UTC"
    )
    assert obs.power_w is None and obs.energy_wh is not None
    assert abs(obs.energy_wh - watt_minutes / 60) <= 1e-6


@given(
    name=st.lists(st.text(alphabet="abcdefghij_-0123456789", min_size=1, max_size=8), min_size=1, max_size=4)
)
def test_z2m_friendly_names_with_slashes_round_trip(name: list[str]) -> None:
    friendly = "/".join(name)
    topic = f"zigbee2mqtt/{friendly}"
    route = parse_topic(topic, SETTINGS)
    if name[0] == "bridge" or any(level in ("set", "get") for level in name[1:]):
        assert route.device_id is None  # reserved by Zigbee2MQTT
    elif name[-1] == "availability" and len(name) > 1:
        assert route.kind == "availability" and route.device_id == "/".join(name[:-1])
    else:
        [obs] = decode(topic, b'{"power": 3.5}', settings=SETTINGS, default_tz="UTC")
        assert (obs.device_id, obs.power_w, obs.energy_wh) == (friendly, 3.5, None)
