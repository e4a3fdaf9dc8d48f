"""Plugs, what they report, and what did not make sense."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.enums import DeviceStatus, DeviceVendor, EdgeKind
from core.models._base import BIGINT_PK, enum_field, pk, utc


class Device(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("vendor", "external_id", name="uq_device_vendor_external"),)

    id: int | None = pk()
    vendor: DeviceVendor = enum_field(DeviceVendor)
    external_id: str = Field(max_length=200)
    # None while pending: seen on the wire but not yet assigned by an operator.
    household_id: int | None = Field(default=None, foreign_key="household.id", index=True)
    status: DeviceStatus = enum_field(DeviceStatus, DeviceStatus.PENDING)
    appliance: str = Field(default="", max_length=60)
    # "In use" above this; off again below half of it. The default is the replay's and the
    # evaluation's (anomaly.activity.StepParams.on_w): standby of TVs and chargers stays below.
    on_threshold_w: float = Field(default=20.0, ge=0)
    # Connectivity, kept apart from activity (principle 6).
    online: bool | None = None
    last_seen_at: datetime | None = utc(nullable=True)
    # Usual gap between the device's messages (s), learned from its traffic: silence is measured in it.
    report_interval_s: float | None = None
    # Per-channel on/off state lives in ChannelState; this is the latest power seen.
    last_power_w: float | None = None
    last_reading_at: datetime | None = utc(nullable=True)
    created_at: datetime = utc()
    # The device's clock, learned from its traffic (gateway/reading_time.py): our receive time minus
    # its time, in seconds (None until it sent a time). Beyond +-5 min the clock is wrong: its
    # readings are placed at their time plus this offset, and staff see "the plug's clock is wrong".
    clock_offset_s: float | None = None
    # The last time the device sent (live, not redelivered) and how late we heard it (s):
    # a later message whose time goes back is a clock that stepped back.
    clock_device_ts: datetime | None = utc(nullable=True)
    clock_lag_s: float | None = None


class Reading(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("device_id", "channel", "ts", name="uq_reading_key"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BIGINT_PK)
    device_id: int = Field(foreign_key="device.id")
    channel: str = Field(default="0", max_length=40)
    ts: datetime = utc()
    received_at: datetime = utc()
    power_w: float | None = None
    energy_wh: float | None = None
    # True when the device's clock is wrong and ``ts`` is its time corrected by the learned offset.
    clock_suspect: bool = False


class MessageReceipt(SQLModel, table=True):
    """The last message with each MQTT packet id whose readings carry no device time we keep.

    Such readings are placed at a time the gateway works out (arrival, or a wrong clock corrected),
    so a broker's redelivery (DUP flag, same packet id, after a crash between commit and
    acknowledgement) cannot be told apart by its time: it is recognised here, by client id,
    packet id and a digest of topic and payload (gateway/receipts.py). At most 65,535 rows per
    client id: a packet id's row is replaced when the id comes again.
    """

    __tablename__ = "message_receipt"

    client_id: str = Field(primary_key=True, max_length=200)
    packet_id: int = Field(primary_key=True)
    digest: int = Field(sa_type=BigInteger)
    received_at: datetime = utc()


class ActivityEdge(SQLModel, table=True):
    """An appliance switched on or off: the unit of "sign of life"."""

    __table_args__ = (
        UniqueConstraint("device_id", "channel", "ts", "kind", name="uq_activity_edge"),
        Index("ix_activity_edge_household_ts", "household_id", "ts"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BIGINT_PK)
    household_id: int = Field(foreign_key="household.id")
    device_id: int = Field(foreign_key="device.id")
    channel: str = Field(default="0", max_length=40)
    ts: datetime = utc()
    kind: EdgeKind = enum_field(EdgeKind)
    power_w: float


class ChannelState(SQLModel, table=True):
    """Each channel's switch-on detector state (``anomaly.activity.StepState``), so edges continue
    across batches and gateway restarts exactly as in one uninterrupted run."""

    device_id: int = Field(foreign_key="device.id", primary_key=True)
    channel: str = Field(default="0", max_length=40, primary_key=True)
    is_on: bool = False
    last_ts: datetime = utc()  # the last reading fed (whole seconds)
    last_w: float | None = None  # its power (whole-house meters: what the sub-meters left)
    off_since: datetime | None = utc(nullable=True)  # when a plug last went off (same programme if back soon)
    last_event_ts: datetime | None = utc(
        nullable=True
    )  # the last switch-on (a whole-house step's refractory)


class RejectedMessage(SQLModel, table=True):
    """A message we could not use. Kept (truncated) with the reason; never silently dropped."""

    id: int | None = Field(default=None, primary_key=True, sa_type=BIGINT_PK)
    received_at: datetime = utc(index=True)
    topic: str = Field(sa_column=Column(Text, nullable=False))
    payload_excerpt: str = Field(sa_column=Column(Text, nullable=False))
    payload_size: int
    reason: str = Field(max_length=400)
    # vendor:external_id when the topic names a device, for per-device counts.
    device_key: str | None = Field(default=None, max_length=240, index=True)
    device_id: int | None = Field(default=None, foreign_key="device.id", index=True)
