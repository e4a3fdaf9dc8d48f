"""Who may connect, and what they may do: the decisions the embedded broker and the HTTP hooks enforce.

Identities:

- the **gateway**: its username and password (``ANBU_MQTT_URL``'s, or generated per process for the
  embedded broker); the only identity that may read device topics (and publish its delivery probes,
  gateway/link.py), and the only one that may use
  a reserved client id (``ANBU_MQTT_CLIENT_ID`` and anything starting with ``anbu-gateway``);
- a **device**: a row of ``mqtt_credential`` (gateway/auth/directory.py), fenced into its own
  topics (gateway/auth/acl.py); a topic that routes to another device is refused even if a
  pattern would allow it;
- **anonymous**: only with ``ANBU_MQTT_AUTH=off``: may publish device topics (devices then appear
  as pending, the development default), may read nothing.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import IntEnum

from core.settings import Settings
from gateway.adapters import route_device, route_of
from gateway.auth.acl import TopicAcl, gateway_acl
from gateway.auth.directory import CredentialDirectory, DeviceIdentity
from gateway.auth.passwords import verify_password

RESERVED_CLIENT_ID_PREFIX = "anbu-gateway"


class Refusal(IntEnum):
    """MQTT 3.1.1 CONNACK return codes (MQTT 5 maps them to 0x86 / 0x87)."""

    BAD_CREDENTIALS = 4
    NOT_AUTHORISED = 5


@dataclass(frozen=True)
class GatewayIdentity:
    username: str
    password: str
    client_id: str


@dataclass(frozen=True)
class Principal:
    """An admitted client: the gateway, a device (with its identity), or anonymous (auth off)."""

    kind: str  # "gateway" | "device" | "anonymous"
    device: DeviceIdentity | None = None

    @property
    def name(self) -> str:
        return self.device.username if self.device else self.kind


@dataclass(frozen=True)
class Admission:
    principal: Principal | None
    refusal: Refusal | None = None
    reason: str = ""


GATEWAY = Principal("gateway")
ANONYMOUS = Principal("anonymous")


class Authority:
    def __init__(
        self, settings: Settings, directory: CredentialDirectory, gateway: GatewayIdentity | None
    ) -> None:
        self._settings = settings
        self._directory = directory
        self._gateway = gateway
        self._gateway_acl = gateway_acl(settings)
        self.required = settings.mqtt_auth_required

    gateway_principal = GATEWAY

    def is_gateway(self, username: str) -> bool:
        return self._gateway is not None and username == self._gateway.username

    def device(self, username: str) -> DeviceIdentity | None:
        """The active identity of that username (None once revoked)."""
        return self._directory.lookup(username)

    def is_reserved(self, client_id: str) -> bool:
        ours = self._gateway.client_id if self._gateway else self._settings.mqtt_client_id
        return client_id == ours or client_id.startswith(RESERVED_CLIENT_ID_PREFIX)

    def admit(self, username: str | None, password: str | None, client_id: str) -> Admission:
        gateway = self._gateway
        if gateway is not None and username == gateway.username:
            if password is not None and hmac.compare_digest(password.encode(), gateway.password.encode()):
                return Admission(GATEWAY)
            return Admission(None, Refusal.BAD_CREDENTIALS, "wrong gateway password")
        if self.is_reserved(client_id):
            return Admission(None, Refusal.NOT_AUTHORISED, "reserved client id")
        if username is None:
            if self.required:
                return Admission(None, Refusal.NOT_AUTHORISED, "anonymous")
            return Admission(ANONYMOUS)
        identity = self._directory.lookup(username)
        if identity is None or password is None or not verify_password(password, identity.password_hash):
            return Admission(None, Refusal.BAD_CREDENTIALS, "unknown identity or wrong password")
        return Admission(Principal("device", identity))

    def may_publish(self, principal: Principal, topic: str) -> bool:
        if principal.kind == "gateway":
            return self._gateway_acl.may_publish(topic)
        if principal.kind == "anonymous":
            return not self.required and not topic.startswith("$")
        identity = principal.device
        assert identity is not None
        if not self.still_current(identity) or not identity.acl.may_publish(topic):
            return False
        # The router has the last word: a topic it reads as another device is never this one's.
        own = identity.device
        return own is None or route_device(route_of(topic, self._settings)) == own

    def may_subscribe(self, principal: Principal, topic_filter: str) -> bool:
        return self._acl(principal).may_subscribe(topic_filter)

    def may_receive(self, principal: Principal, topic: str) -> bool:
        return self._acl(principal).may_receive(topic)

    def still_current(self, identity: DeviceIdentity) -> bool:
        """Is the identity a client was admitted with still the active one (not revoked, not rotated)?

        A connection admitted before a revocation or rotation is closed as soon as the broker hears
        of it, but packets already on their way are read before the close: from the moment the
        broker knows, they are refused too."""
        current = self._directory.lookup(identity.username)
        return current is not None and current.password_hash == identity.password_hash

    def _acl(self, principal: Principal) -> TopicAcl:
        if principal.kind == "gateway":
            return self._gateway_acl
        if principal.device is not None:
            return principal.device.acl if self.still_current(principal.device) else TopicAcl((), ())
        return TopicAcl((), ())
