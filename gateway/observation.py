"""What an adapter makes of one MQTT message: vendor-neutral observations, or a DecodeError."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from core.enums import DeviceVendor

DEFAULT_CHANNEL = "0"


class DecodeError(ValueError):
    """A message we cannot use. ``reason`` is short, human and stored with the rejected message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Observation(NamedTuple):
    """One thing a device told us (immutable; a NamedTuple because one is built per message and a
    frozen dataclass cost ~2 µs to construct, a tenth of the gateway's budget per message).

    - a *reading* has ``power_w`` and/or ``energy_wh`` (never invented: ``None`` when absent);
    - an *availability* message has ``online`` set (LWT / status topic);
    - a *heartbeat* has neither: it proves the device is connected, nothing more.

    ``ts`` is the device's own timestamp (aware UTC) or ``None`` when the message has none.
    A message that is not about power at all (relay state, a voltage sensor, a partial RPC update)
    is a heartbeat: it never invents a power value.
    """

    vendor: DeviceVendor
    device_id: str | None  # None only for bridge-wide messages (Zigbee2MQTT bridge/state)
    channel: str
    power_w: float | None
    energy_wh: float | None
    online: bool | None
    ts: datetime | None

    @property
    def is_reading(self) -> bool:
        return self.power_w is not None or self.energy_wh is not None

    @property
    def is_availability(self) -> bool:
        return self.online is not None


def observe(
    vendor: DeviceVendor,
    device_id: str | None,
    channel: str = DEFAULT_CHANNEL,
    *,
    power: float | None = None,
    energy: float | None = None,
    online: bool | None = None,
    ts: datetime | None = None,
) -> Observation:
    """Keyword-only shorthand for adapters; unset values stay None (never invented)."""
    return Observation(
        vendor=vendor,
        device_id=device_id,
        channel=channel,
        power_w=power,
        energy_wh=energy,
        online=online,
        ts=ts,
    )
