"""Telling an external broker about identity changes at once (Mosquitto's dynamic-security plugin).

The embedded broker and the HTTP auth hooks read ``mqtt_credential`` themselves; Mosquitto keeps its
own copy, so every add, rotation and revocation is also sent to it when ``ANBU_MQTT_DYNSEC_URL`` is
set. An add or a rotation that Mosquitto did not take is undone (the caller rolls back: the device
would otherwise hold a password nobody accepts); a revocation always stands in Anbu, and if
Mosquitto could not be told the caller says so loudly and ``anbu broker sync`` finishes the job.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.settings import Settings
from gateway.auth import dynsec
from gateway.auth.acl import device_acl
from gateway.auth.credentials import CredentialError, Issued

log = logging.getLogger(__name__)


def announce_issued(settings: Settings, issued: Issued, *, rotated: bool = False) -> None:
    """Raise CredentialError if Mosquitto did not take the new password (the caller rolls back)."""
    if not settings.mqtt_dynsec_url:
        return
    if rotated:
        commands = dynsec.rotate_commands(issued.username, issued.password)
    else:
        acl = device_acl(issued.vendor, issued.external_id, settings)
        commands = dynsec.add_commands(issued.username, issued.password, acl)
    try:
        dynsec.DynsecControl(settings).run(commands)
    except dynsec.DynsecError as exc:
        raise CredentialError(f"Mosquitto was not told, so nothing changed: {exc}") from exc


def announce_revoked(settings: Settings, username: str) -> str | None:
    """Tell Mosquitto; None when done (or nothing to tell), else why not (the revocation stands)."""
    if not settings.mqtt_dynsec_url:
        return None
    try:
        dynsec.DynsecControl(settings).run(dynsec.revoke_commands(username))
    except dynsec.DynsecError as exc:
        log.error("revoked in Anbu but not in Mosquitto: %s", exc)
        return f"revoked in Anbu, but Mosquitto was not told ({exc}); run `anbu broker sync`"
    return None


@dataclass
class SyncReport:
    removed: list[str] = field(default_factory=list)  # in Mosquitto, not active in Anbu: deleted
    refreshed: int = 0  # device roles rewritten from the current topic settings
    missing: list[str] = field(default_factory=list)  # active in Anbu, unknown to Mosquitto: rotate them


def sync(settings: Settings, identities: Iterable[dynsec.Identity]) -> SyncReport:
    """Make Mosquitto's device clients match Anbu's active identities, and their roles the settings.

    Device clients are the usernames with a ``:`` (``vendor:id``); the admin, gateways and anything
    the operator added by hand are left alone, except that the gateway role follows the topic
    settings too. Only roles whose ACLs differ are rewritten (Mosquitto disconnects a role's
    clients when it changes; they reconnect at once, sessions kept). A password cannot be pushed
    (Anbu keeps only its hash), so an identity Mosquitto lacks is reported: rotate it.
    """
    control = dynsec.DynsecControl(settings)
    clients, roles = control.list_clients(), control.list_roles()
    ours = {identity.username: identity for identity in identities}
    report = SyncReport()
    commands: list[dict[str, Any]] = []
    for username in sorted(clients):
        if ":" not in username:
            continue
        identity = ours.get(username)
        if identity is None:
            commands += dynsec.revoke_commands(username)
            report.removed.append(username)
            continue
        change = _replace_role(
            dynsec.role(dynsec.device_role_name(username), identity.acl), roles, [username]
        )
        report.refreshed += bool(change)
        commands += change
    gateways = [name for name, names in clients.items() if dynsec.GATEWAY_ROLE in names]
    commands += _replace_role(dynsec.gateway_role(settings), roles, gateways)
    if commands:
        control.run(commands)
    report.missing = sorted(set(ours) - set(clients))
    return report


def _replace_role(
    wanted: dict[str, Any], roles: dict[str, frozenset[tuple[str, str, bool]]], holders: list[str]
) -> list[dict[str, Any]]:
    name = wanted["rolename"]
    if roles.get(name) == dynsec.acl_set(wanted):
        return []
    return [
        {"command": "deleteRole", "rolename": name},
        {"command": "createRole", **wanted},
        *({"command": "addClientRole", "username": holder, "rolename": name} for holder in holders),
    ]
