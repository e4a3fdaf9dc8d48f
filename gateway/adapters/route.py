"""Where a topic points: which vendor, which device, which kind of message."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.enums import DeviceVendor
from gateway.adapters._common import fail, short_repr

IGNORED = "ignored"  # a vendor topic that is not about one device's state (e.g. Z2M bridge/info)

# Device ids from topic prefixes that may contain '/' (Z2M friendly names, Shelly/ESPHome prefixes):
# no empty level, no wildcard, no whitespace or control character; fits Device.external_id.
_NESTED_ID_RE = re.compile(r"^[^\s+#\x00-\x1f\x7f/]+(/[^\s+#\x00-\x1f\x7f/]+)*$")
MAX_DEVICE_ID_CHARS = 200
# First topic levels that belong to other software on a shared broker, never to a device prefix:
# Home Assistant's birth/will (homeassistant/status) and discovery tree.
FOREIGN_ROOTS = frozenset({"homeassistant"})


@dataclass(frozen=True)
class Route:
    vendor: DeviceVendor
    device_id: str | None  # None: the message is not about one device (bridge-wide, ignored topics)
    kind: str  # vendor-specific: "reading", "LWT", "power", "rpc", "sensor", ...
    detail: str = ""  # channel / component / sensor object id, when the topic carries one


def nested_device_id(device_id: str) -> str:
    """Validate a device id that may span topic levels, or raise DecodeError."""
    if len(device_id) > MAX_DEVICE_ID_CHARS or not _NESTED_ID_RE.match(device_id):
        fail(f"invalid device id {short_repr(device_id)} in topic")
    if device_id.split("/", 1)[0] in FOREIGN_ROOTS:
        fail("unknown topic")
    return device_id


def under(topic: str, root: str) -> str | None:
    """The part of ``topic`` below ``root`` (an empty root matches everything), or None."""
    if not root:
        return topic
    return topic[len(root) + 1 :] if topic.startswith(root + "/") else None


def join(root: str, rest: str) -> str:
    return f"{root}/{rest}" if root else rest
