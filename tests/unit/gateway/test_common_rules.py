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
    number,
    parse_availability,
    parse_json_object,
    power_w,
    short_repr,
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
    assert _reason(unix_seconds, "1", "ts") == "ts must be a number, got '1'"


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


# --- second round: every refusal's whole reason, and the paths the first round left untested -----


def test_a_quoted_value_is_cut_to_forty_characters_with_an_ellipsis() -> None:
    assert short_repr("x" * 38) == "'" + "x" * 38 + "'"  # 40 characters: whole
    assert short_repr("x" * 39) == "'" + "x" * 36 + "..."  # 41: cut to 37 and "..."
    assert short_repr("x" * 39, limit=10) == "'xxxxxx..."


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"a":"\xff"}', "payload is not valid UTF-8"),
        (b'{"a":NaN}', "JSON contains NaN, which is not a number"),
        (b'{"a":-Infinity}', "JSON contains -Infinity, which is not a number"),
        (b'{"a":', "invalid JSON: Expecting value at char 5"),
        (b"[" * 100_000, "JSON nested too deeply"),  # beyond the parsers' own limits
        (
            b'{"a":' + b"9" * 5000 + b"}",
            "invalid JSON value: Exceeds the limit (4300 digits) for integer string conversion: value has 5000 di",
        ),
        (b"[1]", "expected a JSON object, got list"),
        (b"null", "expected a JSON object, got NoneType"),
    ],
)
def test_a_payload_that_is_not_a_json_object_is_refused_with_its_reason(payload: bytes, reason: str) -> None:
    assert _reason(parse_json_object, payload) == reason


def test_a_json_object_is_read_by_the_fast_parser_and_by_the_strict_one_alike() -> None:
    # orjson reads an integer beyond 64 bits as the nearest float (the documented difference).
    big = parse_json_object(b'{"a": 18446744073709551616}')
    assert big == {"a": 1.8446744073709552e19} and type(big["a"]) is float
    # orjson refuses 1e400; the standard parser reads it as infinity, which number() refuses later.
    assert parse_json_object(b'{"a": 1e400}') == {"a": math.inf}
    assert _reason(number, math.inf, "a") == "a must be finite"


def test_many_shallow_lists_are_not_deep_nesting() -> None:
    siblings = "{" + ",".join(f'"k{i}":[1]' for i in range(MAX_JSON_DEPTH + 1)) + "}"
    assert parse_json_object(siblings.encode()) == {f"k{i}": [1] for i in range(MAX_JSON_DEPTH + 1)}
    assert json_depth(5) == 0 and json_depth([]) == 1


def test_nesting_at_the_limit_is_accepted_when_the_brackets_outnumber_it() -> None:
    # 8 levels deep, 9 brackets: the walk runs, and 8 levels are allowed.
    payload = '{"a":' + "[" * 7 + "]" * 7 + ',"b":[]}'
    assert payload.count("[") + payload.count("{") == MAX_JSON_DEPTH + 1
    assert json_depth(parse_json_object(payload.encode())) == MAX_JSON_DEPTH


def test_a_number_too_large_for_a_float_is_out_of_range() -> None:
    assert _reason(number, 10**400, "x") == "x is out of range"
    assert _reason(number, "1", "x") == "x must be a number, got '1'"


def test_power_and_energy_are_refused_below_zero_with_the_value_and_accepted_just_above() -> None:
    assert power_w(0.5, "p") == 0.5
    assert _reason(power_w, -0.5, "p") == "p is negative (-0.5 W)"
    assert energy_wh(0.5, "e") == 0.5
    assert _reason(energy_wh, -0.5, "e") == "e is negative (-0.5 Wh)"


def test_old_tasmota_time_is_read_in_the_households_zone(process_in_los_angeles: str) -> None:
    parsed = iso_timestamp("2018.02.15 01:00:50", "Time", local_tz="Asia/Seoul")
    assert parsed == datetime(2018, 2, 14, 16, 0, 50, tzinfo=UTC)
    local = iso_timestamp("2026-03-02T09:00:00", "ts", local_tz="Asia/Seoul")
    assert local == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("soon", "ts is not an ISO 8601 timestamp: 'soon'"),
        ("2018.02.30 01:00:50", "ts is not a valid date/time: '2018.02.30 01:00:50'"),
        ("2026-02-30T00:00:00Z", "ts is not a valid date/time: '2026-02-30T00:00:00Z'"),
        ("0001-01-01T00:00:00+01:00", "ts is out of range"),
        ("2026-03-02T09:00:00", "ts has no UTC offset"),
    ],
)
def test_a_timestamp_is_refused_with_its_reason(value: str, reason: str) -> None:
    assert _reason(lambda: iso_timestamp(value, "ts", local_tz=None)) == reason


def test_availability_forgives_case_and_spaces_and_names_both_words_when_refused() -> None:
    words = {"online": "Online", "offline": "Offline"}
    assert parse_availability(b" ONLINE\n", **words) is True
    assert parse_availability(b"offline", **words) is False
    assert _reason(lambda: parse_availability(b" Maybe ", **words)) == (
        "availability must be 'Online' or 'Offline', got 'maybe'"
    )
    assert _reason(lambda: parse_availability(b"\xff", **words)) == "payload is not valid UTF-8"
