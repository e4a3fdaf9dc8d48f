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

__all__ = [
    "Route",
    "decode",
    "decode_route",
    "device_key",
    "parse_topic",
    "route_device",
    "route_of",
    "subscription_filters",
    "topic_device",
]

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


def _route_uncached(topic: str, matchers: list[tuple[DeviceVendor, _Matcher]]) -> Route | str:
    """The route of *topic*, or the reason it has none (a DecodeError's reason)."""
    try:
        for _vendor, match in matchers:
            route = match(topic)
            if route is not None:
                return route
    except DecodeError as exc:
        return exc.reason
    return "unknown topic"


# Routing depends only on the topic and these settings (and Tasmota's stat prefix, a module
# constant tests move): the key under which a router's answers stay valid.
def _routing_key(settings: Settings) -> tuple[str, ...]:
    return (
        settings.mqtt_vendors,
        settings.mqtt_native_prefix,
        settings.mqtt_tasmota_fulltopic,
        settings.mqtt_tasmota_prefix,
        tasmota.STAT_PREFIX,
        settings.mqtt_shelly_gen1_prefix,
        settings.mqtt_zigbee2mqtt_prefix,
        settings.mqtt_shelly_prefix,
        settings.mqtt_esphome_prefix,
    )


class _Router:
    """Topic -> route (or refusal reason) for one routing configuration, remembered per topic.

    A deployment has a bounded set of topics (devices x kinds) and routing was ~6 µs per message
    (docs/benchmarks.md); a dict lookup is ~50 ns. Hostile input can send endless distinct topics,
    so the memory is capped: when full it is simply cleared (answers are recomputed, never wrong).
    """

    MAX_TOPICS = 50_000

    def __init__(self, settings: Settings) -> None:
        enabled = settings.enabled_vendors
        self._matchers = [(vendor, match) for vendor, match in _matchers(settings) if vendor in enabled]
        self._known: dict[str, Route | str] = {}

    def route(self, topic: str) -> Route | str:
        found = self._known.get(topic)
        if found is None:
            found = _route_uncached(topic, self._matchers)
            if len(self._known) >= self.MAX_TOPICS:
                self._known.clear()
            self._known[topic] = found
        return found


_routers: dict[tuple[str, ...], _Router] = {}


def _router(settings: Settings) -> _Router:
    key = _routing_key(settings)
    router = _routers.get(key)
    if router is None:
        if len(_routers) >= 16:  # only tests use many configurations
            _routers.clear()
        router = _routers[key] = _Router(settings)
    return router


def route_of(topic: str, settings: Settings) -> Route | str:
    """The route of *topic*, or why it has none (pure; remembered per topic and configuration)."""
    return _router(settings).route(topic)


def parse_topic(topic: str, settings: Settings) -> Route:
    found = route_of(topic, settings)
    if isinstance(found, str):
        raise DecodeError(found)
    return found


def topic_device(topic: str, settings: Settings) -> tuple[DeviceVendor, str] | None:
    """The device a topic names, or None when the topic names no (valid) device."""
    return route_device(route_of(topic, settings))


def route_device(found: Route | str) -> tuple[DeviceVendor, str] | None:
    """The device a :func:`route_of` answer names, or None."""
    if isinstance(found, str) or found.device_id is None:
        return None
    return (found.vendor, found.device_id)


def device_key(vendor: DeviceVendor, external_id: str) -> str:
    return f"{vendor.value}:{external_id}"


def decode(topic: str, payload: bytes, *, settings: Settings, default_tz: str) -> list[Observation]:
    """Decode one MQTT message into observations, or raise DecodeError with a short reason.

    ``default_tz`` is the zone for device clocks that send local time without an offset
    (Tasmota's default); pass the household's zone when the device is assigned. An empty list
    means a topic of no interest (Zigbee2MQTT ``bridge/info``, commands to devices).
    """
    return decode_route(parse_topic(topic, settings), payload, settings=settings, default_tz=default_tz)


def decode_route(route: Route, payload: bytes, *, settings: Settings, default_tz: str) -> list[Observation]:
    """:func:`decode` for a topic already routed (ingest routes each distinct topic once)."""
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
