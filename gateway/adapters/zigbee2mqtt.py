"""Zigbee2MQTT (https://www.zigbee2mqtt.io/guide/usage/mqtt_topics_and_messages.html).

Under the base topic (``ANBU_MQTT_ZIGBEE2MQTT_PREFIX``, default ``zigbee2mqtt``):

- ``<friendly name>`` JSON state; the name may contain '/' (``living_room/kettle_plug``) and is the
  device id. ``power`` W, ``energy`` **kWh** (stored as Wh). ``last_seen`` (ISO 8601, or epoch
  milliseconds) is the device timestamp when Z2M is configured to send it. With ``cache_state``
  Z2M repeats cached values, so a repeated ``last_seen`` deduplicates them.
- ``<friendly name>/availability``: ``{"state": "online"|"offline"}``, or legacy plain text.
- ``bridge/state``: the bridge's availability (device id None: it concerns every Z2M device).
- ``<name>/set``, ``<name>/get`` (commands to devices) and the rest of ``bridge/``: ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.enums import DeviceVendor
from gateway.adapters._common import (
    decode_text,
    energy_wh,
    fail,
    iso_timestamp,
    number,
    parse_json_object,
    power_w,
    short_repr,
    unix_seconds,
)
from gateway.adapters.route import IGNORED, Route, nested_device_id, under
from gateway.observation import Observation, observe

VENDOR = DeviceVendor.ZIGBEE2MQTT
_COMMAND_LEVELS = ("set", "get")


def filters(root: str) -> list[str]:
    return [f"{root}/#"]


def match(topic: str, root: str) -> Route | None:
    """Routes every topic under the base topic (Z2M names are free-form)."""
    rest = under(topic, root)
    if rest is None:
        return None
    if rest == "bridge/state":
        return Route(VENDOR, None, "bridge_state")
    levels = rest.split("/")
    if levels[0] == "bridge" or any(level in _COMMAND_LEVELS for level in levels[1:]):
        return Route(VENDOR, None, IGNORED)
    if levels[-1] == "availability" and len(levels) > 1:
        return Route(VENDOR, nested_device_id(rest[: -len("/availability")]), "availability")
    return Route(VENDOR, nested_device_id(rest), "state")


def decode(route: Route, payload: bytes, *, local_tz: str) -> list[Observation]:
    if route.kind == IGNORED:
        return []
    if route.kind in ("availability", "bridge_state"):
        return [observe(VENDOR, route.device_id, online=availability(payload))]
    if route.kind == "state":
        return [_state(route.device_id, parse_json_object(payload), local_tz)]
    fail(f"unknown Zigbee2MQTT message kind {short_repr(route.kind)}")


def availability(payload: bytes) -> bool:
    """2.x sends ``{"state": "online"}``; 1.x with ``legacy_availability_payload`` plain ``online``."""
    text = decode_text(payload).strip()
    word: object = text
    if text.startswith("{"):
        word = parse_json_object(payload).get("state")
    if isinstance(word, str) and word.lower() in ("online", "offline"):
        return word.lower() == "online"
    fail(f"availability must be online or offline, got {short_repr(word)}")


def _state(device_id: str | None, data: dict[str, Any], local_tz: str) -> Observation:
    power = power_w(data["power"], "power") if data.get("power") is not None else None
    energy = None
    if data.get("energy") is not None:
        energy = round(energy_wh(number(data["energy"], "energy") * 1000.0, "energy"), 6)
    return observe(
        VENDOR, device_id, power=power, energy=energy, ts=_last_seen(data.get("last_seen"), local_tz)
    )


def _last_seen(value: object, local_tz: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        return iso_timestamp(value, "last_seen", local_tz=local_tz)
    # advanced.last_seen: epoch is in milliseconds.
    return unix_seconds(number(value, "last_seen") / 1000.0, "last_seen")
