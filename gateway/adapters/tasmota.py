"""Tasmota (https://tasmota.github.io/docs/MQTT/).

Topics follow the plugs' FullTopic (setting ``ANBU_MQTT_TASMOTA_FULLTOPIC``, Tasmota's default
``%prefix%/%topic%/``): ``%prefix%`` is ``ANBU_MQTT_TASMOTA_PREFIX`` (``tele``) or ``stat``,
``%topic%`` is the device id, ``%hostname%``/``%id%`` match any one level, then the message kind.
Below, ``tele/<topic>/`` stands for whatever the layout makes of it.

- ``tele/<topic>/SENSOR`` and ``stat/<topic>/STATUS8|STATUS10`` (``{"StatusSNS": {...}}``):
  ``ENERGY.Power`` in W, ``ENERGY.Total`` in kWh (stored as Wh). A list value means one entry per
  channel (Shelly 2.5, Sonoff Dual R3...): channels ``"1"``, ``"2"``, ...; a single value is
  channel ``"0"`` (the whole device). A SENSOR without ``ENERGY`` is a heartbeat.
- ``tele/<topic>/STATE``: no power at all, so a heartbeat (connectivity, not activity).
- ``tele/<topic>/LWT``: ``Online`` / ``Offline`` (retained, the broker sends ``Offline`` as the will).

``Time`` has no offset unless ``SetOption52 1``; then it is local time in the household's zone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from core.enums import DeviceVendor
from core.settings import Settings, tasmota_fulltopic_levels
from gateway.adapters._common import (
    MAX_CHANNELS,
    energy_wh,
    fail,
    iso_timestamp,
    number,
    parse_availability,
    parse_json_object,
    power_w,
    short_repr,
)
from gateway.adapters.route import Route
from gateway.observation import DEFAULT_CHANNEL, Observation, observe

VENDOR = DeviceVendor.TASMOTA
STAT_PREFIX = "stat"
TELE_KINDS = ("SENSOR", "STATE", "LWT")
STAT_KINDS = ("STATUS8", "STATUS10")

# %topic% is free text in Tasmota (default tasmota_XXXXXX); refuse only what breaks topics or logs.
DEVICE_ID_RE = re.compile(r"^[^\s/+#\x00-\x1f\x7f]{1,64}$")


def valid_device_id(device_id: str) -> bool:
    return bool(DEVICE_ID_RE.match(device_id))


# --- topics: the FullTopic layout, once for telemetry and once for status -----------------------

_DEVICE = "%topic%"  # the level that names the device
_ANY = "+"  # %hostname% / %id%: one level whose value we do not need


@dataclass(frozen=True)
class _Layout:
    levels: tuple[str, ...]  # literal levels, _DEVICE or _ANY; the message kind follows
    kinds: tuple[str, ...]

    @property
    def root(self) -> tuple[str, ...]:
        """The literal levels before the first token: topics under them are Tasmota's."""
        root: list[str] = []
        for level in self.levels:
            if level in (_DEVICE, _ANY):
                break
            root.append(level)
        return tuple(root)


@lru_cache(maxsize=16)
def _layouts(fulltopic: str, tele_prefix: str, stat_prefix: str) -> tuple[_Layout, ...]:
    # Cached: parse_topic runs for every message, the layout changes only with the settings.
    out = []
    for prefix, kinds in ((tele_prefix, TELE_KINDS), (stat_prefix, STAT_KINDS)):
        levels: list[str] = []
        for level in tasmota_fulltopic_levels(fulltopic):
            if level == "%prefix%":
                levels.extend(prefix.split("/"))  # a prefix may span levels ("home/tele")
            elif level == "%topic%":
                levels.append(_DEVICE)
            elif level in ("%hostname%", "%id%"):
                levels.append(_ANY)
            else:
                levels.append(level)
        out.append(_Layout(tuple(levels), kinds))
    return tuple(out)


def layouts(settings: Settings) -> tuple[_Layout, ...]:
    # STAT_PREFIX is read here, not bound at import, so tests can give each run its own namespace.
    return _layouts(settings.mqtt_tasmota_fulltopic, settings.mqtt_tasmota_prefix, STAT_PREFIX)


def has_fixed_root(settings: Settings) -> bool:
    """False when the layout starts with a token (``%topic%/%prefix%/``): then Tasmota owns no root."""
    return all(layout.root for layout in layouts(settings))


