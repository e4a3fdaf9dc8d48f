"""Anbu's native JSON format (v1). The format is specified in docs/devices.md; keep them in step.

Topics (``<prefix>`` = ``ANBU_MQTT_NATIVE_PREFIX``, default ``anbu``)::

    <prefix>/<device_id>/reading   {"v": 1, "ts": ..., "power_w": ..., "energy_wh": ..., "channel": "0"}
    <prefix>/<device_id>/status    online | offline   (retained; use it as the Last Will)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from core.enums import DeviceVendor
from gateway.adapters._common import (
    energy_wh,
    fail,
    iso_timestamp,
    parse_availability,
    parse_json_object,
    power_w,
    short_repr,
    unix_seconds,
)
from gateway.observation import DEFAULT_CHANNEL, Observation, observe

FORMAT_VERSION = 1
READING = "reading"
STATUS = "status"
KINDS = (READING, STATUS)

DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$", re.ASCII)
CHANNEL_RE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$", re.ASCII)


def valid_device_id(device_id: str) -> bool:
    return bool(DEVICE_ID_RE.match(device_id))


def decode(kind: str, device_id: str, payload: bytes) -> list[Observation]:
    if kind == STATUS:
        online = parse_availability(payload, online="online", offline="offline")
        return [observe(DeviceVendor.NATIVE, device_id, online=online)]
    if kind == READING:
        return [decode_reading(device_id, payload)]
    fail(f"unknown native message kind {short_repr(kind)}")


def decode_reading(device_id: str, payload: bytes) -> Observation:
    data = parse_json_object(payload)
    if "v" not in data:
        fail("missing 'v' (format version)")
    version = data["v"]
    if isinstance(version, bool) or version != FORMAT_VERSION:
        fail(f"unsupported format version {short_repr(version)} (this gateway reads v{FORMAT_VERSION})")
    # Unknown keys are ignored: v1 may gain optional fields without a version bump.
    power = _optional(data, "power_w", power_w)
    energy = _optional(data, "energy_wh", energy_wh)
    if power is None and energy is None:
        fail("reading has neither power_w nor energy_wh")
    return observe(
        DeviceVendor.NATIVE,
        device_id,
        _channel(data),
        power=power,
        energy=energy,
        ts=_timestamp(data.get("ts")),
    )


def _optional(data: dict[str, object], key: str, parse: Callable[[object, str], float]) -> float | None:
    value = data.get(key)
    return None if value is None else parse(value, key)


def _channel(data: dict[str, object]) -> str:
    channel = data.get("channel", DEFAULT_CHANNEL)
    if not isinstance(channel, str) or not CHANNEL_RE.match(channel):
        fail(f"channel must be a string of 1-40 characters [A-Za-z0-9_.-], got {short_repr(channel)}")
    return channel


def _timestamp(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        # Native devices must say which zone they mean; guessing would shift every deadline.
        return iso_timestamp(value, "ts", local_tz=None)
    return unix_seconds(value, "ts")
