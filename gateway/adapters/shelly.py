"""Shelly Gen2 / Plus / Pro / Gen3+ (https://shelly-api-docs.shelly.cloud/gen2/).

Topics under the device's ``<prefix>`` (default: its id, e.g. ``shellyplusplugs-e465b8b7a1c4``;
user prefixes may contain '/'), optionally below ``ANBU_MQTT_SHELLY_PREFIX``:

- ``<prefix>/status/switch:<n>`` full Switch status (needs "Generic status update over MQTT"):
  ``apower`` W, ``aenergy.total`` Wh; channel ``<n>``. Other components (``sys``, ``wifi``...)
  are heartbeats. ``pm1:<n>`` (Shelly PM Mini) is read like a switch.
- ``<prefix>/events/rpc`` JSON-RPC notifications: ``NotifyStatus`` carries only the changed keys
  (a partial update without ``apower`` gives no power: nothing is carried over or invented),
  ``NotifyFullStatus`` every component; ``params.ts`` (Unix seconds) is the device's timestamp.
  ``NotifyEvent`` and other methods are heartbeats.
- ``<prefix>/online``: ``true`` / ``false`` (Last Will).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from core.enums import DeviceVendor
from gateway.adapters._common import (
    MAX_CHANNELS,
    energy_wh,
    fail,
    parse_availability,
    parse_json_object,
    power_w,
    short_repr,
    unix_seconds,
)
from gateway.adapters.route import Route, join, nested_device_id, under
from gateway.observation import Observation, observe

VENDOR = DeviceVendor.SHELLY
_STATUS_RE = re.compile(r"^(?P<device>.+)/status/(?P<component>[a-z0-9_]{1,32}(:\d{1,3})?)$", re.ASCII)
_METERED_RE = re.compile(r"^(switch|pm1):(\d{1,3})$", re.ASCII)


def filters(root: str) -> list[str]:
    return [join(root, "+/status/+"), join(root, "+/events/rpc"), join(root, "+/online")]


def match(topic: str, root: str) -> Route | None:
    rest = under(topic, root)
    if rest is None:
        return None
    if rest.endswith("/events/rpc"):
        return Route(VENDOR, nested_device_id(rest[: -len("/events/rpc")]), "rpc")
    if rest.endswith("/online"):
        return Route(VENDOR, nested_device_id(rest[: -len("/online")]), "online")
    found = _STATUS_RE.match(rest)
    if found:
        return Route(VENDOR, nested_device_id(found["device"]), "status", detail=found["component"])
    return None


def decode(route: Route, payload: bytes) -> list[Observation]:
    if route.kind == "online":
        return [
            observe(
                VENDOR, route.device_id, online=parse_availability(payload, online="true", offline="false")
            )
        ]
    if route.kind == "status":
        metered = _METERED_RE.match(route.detail)
        if not metered:
            parse_json_object(payload)  # a well-formed status of another component: a heartbeat
            return [observe(VENDOR, route.device_id)]
        status = parse_json_object(payload)
        return [_component(route.device_id, metered[2], status, route.detail, ts=None)]
    if route.kind == "rpc":
        return _rpc(route.device_id, parse_json_object(payload))
    fail(f"unknown Shelly message kind {short_repr(route.kind)}")


def _rpc(device_id: str | None, frame: dict[str, Any]) -> list[Observation]:
    method = frame.get("method")
    if not isinstance(method, str):
        fail(f"RPC notification needs a string 'method', got {short_repr(method)}")
    params = frame.get("params", {})
    if not isinstance(params, dict):
        fail(f"RPC params must be an object, got {short_repr(params)}")
    ts = unix_seconds(params["ts"], "params.ts") if params.get("ts") is not None else None
    observations: list[Observation] = []
    if method in ("NotifyStatus", "NotifyFullStatus"):
        metered = [(m, key) for key in params if (m := _METERED_RE.match(key))]
        if len(metered) > MAX_CHANNELS:
            fail(f"more than {MAX_CHANNELS} metered components")
        for found, key in sorted(metered, key=lambda item: (item[0][1], int(item[0][2]))):
            status = params[key]
            if not isinstance(status, dict):
                fail(f"params.{key} must be an object, got {short_repr(status)}")
            reading = _component(device_id, found[2], status, f"params.{key}", ts=ts)
            if reading.is_reading:
                observations.append(reading)
    # A frame without power or energy still proves the device is connected.
    return observations or [observe(VENDOR, device_id, ts=ts)]


def _component(
    device_id: str | None, channel: str, status: dict[str, Any], where: str, *, ts: datetime | None
) -> Observation:
    power = power_w(status["apower"], f"{where}.apower") if status.get("apower") is not None else None
    energy = None
    if "aenergy" in status and status["aenergy"] is not None:
        aenergy = status["aenergy"]
        if not isinstance(aenergy, dict):
            fail(f"{where}.aenergy must be an object, got {short_repr(aenergy)}")
        if aenergy.get("total") is not None:
            energy = energy_wh(aenergy["total"], f"{where}.aenergy.total")
    return observe(VENDOR, device_id, str(int(channel)), power=power, energy=energy, ts=ts)
