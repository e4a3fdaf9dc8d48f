"""What an adapter makes of one MQTT message: vendor-neutral observations, or a DecodeError."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.enums import DeviceVendor

DEFAULT_CHANNEL = "0"


class DecodeError(ValueError):
    """A message we cannot use. ``reason`` is short, human and stored with the rejected message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Observation:
    """One thing a device told us.

    - a *reading* has ``power_w`` and/or ``energy_wh`` (never invented: ``None`` when absent);
    - an *availability* message has ``online`` set (LWT / status topic);
    - a *heartbeat* has neither: it proves the device is connected, nothing more.

    ``ts`` is the device's own timestamp (aware UTC) or ``None`` when the message has none.
    """

    vendor: DeviceVendor
    device_id: str
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
