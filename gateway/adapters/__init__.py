"""Pick the vendor adapter by topic; the one place that knows which topics Anbu listens to.

Vendors with a fixed root (native ``anbu/``, Tasmota ``tele/`` and ``stat/``, Shelly Gen1
``shellies/``, Zigbee2MQTT ``zigbee2mqtt/``) own every topic below it: an unused one there is an
"unknown topic". Tasmota's root comes from its FullTopic layout (``tasmota.match``). Shelly Gen2+
and ESPHome topics start with the device's own prefix, so they are recognised by their suffix
(``/events/rpc``, ``/sensor/<id>/state``...) after the fixed roots.
"""

from __future__ import annotations

from collections.abc import Callable

from core.enums import DeviceVendor
from core.settings import Settings
from gateway.adapters import esphome, native, shelly, shelly_gen1, tasmota, zigbee2mqtt
from gateway.adapters._common import fail, short_repr
from gateway.adapters.route import Route
from gateway.observation import DecodeError, Observation

__all__ = ["Route", "decode", "device_key", "parse_topic", "subscription_filters", "topic_device"]

_Matcher = Callable[[str], Route | None]


def _simple(
    prefix: str, vendor: DeviceVendor, kinds: tuple[str, ...], valid: Callable[[str], bool]
) -> _Matcher:
    """``<prefix>/<device_id>/<kind>`` (native)."""

    def match(topic: str) -> Route | None:
        if not topic.startswith(prefix + "/"):
            return None
        parts = topic[len(prefix) + 1 :].split("/")
        if len(parts) != 2 or parts[1] not in kinds:
            fail("unknown topic")
        if not valid(parts[0]):
            fail(f"invalid device id {short_repr(parts[0])} in topic")
        return Route(vendor=vendor, device_id=parts[0], kind=parts[1])

    return match


def _matchers(settings: Settings) -> list[tuple[DeviceVendor, _Matcher]]:
    # Fixed roots first; the suffix-matched vendors (device prefix first) last. A Tasmota FullTopic
    # that starts with %topic% has no root of its own, so it goes after the fixed roots too.
    tasmota_matcher = (DeviceVendor.TASMOTA, lambda topic: tasmota.match(topic, settings))
    fixed_tasmota = tasmota.has_fixed_root(settings)
    return [
        (
            DeviceVendor.NATIVE,
            _simple(settings.mqtt_native_prefix, DeviceVendor.NATIVE, native.KINDS, native.valid_device_id),
        ),
        *([tasmota_matcher] if fixed_tasmota else []),
        (DeviceVendor.SHELLY_GEN1, lambda topic: shelly_gen1.match(topic, settings.mqtt_shelly_gen1_prefix)),
        (DeviceVendor.ZIGBEE2MQTT, lambda topic: zigbee2mqtt.match(topic, settings.mqtt_zigbee2mqtt_prefix)),
        *([] if fixed_tasmota else [tasmota_matcher]),
        (DeviceVendor.SHELLY, lambda topic: shelly.match(topic, settings.mqtt_shelly_prefix)),
        (DeviceVendor.ESPHOME, lambda topic: esphome.match(topic, settings.mqtt_esphome_prefix)),
    ]


def subscription_filters(settings: Settings) -> list[str]:
    """MQTT topic filters for every message an enabled adapter understands (without any $share prefix)."""
    by_vendor = {
        DeviceVendor.NATIVE: [f"{settings.mqtt_native_prefix}/+/{kind}" for kind in native.KINDS],
        DeviceVendor.TASMOTA: tasmota.filters(settings),
        DeviceVendor.SHELLY_GEN1: shelly_gen1.filters(settings.mqtt_shelly_gen1_prefix),
        DeviceVendor.SHELLY: shelly.filters(settings.mqtt_shelly_prefix),
        DeviceVendor.ZIGBEE2MQTT: zigbee2mqtt.filters(settings.mqtt_zigbee2mqtt_prefix),
        DeviceVendor.ESPHOME: esphome.filters(settings.mqtt_esphome_prefix),
    }
    enabled = settings.enabled_vendors
    return [f for vendor, filters in by_vendor.items() if vendor in enabled for f in filters]


def parse_topic(topic: str, settings: Settings) -> Route:
    enabled = settings.enabled_vendors
    for vendor, match in _matchers(settings):
        if vendor not in enabled:
            continue
        route = match(topic)
        if route is not None:
            return route
    raise DecodeError("unknown topic")


def topic_device(topic: str, settings: Settings) -> tuple[DeviceVendor, str] | None:
    """The device a topic names, or None when the topic names no (valid) device."""
    try:
        route = parse_topic(topic, settings)
    except DecodeError:
        return None
    return None if route.device_id is None else (route.vendor, route.device_id)


def device_key(vendor: DeviceVendor, external_id: str) -> str:
    return f"{vendor.value}:{external_id}"


def decode(topic: str, payload: bytes, *, settings: Settings, default_tz: str) -> list[Observation]:
    """Decode one MQTT message into observations, or raise DecodeError with a short reason.

    ``default_tz`` is the zone for device clocks that send local time without an offset
    (Tasmota's default); pass the household's zone when the device is assigned. An empty list
    means a topic of no interest (Zigbee2MQTT ``bridge/info``, commands to devices).
    """
    route = parse_topic(topic, settings)
    device_id = route.device_id or ""
    match route.vendor:
        case DeviceVendor.NATIVE:
            return native.decode(route.kind, device_id, payload)
        case DeviceVendor.TASMOTA:
            return tasmota.decode(route.kind, device_id, payload, local_tz=default_tz)
        case DeviceVendor.SHELLY_GEN1:
            return shelly_gen1.decode(route, payload)
        case DeviceVendor.SHELLY:
            return shelly.decode(route, payload)
        case DeviceVendor.ZIGBEE2MQTT:
            return zigbee2mqtt.decode(route, payload, local_tz=default_tz)
        case DeviceVendor.ESPHOME:
            return esphome.decode(route, payload, units=settings.mqtt_esphome_units)
    fail(f"no adapter for {route.vendor}")
