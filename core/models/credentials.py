"""MQTT identities: one per device (or Zigbee2MQTT bridge), with only a hash of its password."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from core.enums import DeviceVendor
from core.models._base import enum_field, pk, utc


class MqttCredential(SQLModel, table=True):
    """What a broker needs to admit a device and fence it into its own topics (gateway/auth/).

    ``username`` is ``<vendor>:<external_id>`` (e.g. ``tasmota:kettle-hh0042``); the topic ACL is
    derived from vendor and external id, never stored, so it follows the topic settings.
    Rotation replaces the hash in place; revocation stamps ``revoked_at`` (the row stays, so the
    name cannot be silently re-used, and re-adding issues a new password).
    """

    __tablename__ = "mqtt_credential"

    id: int | None = pk()
    username: str = Field(max_length=240, unique=True)
    vendor: DeviceVendor = enum_field(DeviceVendor)
    external_id: str = Field(max_length=200)
    # The device this identity speaks for; None for a Zigbee2MQTT bridge (it speaks for many).
    device_id: int | None = Field(default=None, foreign_key="device.id", unique=True)
    # Mosquitto's PBKDF2-SHA512 format ($7$iterations$salt$hash): the dynamic-security plugin
    # can load it as is (gateway/auth/passwords.py).
    password_hash: str = Field(max_length=200)
    issued_at: datetime = utc()
    revoked_at: datetime | None = utc(nullable=True)
    # The value of mqtt_credential_revision when this row last changed: brokers' caches reload
    # only what changed since the revision they have.
    revision: int = Field(default=0, index=True)


class MqttCredentialRevision(SQLModel, table=True):
    """One row, bumped in the same transaction as every credential change (a cheap thing to poll)."""

    __tablename__ = "mqtt_credential_revision"

    id: int = Field(default=1, primary_key=True)
    value: int = 0