def filters(settings: Settings) -> list[str]:
    return [
        "/".join([*("+" if level in (_DEVICE, _ANY) else level for level in layout.levels), kind])
        for layout in layouts(settings)
        for kind in layout.kinds
    ]


def match(topic: str, settings: Settings) -> Route | None:
    """The route of a Tasmota topic; None when it is not one; DecodeError under Tasmota's root."""
    parts = topic.split("/")
    owned = False
    for layout in layouts(settings):
        root = layout.root
        if root and len(parts) > len(root) and tuple(parts[: len(root)]) == root:
            owned = True
        if len(parts) != len(layout.levels) + 1 or parts[-1] not in layout.kinds:
            continue
        if not all(
            part == level or (level == _ANY and part) or level == _DEVICE
            for level, part in zip(layout.levels, parts, strict=False)
        ):
            continue
        device_id = parts[layout.levels.index(_DEVICE)]
        if not valid_device_id(device_id):
            fail(f"invalid device id {short_repr(device_id)} in topic")
        return Route(vendor=VENDOR, device_id=device_id, kind=parts[-1])
    if owned:
        fail("unknown topic")
    return None


def decode(kind: str, device_id: str, payload: bytes, *, local_tz: str) -> list[Observation]:
    if kind == "LWT":
        online = parse_availability(payload, online="Online", offline="Offline")
        return [observe(VENDOR, device_id, DEFAULT_CHANNEL, online=online)]
    if kind == "STATE":
        data = parse_json_object(payload)
        return [observe(VENDOR, device_id, DEFAULT_CHANNEL, ts=_time(data, local_tz))]
    if kind == "SENSOR":
        return decode_sensor(device_id, parse_json_object(payload), local_tz=local_tz)
    if kind in STAT_KINDS:
        data = parse_json_object(payload)
        inner = data.get("StatusSNS")
        if not isinstance(inner, dict):
            fail(f"{kind} has no StatusSNS object")
        return decode_sensor(device_id, inner, local_tz=local_tz)
    fail(f"unknown Tasmota message kind {short_repr(kind)}")


def decode_sensor(device_id: str, data: dict[str, Any], *, local_tz: str) -> list[Observation]:
    ts = _time(data, local_tz)
    if "ENERGY" not in data:
        # A plug without metering (or a sensor-only device) still proves it is connected.
        return [observe(VENDOR, device_id, DEFAULT_CHANNEL, ts=ts)]
    energy = data["ENERGY"]
    if not isinstance(energy, dict):
        fail(f"ENERGY must be an object, got {short_repr(energy)}")
    power, total = energy.get("Power"), energy.get("Total")
    if isinstance(power, list) and isinstance(total, list) and len(power) != len(total):
        fail("ENERGY.Power and ENERGY.Total have different numbers of channels")
    power_by_channel = _per_channel(power, "ENERGY.Power", power_w)
    total_by_channel = _per_channel(total, "ENERGY.Total", _kwh_as_wh)
    channels = sorted(set(power_by_channel) | set(total_by_channel), key=int)
    if not channels:
        return [observe(VENDOR, device_id, DEFAULT_CHANNEL, ts=ts)]
    return [
        observe(
            VENDOR,
            device_id,
            channel,
            power=power_by_channel.get(channel),
            energy=total_by_channel.get(channel),
            ts=ts,
        )
        for channel in channels
    ]


def _kwh_as_wh(value: object, field: str) -> float:
    # Validate in Wh so the bounds are the same for every vendor; round away float noise (6.294 kWh).
    wh = energy_wh(number(value, field) * 1000.0, field)
    return round(wh, 6)


def _per_channel(value: object, field: str, parse: Callable[[object, str], float]) -> dict[str, float]:
    """A scalar is the whole device (channel "0"); a list is channels "1".."n"."""
    if value is None:
        return {}
    if isinstance(value, list):
        if not value:
            fail(f"{field} is an empty list")
        if len(value) > MAX_CHANNELS:
            fail(f"{field} has more than {MAX_CHANNELS} channels")
        return {str(i): parse(item, f"{field}[{i - 1}]") for i, item in enumerate(value, start=1)}
    return {DEFAULT_CHANNEL: parse(value, field)}


def _time(data: dict[str, Any], local_tz: str) -> datetime | None:
    if "Time" not in data or data["Time"] is None:
        return None
    return iso_timestamp(data["Time"], "Time", local_tz=local_tz)
