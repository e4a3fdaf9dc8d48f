"""Smart plugs on the wire: MQTT topics and payloads, written from the vendors' documentation.

Independent of the gateway's adapters on purpose (a shared bug would otherwise pass unseen).

- Tasmota: ``tele/<topic>/SENSOR`` with an ``ENERGY`` object (Total/Yesterday/Today in kWh,
  Period in Wh, Power in W, local ``Time`` without an offset) and ``tele/<topic>/LWT``
  ``Online``/``Offline`` (retained). Period is only in periodic telemetry, as in the firmware.
- Anbu native: ``anbu/<device_id>/reading`` ``{"v": 1, "ts": <unix s>, "power_w": W,
  "energy_wh": Wh, "channel": "0"}`` and ``anbu/<device_id>/status`` ``online``/``offline``
  (retained).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Vendor = Literal["tasmota", "native"]
VENDORS: frozenset[str] = frozenset({"tasmota", "native"})

TASMOTA_ONLINE, TASMOTA_OFFLINE = "Online", "Offline"
NATIVE_ONLINE, NATIVE_OFFLINE = "online", "offline"
MAINS_VOLTAGE_V = 220.0  # Korea: 220 V / 60 Hz


@dataclass(frozen=True)
class MqttMessage:
    topic: str
    payload: str
    retain: bool = False
    qos: int = 1


# -- Tasmota ---------------------------------------------------------------------------------


def tasmota_sensor_topic(topic: str) -> str:
    return f"tele/{topic}/SENSOR"


def tasmota_lwt_topic(topic: str) -> str:
    return f"tele/{topic}/LWT"


def tasmota_time(moment: datetime) -> str:
    """Tasmota's default ``Time``: local wall-clock time, no offset (SetOption52 0)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def encode_tasmota_sensor(
    *,
    local_time: datetime,
    total_start_time: datetime,
    total_kwh: float,
    yesterday_kwh: float,
    today_kwh: float,
    power_w: float,
    period_wh: float | None = None,
    voltage_v: float = MAINS_VOLTAGE_V,
    power_factor: float = 0.95,
) -> str:
    """A ``tele/<topic>/SENSOR`` payload, formatted like the firmware (WattRes 0, EnergyRes 3).

    ``local_time`` and ``total_start_time`` must already be in the device's local time.
    ``period_wh`` is None for telemetry sent on a power change (the firmware omits Period then).
    """
    watts = round(power_w)
    factor = power_factor if watts > 0 else 0.0
    apparent = watts / factor if factor > 0 else 0.0
    reactive = math.sqrt(max(apparent**2 - watts**2, 0.0))
    current = apparent / voltage_v if voltage_v > 0 else 0.0
    # Hand-written so numbers keep the firmware's fixed decimals ("Total":6.000, not 6.0).
    fields = [
        f'"TotalStartTime":"{tasmota_time(total_start_time)}"',
        f'"Total":{total_kwh:.3f}',
        f'"Yesterday":{yesterday_kwh:.3f}',
        f'"Today":{today_kwh:.3f}',
    ]
    if period_wh is not None:
        fields.append(f'"Period":{round(period_wh)}')
    fields += [
        f'"Power":{watts}',
        f'"ApparentPower":{round(apparent)}',
        f'"ReactivePower":{round(reactive)}',
        f'"Factor":{factor:.2f}',
        f'"Voltage":{round(voltage_v)}',
        f'"Current":{current:.3f}',
    ]
    return f'{{"Time":"{tasmota_time(local_time)}","ENERGY":{{{",".join(fields)}}}}}'


# -- Anbu native -----------------------------------------------------------------------------


def native_reading_topic(device_id: str) -> str:
    return f"anbu/{device_id}/reading"


def native_status_topic(device_id: str) -> str:
    return f"anbu/{device_id}/status"


def encode_native_reading(*, ts: datetime, power_w: float, energy_wh: float, channel: str = "0") -> str:
    if ts.tzinfo is None:
        raise ValueError("native readings carry an absolute time: pass an aware datetime")
    return json.dumps(
        {
            "v": 1,
            "ts": round(ts.timestamp(), 3),
            "power_w": round(power_w, 2),
            "energy_wh": round(energy_wh, 3),
            "channel": channel,
        },
        separators=(",", ":"),
    )


