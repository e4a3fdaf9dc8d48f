"""Shelly Gen1 (Plug, Plug S, 1PM, 2.5...; https://shelly-api-docs.shelly.cloud/gen1/).

Every payload is plain text, one value per topic, under ``<root>/<model>-<deviceid>/``
(``<root>`` = ``ANBU_MQTT_SHELLY_GEN1_PREFIX``, default ``shellies``):

- ``relay/<n>/power``  instantaneous power in W (channel ``<n>``);
- ``relay/<n>/energy`` cumulative energy in **watt-minutes** (stored as Wh = W·min / 60);
  Gen1 keeps this counter in RAM, so it restarts at 0 after a power cut: stored as reported;
- ``relay/<n>``        ``on`` / ``off`` / ``overpower``: relay state, a heartbeat (not consumption);
- ``online``           ``true`` on connect, ``false`` as the Last Will;
- ``announce`` and the root ``announce``: JSON identity, a heartbeat.

No Gen1 message carries a timestamp, so readings are stamped on receipt.
"""

from __future__ import annotations

import re

from core.enums import DeviceVendor
from gateway.adapters._common import (
    energy_wh,
    fail,
    parse_availability,
    parse_json_object,
    power_w,
    short_repr,
)
from gateway.adapters.plain import plain_number, relay_word
from gateway.adapters.route import Route, under
from gateway.observation import DEFAULT_CHANNEL, Observation, observe

VENDOR = DeviceVendor.SHELLY_GEN1
# <model>-<deviceid>, e.g. shellyplug-s-7E0E6C; also user-renamed ids. One topic level.
DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$", re.ASCII)
_RELAY_RE = re.compile(r"^\d{1,2}$", re.ASCII)
_RELAY_STATES = ("on", "off", "overpower")


def filters(root: str) -> list[str]:
    return [
        f"{root}/+/relay/+/power",
        f"{root}/+/relay/+/energy",
        f"{root}/+/relay/+",
        f"{root}/+/online",
        f"{root}/+/announce",
    ]


def match(topic: str, root: str) -> Route | None:
    """Routes every topic under the root; an unused one is an "unknown topic" error."""
    rest = under(topic, root)
    if rest is None:
        return None
    parts = rest.split("/")
    if parts == ["announce"]:
        return Route(VENDOR, None, "announce")  # the device id is in the payload
    device_id = parts[0]
    if not DEVICE_ID_RE.match(device_id):
        fail(f"invalid device id {short_repr(device_id)} in topic")
    if len(parts) == 2 and parts[1] in ("online", "announce"):
        return Route(VENDOR, device_id, parts[1])
    if len(parts) in (3, 4) and parts[1] == "relay" and _RELAY_RE.match(parts[2]):
        kind = parts[3] if len(parts) == 4 else "relay"
        if kind in ("power", "energy", "relay"):
            return Route(VENDOR, device_id, kind, detail=str(int(parts[2])))
    fail("unknown topic")


def decode(route: Route, payload: bytes) -> list[Observation]:
    device_id, channel = route.device_id, route.detail or DEFAULT_CHANNEL
    if route.kind == "power":
        return [observe(VENDOR, device_id, channel, power=power_w(plain_number(payload, "power"), "power"))]
    if route.kind == "energy":
        # Validate in Wh (as every vendor does), so a refusal quotes Wh and the bound is the same.
        wh = energy_wh(plain_number(payload, "energy") / 60.0, "energy")
        return [observe(VENDOR, device_id, channel, energy=round(wh, 6))]
    if route.kind == "relay":
        relay_word(payload, _RELAY_STATES)
        return [observe(VENDOR, device_id, channel)]
    if route.kind == "online":
        return [
            observe(VENDOR, device_id, online=parse_availability(payload, online="true", offline="false"))
        ]
    if route.kind == "announce":
        data = parse_json_object(payload)
        announced = data.get("id")
        if not isinstance(announced, str) or not DEVICE_ID_RE.match(announced):
            fail(f"announce needs a string 'id', got {short_repr(announced)}")
        if device_id is not None and announced != device_id:
            fail(f"announce id {short_repr(announced)} does not match the topic")
        return [observe(VENDOR, announced)]
    fail(f"unknown Shelly Gen1 message kind {short_repr(route.kind)}")
