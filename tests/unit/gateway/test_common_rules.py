"""Shared value parsing at its edges (gateway/adapters/_common.py; docs/testing.md, mutation testing).

Each bound is tested on both sides, -0.0 comes back as 0.0, a timestamp comes back in UTC whatever
the process's zone, and JSON nesting is refused one level past the limit, not at it.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest

from gateway.adapters._common import (
    MAX_ENERGY_WH,
    MAX_JSON_DEPTH,
    MAX_POWER_W,
    energy_wh,
    iso_timestamp,
    json_depth,
    parse_json_object,
    power_w,
    unix_seconds,
)
from gateway.observation import DecodeError


def _reason(parse: object, *args: object) -> str:
    with pytest.raises(DecodeError) as excinfo:
        parse(*args)  # type: ignore[operator]
    return excinfo.value.reason


def test_power_is_accepted_up_to_its_limit_and_minus_zero_is_zero() -> None:
    assert power_w(MAX_POWER_W, "p") == MAX_POWER_W
    assert _reason(power_w, MAX_POWER_W + 0.5, "p") == "p is implausibly large (20000.5 W > 20000 W)"
    assert math.copysign(1.0, power_w(-0.0, "p")) == 1.0
    assert _reason(power_w, True, "p") == "p must be a number, got True"


def test_energy_is_accepted_from_zero_up_to_its_limit_and_minus_zero_is_zero() -> None:
    assert energy_wh(0, "e") == 0.0
    assert energy_wh(0.5, "e") == 0.5
    assert math.copysign(1.0, energy_wh(-0.0, "e")) == 1.0
    assert energy_wh(MAX_ENERGY_WH, "e") == MAX_ENERGY_WH
    assert _reason(energy_wh, MAX_ENERGY_WH * 2, "e") == "e is implausibly large (2e+12 Wh)"
    assert _reason(energy_wh, "1", "e") == "e must be a number, got '1'"


def test_unix_seconds_are_accepted_from_the_epoch_to_1e11() -> None:
    assert unix_seconds(0, "ts") == datetime(1970, 1, 1, tzinfo=UTC)
    assert _reason(unix_seconds, -0.5, "ts") == "ts is out of range"
    assert unix_seconds(1e11, "ts").year == 5138
    assert _reason(unix_seconds, 1e11 + 1, "ts") == "ts is out of range (milliseconds? send seconds)"


def test_an_iso_timestamp_comes_back_in_utc_in_any_process_zone(process_in_los_angeles: str) -> None:
    parsed = iso_timestamp("2026-03-02T09:00:00+09:00", "ts", local_tz=None)
    assert parsed == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    assert parsed.tzinfo is UTC
    assert _reason(lambda: iso_timestamp(5, "ts", local_tz=None)) == "ts must be a string, got 5"


def test_json_is_refused_one_level_past_the_nesting_limit_not_at_it() -> None:
    def nested(levels: int) -> bytes:  # an object holding levels - 1 nested lists
        return ('{"a":' + "[" * (levels - 1) + "]" * (levels - 1) + "}").encode()

    assert json_depth(json.loads(nested(MAX_JSON_DEPTH))) == MAX_JSON_DEPTH
    assert parse_json_object(nested(MAX_JSON_DEPTH))
    assert (
        _reason(parse_json_object, nested(MAX_JSON_DEPTH + 1))
        == "JSON nested too deeply (more than 8 levels)"
    )
    assert json_depth({"a": {"b": [1]}}) == 3