# -- a plug with its energy counter ----------------------------------------------------------


class EnergyMeter:
    """Cumulative energy, integrated from power that is constant between readings.

    Tracks today's and yesterday's energy in the device's local calendar, splitting an
    interval that crosses local midnight (DST-safe: midnights come from zoneinfo).
    """

    def __init__(self, zone: ZoneInfo, started_at: datetime, initial_wh: float = 0.0) -> None:
        if started_at.tzinfo is None:
            raise ValueError("started_at must be aware")
        self._zone = zone
        self.total_wh = initial_wh
        self.today_wh = 0.0
        self.yesterday_wh = 0.0
        self._day = started_at.astimezone(zone).date()
        self._last = started_at
        self._power_w = 0.0

    def advance(self, now: datetime, power_w: float) -> float:
        """Adds the energy used since the previous call; then ``power_w`` applies. Returns Wh added."""
        if now < self._last:
            raise ValueError("meter time must not go backwards")
        added = 0.0
        while now.astimezone(self._zone).date() > self._day:
            midnight = _local_midnight(self._day + timedelta(days=1), self._zone)
            added += self._accumulate(midnight)
            self.yesterday_wh, self.today_wh = self.today_wh, 0.0
            self._day += timedelta(days=1)
        added += self._accumulate(now)
        self._power_w = max(0.0, power_w)
        return added

    def _accumulate(self, until: datetime) -> float:
        wh = self._power_w * max((until - self._last).total_seconds(), 0.0) / 3600.0
        self.total_wh += wh
        self.today_wh += wh
        self._last = max(self._last, until)
        return wh


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=zone)


class SimulatedPlug:
    """One metering plug: turns (time, power) into the MQTT messages its firmware would send."""

    def __init__(
        self,
        vendor: Vendor,
        external_id: str,
        *,
        started_at: datetime,
        timezone: str = "Asia/Seoul",
        initial_energy_wh: float = 0.0,
        power_factor: float = 0.95,
    ) -> None:
        if vendor not in VENDORS:
            raise ValueError(f"vendor must be one of {sorted(VENDORS)}, got {vendor!r}")
        self.vendor = vendor
        self.external_id = external_id
        self._zone = ZoneInfo(timezone)
        self._power_factor = power_factor
        self._total_start = started_at.astimezone(self._zone)
        self.meter = EnergyMeter(self._zone, started_at, initial_energy_wh)
        self._period_wh = 0.0

    @property
    def availability_topic(self) -> str:
        if self.vendor == "tasmota":
            return tasmota_lwt_topic(self.external_id)
        return native_status_topic(self.external_id)

    def online(self) -> MqttMessage:
        payload = TASMOTA_ONLINE if self.vendor == "tasmota" else NATIVE_ONLINE
        return MqttMessage(self.availability_topic, payload, retain=True)

    def offline(self) -> MqttMessage:
        """Also the Last Will the broker publishes when the plug drops off."""
        payload = TASMOTA_OFFLINE if self.vendor == "tasmota" else NATIVE_OFFLINE
        return MqttMessage(self.availability_topic, payload, retain=True)

    def reading(self, now: datetime, power_w: float, *, periodic: bool = True) -> MqttMessage:
        """The telemetry message at ``now`` with ``power_w`` flowing from now on.

        ``periodic``: a TelePeriod report (Tasmota includes Period, the Wh since the previous
        periodic report) rather than one sent because the power changed.
        """
        self._period_wh += self.meter.advance(now, power_w)
        if self.vendor == "native":
            payload = encode_native_reading(ts=now, power_w=power_w, energy_wh=self.meter.total_wh)
            return MqttMessage(native_reading_topic(self.external_id), payload)
        period = None
        if periodic:
            period, self._period_wh = self._period_wh, 0.0
        payload = encode_tasmota_sensor(
            local_time=now.astimezone(self._zone),
            total_start_time=self._total_start,
            total_kwh=self.meter.total_wh / 1000.0,
            yesterday_kwh=self.meter.yesterday_wh / 1000.0,
            today_kwh=self.meter.today_wh / 1000.0,
            power_w=power_w,
            period_wh=period,
            power_factor=self._power_factor,
        )
        return MqttMessage(tasmota_sensor_topic(self.external_id), payload)
