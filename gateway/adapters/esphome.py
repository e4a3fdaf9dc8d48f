"""ESPHome in MQTT mode (https://esphome.io/components/mqtt.html).

Topics under the node's ``topic_prefix`` (default: the node name; may contain '/'), optionally
below ``ANBU_MQTT_ESPHOME_PREFIX``; the prefix is the device id:

- ``<prefix>/sensor/<object_id>/state``: a plain number formatted by the sensor (``"23.4"``).
  ``nan`` / ``None`` (sensor without a value) carries no value and is a heartbeat: never invented.
  **Units are not on the wire**: ``ANBU_MQTT_ESPHOME_UNITS`` says which sensors are power (W, kW)
  and which are cumulative energy (Wh, kWh), per object id or per ``node/object_id``. Other
  sensors (voltage, temperature, Wi-Fi signal) are heartbeats.
- ``<prefix>/switch/<object_id>/state``: ``ON`` / ``OFF``, relay state: a heartbeat.
- ``<prefix>/status``: ``online`` (birth) / ``offline`` (Last Will).
"""

from __future__ import annotations

import functools
import re

from core.enums import DeviceVendor
from gateway.adapters._common import decode_text, energy_wh, fail, parse_availability, power_w, short_repr
from gateway.adapters.plain import plain_number, relay_word
from gateway.adapters.route import Route, join, nested_device_id, under
from gateway.observation import Observation, observe

VENDOR = DeviceVendor.ESPHOME
_STATE_RE = re.compile(r"^(?P<device>.+)/(?P<component>sensor|switch)/(?P<object_id>[a-z0-9_]{1,64})/state$")
# To W for power, to Wh for energy.
_SCALE = {"W": ("power", 1.0), "kW": ("power", 1000.0), "Wh": ("energy", 1.0), "kWh": ("energy", 1000.0)}
_NO_VALUE = ("nan", "none", "")


def filters(root: str) -> list[str]:
    return [join(root, "+/sensor/+/state"), join(root, "+/switch/+/state"), join(root, "+/status")]


def match(topic: str, root: str) -> Route | None:
    rest = under(topic, root)
    if rest is None:
        return None
    found = _STATE_RE.match(rest)
    if found:
        return Route(VENDOR, nested_device_id(found["device"]), found["component"], detail=found["object_id"])
    if rest.endswith("/status"):
        return Route(VENDOR, nested_device_id(rest[: -len("/status")]), "status")
    return None


@functools.lru_cache(maxsize=8)
def parse_units(spec: str) -> dict[str, str]:
    """``"power=W,energy=Wh,plug-1/total=kWh"`` -> {object id or node/object id: unit}."""
    units: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        key, _sep, unit = entry.partition("=")
        if unit.strip() not in _SCALE:
            raise ValueError(f"ESPHome unit entry {entry!r}: unit must be one of {', '.join(_SCALE)}")
        units[key.strip()] = unit.strip()
    return units


def sensor_unit(node: str, object_id: str, spec: str) -> str | None:
    """A node-specific entry wins over the object id's default; None when not configured."""
    units = parse_units(spec)
    return units.get(f"{node}/{object_id}", units.get(object_id))


def decode(route: Route, payload: bytes, *, units: str) -> list[Observation]:
    device_id = route.device_id
    if route.kind == "status":
        return [
            observe(VENDOR, device_id, online=parse_availability(payload, online="online", offline="offline"))
        ]
    if route.kind == "switch":
        relay_word(payload, ("on", "off"))
        return [observe(VENDOR, device_id)]
    if route.kind == "sensor":
        unit = sensor_unit(device_id or "", route.detail, units)
        if unit is None or decode_text(payload).strip().lower() in _NO_VALUE:
            return [observe(VENDOR, device_id)]
        quantity, factor = _SCALE[unit]
        value = plain_number(payload, route.detail) * factor
        if quantity == "power":
            return [observe(VENDOR, device_id, power=power_w(value, route.detail))]
        return [observe(VENDOR, device_id, energy=round(energy_wh(value, route.detail), 6))]
    fail(f"unknown ESPHome message kind {short_repr(route.kind)}")
