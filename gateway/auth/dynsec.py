"""Mosquitto's dynamic-security plugin: Anbu's identities as its clients and roles, changed live.

Read from the plugin's documentation and source (mosquitto 2.0.11, plugins/dynamic-security):
clients authenticate with PBKDF2-SHA512 (12-byte salt) hashes that its JSON file may hold as is;
ACLs live in roles; ``defaultACLAccess`` decides what no ACL matches; commands are JSON published to
``$CONTROL/dynamic-security/v1`` and answered on ``…/v1/response`` (to every subscriber, matched
by ``correlationData``). ``deleteClient`` and ``setClientPassword`` disconnect the client's
sessions. Roles have no username placeholder in 2.0, so each device gets a role of its own.

Anbu denies by default (publish, subscribe *and* receive), so only explicit ACLs let anything
through: a device's topics (gateway/auth/acl.py), the gateway's, and the admin's control topic.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from core.settings import Settings, parse_mqtt_url
from gateway.auth.acl import TopicAcl, gateway_acl
from gateway.auth.passwords import parse_hash
from gateway.mqtt_tls import configure_tls

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
ADMIN_ROLE = "anbu-admin"
GATEWAY_ROLE = "anbu-gateway"
DEVICE_ROLE_PREFIX = "anbu-device:"
DEFAULT_ACL_ACCESS = {
    "publishClientSend": False,
    "publishClientReceive": False,
    "subscribe": False,
    "unsubscribe": True,
}


class DynsecError(RuntimeError):
    """Mosquitto could not be told (unreachable, refused us, or answered with an error)."""


def device_role_name(username: str) -> str:
    return DEVICE_ROLE_PREFIX + username


def role(name: str, acl: TopicAcl, *, shared: bool = False, text: str = "") -> dict[str, Any]:
    """A role granting exactly *acl*: publish its publish patterns, subscribe to (and receive) the rest.

    ``shared``: also the ``$share/<group>/…`` form of each filter (Mosquitto 2.0 checks that form).
    """
    acls: list[dict[str, Any]] = [
        {"acltype": "publishClientSend", "topic": topic, "allow": True} for topic in acl.publish
    ]
    for topic_filter in acl.subscribe:
        forms = [topic_filter, f"$share/+/{topic_filter}"] if shared else [topic_filter]
        acls += [{"acltype": "subscribePattern", "topic": form, "allow": True} for form in forms]
        acls.append({"acltype": "publishClientReceive", "topic": topic_filter, "allow": True})
    return {"rolename": name, "textname": text, "acls": acls}


def acl_set(role_json: dict[str, Any]) -> frozenset[tuple[str, str, bool]]:
    """A role's ACLs, comparable whatever their order (and whatever priority Mosquitto filled in)."""
    return frozenset(
        (str(a.get("acltype")), str(a.get("topic")), bool(a.get("allow"))) for a in role_json.get("acls", [])
    )


def admin_role() -> dict[str, Any]:
    control = "$CONTROL/dynamic-security/#"
    return {
        "rolename": ADMIN_ROLE,
        "textname": "Anbu: changes device identities",
        "acls": [
            {"acltype": "publishClientSend", "topic": control, "allow": True},
            {"acltype": "publishClientReceive", "topic": control, "allow": True},
            {"acltype": "subscribePattern", "topic": control, "allow": True},
        ],
    }


def gateway_role(settings: Settings) -> dict[str, Any]:
    return role(GATEWAY_ROLE, gateway_acl(settings), shared=True, text="Anbu: reads every device")


def client_entry(username: str, password_hash: str, roles: Sequence[str], text: str = "") -> dict[str, Any]:
    """A client for dynamic-security.json, with our stored hash (no plaintext needed)."""
    parsed = parse_hash(password_hash)
    if parsed is None:
        raise ValueError(f"{username}: not a PBKDF2-SHA512 hash Mosquitto can load")
    iterations, salt, digest = parsed
    return {
        "username": username,
        "textname": text,
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": iterations,
        "roles": [{"rolename": name} for name in roles],
    }


@dataclass(frozen=True)
class Identity:
    """What dynamic-security needs of one device (or bridge) identity."""

    username: str
    password_hash: str
    acl: TopicAcl


def initial_config(
    settings: Settings,
    *,
    admin: tuple[str, str],
    gateways: Sequence[tuple[str, str]],
    devices: Iterable[Identity],
) -> dict[str, Any]:
    """A fresh dynamic-security.json: the admin, the gateway(s) and every active device identity.

    *admin* and *gateways* are (username, password hash).
    """
    clients = [client_entry(admin[0], admin[1], [ADMIN_ROLE], "Anbu's control client")]
    clients += [client_entry(name, hashed, [GATEWAY_ROLE], "Anbu gateway") for name, hashed in gateways]
    roles = [admin_role(), gateway_role(settings)]
    for device in devices:
        name = device_role_name(device.username)
        clients.append(client_entry(device.username, device.password_hash, [name]))
        roles.append(role(name, device.acl))
    return {"defaultACLAccess": dict(DEFAULT_ACL_ACCESS), "clients": clients, "groups": [], "roles": roles}


# --- live changes ---------------------------------------------------------------------------------


