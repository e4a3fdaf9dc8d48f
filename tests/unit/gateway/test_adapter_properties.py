"""Property tests: whatever arrives, the adapters answer with observations or a DecodeError, nothing else."""

from __future__ import annotations

import json
import math
from datetime import UTC

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.settings import Settings
from gateway.adapters import decode
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
)


def _check(observations: list[Observation]) -> None:
    assert isinstance(observations, list) and observations
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
    _check(observations)


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
