"""Pick the vendor adapter by topic; the one place that knows which topics Anbu listens to."""

from __future__ import annotations

from dataclasses import dataclass

from core.enums import DeviceVendor
from core.settings import Settings
from gateway.adapters import native, tasmota
from gateway.adapters._common import short_repr
from gateway.observation import DecodeError, Observation

__all__ = ["Route", "decode", "device_key", "parse_topic", "subscription_filters", "topic_device"]


@dataclass(frozen=True)
class Route:
    vendor: DeviceVendor
    device_id: str
    kind: str  # the last topic level: "reading", "status", "SENSOR", "LWT", "STATUS8", ...


def _families(settings: Settings) -> list[tuple[str, DeviceVendor, tuple[str, ...]]]:
    return [
        (settings.mqtt_native_prefix, DeviceVendor.NATIVE, native.KINDS),
        (settings.mqtt_tasmota_prefix, DeviceVendor.TASMOTA, tasmota.TELE_KINDS),
        (tasmota.STAT_PREFIX, DeviceVendor.TASMOTA, tasmota.STAT_KINDS),
    ]


def subscription_filters(settings: Settings) -> list[str]:
    """MQTT topic filters for every message an adapter understands (without any $share prefix)."""
    return [f"{prefix}/+/{kind}" for prefix, _vendor, kinds in _families(settings) for kind in kinds]


def parse_topic(topic: str, settings: Settings) -> Route:
    for prefix, vendor, kinds in _families(settings):
        if not topic.startswith(prefix + "/"):
            continue
        parts = topic[len(prefix) + 1 :].split("/")
        if len(parts) != 2 or parts[1] not in kinds:
            continue
        device_id = parts[0]
        valid = native.valid_device_id if vendor is DeviceVendor.NATIVE else tasmota.valid_device_id
        if not valid(device_id):
            raise DecodeError(f"invalid device id {short_repr(device_id)} in topic")
        return Route(vendor=vendor, device_id=device_id, kind=parts[1])
    raise DecodeError("unknown topic")


def topic_device(topic: str, settings: Settings) -> tuple[DeviceVendor, str] | None:
    """The device a topic names, or None when the topic names no (valid) device."""
    try:
        route = parse_topic(topic, settings)
    except DecodeError:
        return None
    return route.vendor, route.device_id


def device_key(vendor: DeviceVendor, external_id: str) -> str:
    return f"{vendor.value}:{external_id}"


def decode(topic: str, payload: bytes, *, settings: Settings, default_tz: str) -> list[Observation]:
    """Decode one MQTT message into observations, or raise DecodeError with a short reason.

    ``default_tz`` is the zone for device clocks that send local time without an offset
    (Tasmota's default); pass the household's zone when the device is assigned.
    """
    route = parse_topic(topic, settings)
    if route.vendor is DeviceVendor.NATIVE:
        return native.decode(route.kind, route.device_id, payload)
    return tasmota.decode(route.kind, route.device_id, payload, local_tz=default_tz)