def add_commands(username: str, password: str, acl: TopicAcl) -> list[dict[str, Any]]:
    """Create (or replace) a device's client and its role. Deleting first makes a retry harmless."""
    name = device_role_name(username)
    return [
        {"command": "deleteClient", "username": username},
        {"command": "deleteRole", "rolename": name},
        {"command": "createRole", **role(name, acl)},
        {
            "command": "createClient",
            "username": username,
            "password": password,
            "roles": [{"rolename": name}],
        },
    ]


def rotate_commands(username: str, password: str) -> list[dict[str, Any]]:
    return [{"command": "setClientPassword", "username": username, "password": password}]


def revoke_commands(username: str) -> list[dict[str, Any]]:
    """deleteClient also disconnects every session of that username."""
    return [
        {"command": "deleteClient", "username": username},
        {"command": "deleteRole", "rolename": device_role_name(username)},
    ]


# Errors that mean "already as we want it" for the idempotent command sequences above.
_HARMLESS = {("deleteClient", "Client not found"), ("deleteRole", "Role not found")}


class DynsecControl:
    """A short-lived admin connection per batch of commands (``ANBU_MQTT_DYNSEC_URL``).

    With ``use_username_as_clientid`` every admin connection has the same client id, so two at
    once (the API and a command line) close each other: a batch whose connection drops before its
    answers is sent again (the batches are written to be repeatable).
    """

    def __init__(self, settings: Settings, *, timeout_s: float = 10.0, attempts: int = 3) -> None:
        if not settings.mqtt_dynsec_url:
            raise ValueError("ANBU_MQTT_DYNSEC_URL is not set")
        self._settings = settings
        self._endpoint = parse_mqtt_url(settings.mqtt_dynsec_url)
        self._timeout_s = timeout_s
        self._attempts = attempts

    def run(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send *commands*; return their responses; raise DynsecError on any real error."""
        last: Exception | None = None
        for _ in range(self._attempts):
            try:
                responses = self._once(commands)
            except _Dropped as exc:
                last = exc
                continue
            failures = [
                f"{r.get('command')}: {r['error']}"
                for r in responses
                if r.get("error") and (r.get("command"), r.get("error")) not in _HARMLESS
            ]
            if failures:
                raise DynsecError("Mosquitto refused: " + "; ".join(failures))
            return responses
        raise DynsecError(f"no answer from Mosquitto's dynamic-security plugin: {last}")

    def list_clients(self) -> dict[str, list[str]]:
        """Every client's username and its roles' names."""
        [response] = self.run([{"command": "listClients", "verbose": True}])
        clients = response.get("data", {}).get("clients", [])
        return {
            str(c["username"]): [str(r.get("rolename")) for r in c.get("roles", [])]
            for c in clients
            if isinstance(c, dict) and "username" in c
        }

    def list_roles(self) -> dict[str, frozenset[tuple[str, str, bool]]]:
        """Every role's name and its ACLs as (type, topic, allow)."""
        [response] = self.run([{"command": "listRoles", "verbose": True}])
        roles = response.get("data", {}).get("roles", [])
        return {str(r["rolename"]): acl_set(r) for r in roles if isinstance(r, dict) and "rolename" in r}

    def _once(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        tagged = [{**command, "correlationData": uuid.uuid4().hex} for command in commands]
        wanted = {command["correlationData"]: i for i, command in enumerate(tagged)}
        answers: dict[int, dict[str, Any]] = {}
        done, subscribed = threading.Event(), threading.Event()
        refused: list[str] = []
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"anbu-admin-{uuid.uuid4().hex[:8]}")
        client.username_pw_set(self._endpoint.username, self._endpoint.password)
        if self._endpoint.tls:
            configure_tls(client, self._settings)

        def on_connect(c: mqtt.Client, _u: object, _f: object, rc: Any, _p: object) -> None:
            if rc.is_failure:
                refused.append(str(rc))
                done.set()
                return
            c.subscribe(RESPONSE_TOPIC, qos=1)

        def on_subscribe(_c: object, _u: object, _m: object, codes: list[Any], _p: object) -> None:
            if any(code.is_failure for code in codes):
                refused.append("not allowed to read the control responses")
                done.set()
            subscribed.set()

        def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
            try:
                responses = json.loads(msg.payload).get("responses", [])
            except ValueError:
                return
            for response in responses:
                index = wanted.get(str(response.get("correlationData")))
                if index is not None:
                    answers[index] = response
            if len(answers) == len(tagged):
                done.set()

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        client.on_disconnect = lambda *_a: done.set()
        try:
            client.connect(self._endpoint.host, self._endpoint.port, keepalive=30)
        except OSError as exc:
            raise _Dropped(f"cannot reach {self._endpoint.host}:{self._endpoint.port} ({exc})") from exc
        client.loop_start()
        try:
            if subscribed.wait(self._timeout_s) and not refused:
                client.publish(CONTROL_TOPIC, json.dumps({"commands": tagged}), qos=1)
                done.wait(self._timeout_s)
        finally:
            client.disconnect()
            client.loop_stop()
        if refused:
            raise DynsecError(f"Mosquitto refused the admin connection: {refused[0]}")
        if len(answers) < len(tagged):
            raise _Dropped(f"{len(answers)} of {len(tagged)} answers within {self._timeout_s:.0f} s")
        return [answers[i] for i in range(len(tagged))]


class _Dropped(Exception):
    """The connection ended (or timed out) before every answer came: worth trying again."""
