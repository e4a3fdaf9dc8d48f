"""Topic ACLs: which topics an MQTT identity may publish to and subscribe to (pure).

A device may publish exactly the topics the gateway reads *as that device* (its vendor's layout with
its own id, the same settings the adapters use) and subscribe only to its own command topics. The
gateway may subscribe to every device topic and publish only its delivery probes. One definition, three enforcers:
the embedded broker (gateway/auth/embedded.py), Mosquitto's dynamic-security roles
(gateway/auth/dynsec.py) and the HTTP auth hooks (gateway/auth/hooks.py).

Patterns use MQTT wildcards. A Zigbee2MQTT bridge is one client publishing for every Zigbee device
behind it: its identity covers the whole base topic (docs/security.md, "Devices and the broker").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from core.enums import DeviceVendor
from core.settings import Settings
from gateway.adapters import native, route_device, route_of, shelly_gen1, tasmota
from gateway.adapters import subscription_filters as gateway_filters
from gateway.adapters.route import join, nested_device_id
from gateway.link import PROBE_PREFIX
from gateway.observation import DecodeError

# Tasmota's command prefix (its Prefix1, "cmnd" unless someone changed the firmware default).
TASMOTA_COMMAND_PREFIX = "cmnd"
# A Zigbee2MQTT bridge's name only labels its identity: one topic-safe level.
BRIDGE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$", re.ASCII)
# Shared-subscription prefixes a broker may pass to an authorisation check with the filter.
_SHARE_RE = re.compile(r"^(\$share/[^/#+]+/|\$queue/)")


class IdentityError(ValueError):
    """The device id cannot be given an MQTT identity; the message says why."""


@dataclass(frozen=True)
class TopicAcl:
    publish: tuple[str, ...]  # topic patterns it may publish to
    subscribe: tuple[str, ...]  # topic filters it may subscribe within

    def may_publish(self, topic: str) -> bool:
        return any(matches(pattern, topic) for pattern in self.publish)

    def may_subscribe(self, topic_filter: str) -> bool:
        unshared = _SHARE_RE.sub("", topic_filter)
        return any(covers(pattern, unshared) for pattern in self.subscribe)

    def may_receive(self, topic: str) -> bool:
        return any(matches(pattern, topic) for pattern in self.subscribe)


def matches(pattern: str, topic: str) -> bool:
    """Does the concrete *topic* match the MQTT topic filter *pattern*? (``$`` topics need a ``$`` pattern.)"""
    if topic.startswith("$") != pattern.startswith("$"):
        return False
    p_levels, t_levels = pattern.split("/"), topic.split("/")
    for i, level in enumerate(p_levels):
        if level == "#":
            return True
        if i >= len(t_levels) or (level != "+" and level != t_levels[i]):
            return False
    return len(p_levels) == len(t_levels)


def covers(pattern: str, topic_filter: str) -> bool:
    """Is every topic matched by *topic_filter* also matched by *pattern*?"""
    if topic_filter.startswith("$") != pattern.startswith("$"):
        return False
    p_levels, f_levels = pattern.split("/"), topic_filter.split("/")
    for i, level in enumerate(p_levels):
        if level == "#":
            return True
        if i >= len(f_levels):
            return False
        wanted = f_levels[i]
        if wanted == "#" or (level != "+" and (wanted == "+" or level != wanted)):
            return False
    return len(p_levels) == len(f_levels)


# --- the identities -------------------------------------------------------------------------------


def gateway_acl(settings: Settings) -> TopicAcl:
    """Every device topic, to read (shared or not); its own delivery probes (gateway/link.py) both ways."""
    probes = f"{PROBE_PREFIX}/+"
    return TopicAcl(publish=(probes,), subscribe=(*gateway_filters(settings), probes))


def device_acl(vendor: DeviceVendor, external_id: str, settings: Settings) -> TopicAcl:
    """The topics of one device (or, for Zigbee2MQTT, one bridge) with this id. Pure; no validation."""
    d = external_id
    match vendor:
        case DeviceVendor.NATIVE:
            root = settings.mqtt_native_prefix
            return TopicAcl(publish=tuple(f"{root}/{d}/{kind}" for kind in native.KINDS), subscribe=())
        case DeviceVendor.TASMOTA:
            publish = [
                f"{base}/{kind}"
                for prefix, kinds in (
                    (settings.mqtt_tasmota_prefix, tasmota.TELE_KINDS),
                    (tasmota.STAT_PREFIX, tasmota.STAT_KINDS),
                )
                for base in [_tasmota_base(settings, prefix, d)]
                for kind in kinds
            ]
            return TopicAcl(tuple(publish), (f"{_tasmota_base(settings, TASMOTA_COMMAND_PREFIX, d)}/#",))
        case DeviceVendor.SHELLY_GEN1:
            base = f"{settings.mqtt_shelly_gen1_prefix}/{d}"
            return TopicAcl(
                publish=tuple(
                    f"{base}/{rest}"
                    for rest in ("relay/+/power", "relay/+/energy", "relay/+", "online", "announce")
                ),
                subscribe=(
                    f"{base}/relay/+/command",
                    f"{base}/command",
                    f"{settings.mqtt_shelly_gen1_prefix}/command",
                ),
            )
        case DeviceVendor.SHELLY:
            base = topic_base(vendor, d, settings)
            return TopicAcl(
                publish=(f"{base}/status/+", f"{base}/events/rpc", f"{base}/online"),
                subscribe=(f"{base}/rpc", f"{base}/command", f"{base}/command/+"),
            )
        case DeviceVendor.ESPHOME:
            base = topic_base(vendor, d, settings)
            return TopicAcl(
                publish=(f"{base}/sensor/+/state", f"{base}/switch/+/state", f"{base}/status"),
                subscribe=(f"{base}/+/+/command",),
            )
        case DeviceVendor.ZIGBEE2MQTT:
            root = settings.mqtt_zigbee2mqtt_prefix
            return TopicAcl(publish=(f"{root}/#",), subscribe=(f"{root}/#",))
    raise IdentityError(f"no topic layout for vendor {vendor}")


def _tasmota_base(settings: Settings, prefix: str, device_id: str) -> str:
    levels: list[str] = []
    for level in settings.tasmota_fulltopic_levels:
        if level == "%prefix%":
            levels.append(prefix)
        elif level == "%topic%":
            levels.append(device_id)
        elif level in ("%hostname%", "%id%"):
            levels.append("+")
        else:
            levels.append(level)
    return "/".join(levels)


def check_identity(vendor: DeviceVendor, external_id: str, settings: Settings) -> None:
    """Raise IdentityError unless an identity for this id would speak only for itself.

    Every topic the identity may publish must route (by the gateway's own router) to this very
    device: an id that the router would read as another vendor's or another device's (a Shelly
    prefix ``tele/x``, an ESPHome node named ``anbu``) is refused here.
    """
    if vendor not in settings.enabled_vendors:
        raise IdentityError(f"vendor {vendor.value} is not enabled (ANBU_MQTT_VENDORS)")
    if vendor == DeviceVendor.ZIGBEE2MQTT:
        if not BRIDGE_NAME_RE.match(external_id):
            raise IdentityError("a Zigbee2MQTT bridge name is 1-64 characters of A-Z a-z 0-9 _ . -")
        return
    _check_id_syntax(vendor, external_id)
    for pattern in device_acl(vendor, external_id, settings).publish:
        sample = "/".join("0" if level == "+" else level for level in pattern.split("/"))
        found = route_device(route_of(sample, settings))
        if found != (vendor, external_id):
            named = f"{found[0].value}:{found[1]}" if found else "no device"
            raise IdentityError(
                f"{vendor.value}:{external_id} would publish {sample}, which Anbu reads as {named}; "
                "choose another id (or a topic prefix, see docs/devices.md)"
            )


def _check_id_syntax(vendor: DeviceVendor, external_id: str) -> None:
    one_level: dict[DeviceVendor, Callable[[str], bool]] = {
        DeviceVendor.NATIVE: native.valid_device_id,
        DeviceVendor.TASMOTA: tasmota.valid_device_id,
        DeviceVendor.SHELLY_GEN1: lambda d: bool(shelly_gen1.DEVICE_ID_RE.match(d)),
    }
    valid = one_level.get(vendor)
    if valid is not None:
        if not valid(external_id):
            raise IdentityError(f"{external_id!r} is not a valid {vendor.value} device id (docs/devices.md)")
        return
    try:  # Shelly Gen2+ and ESPHome: a topic prefix, possibly several levels
        nested_device_id(external_id)
    except DecodeError as exc:
        raise IdentityError(f"{external_id!r}: {exc.reason}") from exc


def topic_base(vendor: DeviceVendor, external_id: str, settings: Settings) -> str:
    """Where a Shelly Gen2+ or ESPHome device's topics start (its prefix below the configured root)."""
    root = settings.mqtt_shelly_prefix if vendor == DeviceVendor.SHELLY else settings.mqtt_esphome_prefix
    return join(root, external_id)


def nested_overlap(a: str, b: str) -> bool:
    """Two multi-level prefixes where one is the other or sits below it (``kitchen``, ``kitchen/kettle``)."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def username_for(vendor: DeviceVendor, external_id: str) -> str:
    return f"{vendor.value}:{external_id}"
