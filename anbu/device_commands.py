"""``anbu devices add|rotate|revoke``: give a device its MQTT identity, replace or withdraw it (issue #12).

The password is printed once (with ``--json``: one object with ``username`` and ``password``);
only its hash is stored. Each change is written to the audit log as the console operator
(user id 0) and, with ``ANBU_MQTT_DYNSEC_URL``, applied to Mosquitto at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from core.enums import AuditAction, AuditObject, DeviceVendor, Role
from core.settings import Settings, load_settings

CONSOLE_USER_ID = 0  # the audit log's name for whoever runs `anbu` on the server
CONSOLE_CLIENT = "console"

VENDOR_CHOICES = [vendor.value for vendor in DeviceVendor]


def add_device_identity_commands(devices: Any) -> None:
    p = devices.add_parser(
        "add", help="register a device (or claim a pending one) and print its MQTT credentials once"
    )
    p.add_argument("device", help="the device's id in its vendor's topics (Tasmota Topic, Shelly id, ...)")
    p.add_argument("--vendor", required=True, choices=VENDOR_CHOICES)
    p.add_argument("--household", type=int, default=None, help="assign it to this household at once")
    p.add_argument("--appliance", default="", help="with --household: kettle, tv, rice_cooker, ...")
    p.add_argument("--json", action="store_true", help="one JSON object (username, password, setup lines)")
    p.set_defaults(handler=cmd_devices_add)
    for name, help_ in (
        ("rotate", "issue a new password (the old one stops working; a connected device is disconnected)"),
        ("revoke", "withdraw a device's credentials (it is disconnected and cannot reconnect)"),
    ):
        p = devices.add_parser(name, help=help_)
        p.add_argument(
            "device", help="VENDOR:ID (e.g. tasmota:kettle-hh0042), a device number, or ID with --vendor"
        )
        p.add_argument("--vendor", choices=VENDOR_CHOICES, default=None)
        p.add_argument("--json", action="store_true")
        p.set_defaults(handler=cmd_devices_rotate if name == "rotate" else cmd_devices_revoke)


def cmd_devices_add(args: argparse.Namespace) -> int:
    from gateway.auth import credentials

    if args.household is None and args.appliance:
        return _fail("--appliance needs --household")

    def change(session: Any, settings: Settings, now: datetime) -> credentials.Issued:
        return credentials.add(
            session,
            DeviceVendor(args.vendor),
            args.device,
            settings=settings,
            now=now,
            household_id=args.household,
            appliance=args.appliance,
        )

    return _issue(args, change, AuditAction.ISSUE_CREDENTIALS)


def cmd_devices_rotate(args: argparse.Namespace) -> int:
    from gateway.auth import credentials

    def change(session: Any, _settings: Settings, now: datetime) -> credentials.Issued:
        credential = credentials.find(session, args.device, _vendor(args))
        return credentials.rotate(session, credential, now=now)

    return _issue(args, change, AuditAction.ROTATE_CREDENTIALS, rotated=True)


def cmd_devices_revoke(args: argparse.Namespace) -> int:
    from anbu import runtime
    from core.clock import SYSTEM_CLOCK
    from core.db import session_scope
    from gateway.auth import credentials
    from gateway.auth.live import announce_revoked

    settings = load_settings()
    engine = runtime.open_database(settings, migrate=False)
    now = SYSTEM_CLOCK.now()
    try:
        with session_scope(engine) as session:
            credential = credentials.revoke(
                session, credentials.find(session, args.device, _vendor(args)), now=now
            )
            assert credential.id is not None
            record_console_action(session, AuditAction.REVOKE_CREDENTIALS, credential.id, now=now)
            username = credential.username
    except credentials.CredentialError as exc:
        return _fail(str(exc))
    # Revoked in Anbu whatever happens next; Mosquitto (if any) is told after the commit.
    problem = announce_revoked(settings, username)
    if args.json:
        print(json.dumps({"username": username, "revoked": True, "broker_told": problem is None}))
    else:
        print(f"{username}: revoked. It is disconnected and can no longer connect.")
    if problem is not None:
        print(f"warning: {problem}", file=sys.stderr)
        return 1
    return 0


def _issue(args: argparse.Namespace, change: Any, action: AuditAction, *, rotated: bool = False) -> int:
    from anbu import runtime
    from core.clock import SYSTEM_CLOCK
    from core.db import session_scope
    from gateway.auth import credentials
    from gateway.auth.live import announce_issued
    from gateway.auth.setup_lines import setup_guide
    from gateway.devices import DeviceAssignmentError

    settings = load_settings()
    engine = runtime.open_database(settings, migrate=False)
    now = SYSTEM_CLOCK.now()
    try:
        with session_scope(engine) as session:
            issued = change(session, settings, now)
            record_console_action(session, action, issued.credential_id, now=now)
            announce_issued(settings, issued, rotated=rotated)  # before the commit: refused = undone
    except (credentials.CredentialError, DeviceAssignmentError) as exc:
        return _fail(str(exc))
    guide = setup_guide(issued.vendor, issued.external_id, issued.username, issued.password, settings)
    if args.json:
        print(
            json.dumps(
                {
                    "device_id": issued.device_id,
                    "vendor": issued.vendor.value,
                    "external_id": issued.external_id,
                    "username": issued.username,
                    "password": issued.password,
                    "claimed": issued.claimed,
                    "setup": guide.as_dict(),
                },
                ensure_ascii=False,
            )
        )
        return 0
    what = "claimed pending device" if issued.claimed else "credentials for"
    print(f"{what} {issued.username}" + (f" (device {issued.device_id})" if issued.device_id else ""))
    print(f"  username: {issued.username}\n  password: {issued.password}   (shown once; only a hash is kept)")
    print(f"\nIn {guide.where}:")
    for line in guide.lines:
        print(f"  {line}")
    for note in guide.notes:
        print(f"\nNote: {note.text}")
    return 0


def record_console_action(session: Any, action: AuditAction, credential_id: int, *, now: datetime) -> None:
    """The audit log entry for a change made with the `anbu` command (no dashboard user behind it)."""
    from core.models import AuditEntry

    session.add(
        AuditEntry(
            at=now,
            user_id=CONSOLE_USER_ID,
            role=Role.ADMIN,
            action=action,
            object_type=AuditObject.MQTT_IDENTITY,
            object_id=credential_id,
            client=CONSOLE_CLIENT,
        )
    )


def _vendor(args: argparse.Namespace) -> DeviceVendor | None:
    return DeviceVendor(args.vendor) if args.vendor else None


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2
