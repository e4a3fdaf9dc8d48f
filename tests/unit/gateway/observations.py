"""Helpers for adapter tests that compare whole observations and exact refusal reasons.

A field-by-field check lets a heartbeat that lost its vendor, device, channel or time pass, and a
substring match lets a reason that lost the value it quotes pass (mutation testing found both).
"""

from __future__ import annotations

import pytest

from core.enums import DeviceVendor
from core.settings import Settings
from gateway.adapters import decode
from gateway.observation import DecodeError, Observation

SETTINGS = Settings(_env_file=None)
HOUSEHOLD_TZ = "Asia/Seoul"


def decoded(topic: str, payload: bytes, settings: Settings = SETTINGS) -> list[Observation]:
    return decode(topic, payload, settings=settings, default_tz=HOUSEHOLD_TZ)


def observation(
    vendor: DeviceVendor, device_id: str | None, channel: str = "0", **values: object
) -> Observation:
    """An observation with every value not named left None (as adapters leave them)."""
    fields: dict[str, object] = {"power_w": None, "energy_wh": None, "online": None, "ts": None}
    fields.update(values)
    return Observation(vendor=vendor, device_id=device_id, channel=channel, **fields)  # type: ignore[arg-type]


def refusal(topic: str, payload: bytes, settings: Settings = SETTINGS) -> str:
    """The whole reason the message is refused with (fails the test if it is not refused)."""
    with pytest.raises(DecodeError) as excinfo:
        decoded(topic, payload, settings)
    return excinfo.value.reason
