"""Native v1 rules that mutation testing found unpinned (docs/testing.md, gateway/adapters/native.py).

The format is Anbu's own (docs/devices.md), so a device maker reads the refusal reason to fix
their firmware: each is compared whole, with the field it names and the value it quotes.
"""

from __future__ import annotations

import pytest

from core.enums import DeviceVendor
from gateway.adapters import native
from gateway.observation import DecodeError
from tests.unit.gateway.observations import decoded, observation, refusal


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"ts":1,"power_w":1}', "missing 'v' (format version)"),
        (b'{"v":2,"power_w":1}', "unsupported format version 2 (this gateway reads v1)"),
        (b'{"v":1}', "reading has neither power_w nor energy_wh"),
        (b'{"v":1,"power_w":-0.5}', "power_w is negative (-0.5 W)"),
        (b'{"v":1,"energy_wh":"10"}', "energy_wh must be a number, got '10'"),
        (
            b'{"v":1,"power_w":1,"channel":3}',
            "channel must be a string of 1-40 characters [A-Za-z0-9_.-], got 3",
        ),
        (b'{"v":1,"power_w":1,"ts":"soon"}', "ts is not an ISO 8601 timestamp: 'soon'"),
        (b'{"v":1,"power_w":1,"ts":"2026-03-02T09:00:00"}', "ts has no UTC offset"),
        (b'{"v":1,"power_w":1,"ts":-5}', "ts is out of range"),
        (b'{"v":1,"power_w":1,"ts":1772409600000}', "ts is out of range (milliseconds? send seconds)"),
    ],
)
def test_a_refused_reading_names_the_field_and_the_value(payload: bytes, reason: str) -> None:
    assert refusal("anbu/kettle-01/reading", payload) == reason


@pytest.mark.parametrize(("payload", "online"), [(b"online", True), (b"offline", False)])
def test_status_is_the_named_devices_availability(payload: bytes, online: bool) -> None:
    assert decoded("anbu/kettle-01/status", payload) == [
        observation(DeviceVendor.NATIVE, "kettle-01", online=online)
    ]


def test_a_bad_status_quotes_both_words() -> None:
    assert (
        refusal("anbu/kettle-01/status", b"gone") == "availability must be 'online' or 'offline', got 'gone'"
    )


def test_a_kind_no_route_gives_is_refused_by_name() -> None:
    with pytest.raises(DecodeError) as excinfo:
        native.decode("config", "kettle-01", b"{}")
    assert excinfo.value.reason == "unknown native message kind 'config'"
