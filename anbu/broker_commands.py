"""``anbu broker mosquitto-config|sync``: Mosquitto with Anbu's identities (issue 12, docs/security.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.settings import load_settings


def add_broker_commands(sub: Any) -> None:
    broker = sub.add_parser("broker", help="an external MQTT broker").add_subparsers(title="broker commands")
    p = broker.add_parser(
        "mosquitto-config",
        help="write mosquitto.conf, dynamic-security.json and anbu.env for a fresh Mosquitto 2.0",
    )
    p.add_argument("--out", required=True, type=Path, help="directory for the files (and the broker's data)")
    p.add_argument("--listen", default="0.0.0.0:1883", help="plain listener HOST:PORT ('' for none)")
    p.add_argument("--tls-listen", default="", help="TLS listener HOST:PORT (needs --certfile, --keyfile)")
    p.add_argument("--certfile", type=Path, help="the broker's certificate (PEM)")
    p.add_argument("--keyfile", type=Path, help="its private key (PEM)")
    p.add_argument("--client-cafile", type=Path, help="require client certificates signed by this CA")
    p.add_argument("--host", default="127.0.0.1", help="how Anbu reaches the broker (for anbu.env)")
    p.add_argument(
        "--device-host", default=None, help="how plugs reach it (ANBU_MQTT_DEVICE_URL); default --host"
    )
    p.add_argument(
        "--gateways", type=int, default=1, help="gateway identities (one per `anbu gateway` process)"
    )
    p.add_argument(
        "--plugs",
        type=int,
        default=None,
        help="the fleet to size persistence and queues for (default: the device identities now)",
    )
    p.add_argument("--plugin", type=Path, default=None, help="path of mosquitto_dynamic_security.so")
    p.add_argument("--user", default=None, help="run Mosquitto as this user (Mosquitto's `user` option)")
    p.add_argument(
        "--force", action="store_true", help="overwrite existing files (new admin and gateway passwords)"
    )
    p.set_defaults(handler=cmd_mosquitto_config)
    p = broker.add_parser(
        "sync", help="make Mosquitto's device clients and roles match Anbu's (ANBU_MQTT_DYNSEC_URL)"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_broker_sync)


def _host_port(value: str, option: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{option} must be HOST:PORT, got {value!r}")
    return host or "0.0.0.0", int(port)


def cmd_mosquitto_config(args: argparse.Namespace) -> int:
    from anbu import runtime
    from gateway.auth.mosquitto_config import (
        DEFAULT_PLUGIN,
        FILES,
        autosave_every,
        generate,
        queue_limit,
    )

    settings = load_settings()
    out: Path = args.out.resolve()
    try:
        listeners = _listeners(args)
    except ValueError as exc:
        return _fail(str(exc))
    if not args.force and any((out / name).exists() for name in FILES):
        return _fail(f"{out} already has a configuration (a running broker's?); --force replaces it")
    if not 1 <= args.gateways <= 32:
        return _fail("--gateways must be between 1 and 32")
    if args.plugs is not None and args.plugs < 1:
        return _fail("--plugs must be at least 1")
    engine = runtime.open_database(settings, migrate=False)
    devices = _active_identities(engine, settings)
    plugin = args.plugin or DEFAULT_PLUGIN
    generated = generate(
        out,
        settings,
        devices,
        listeners,
        host=args.host,
        device_host=args.device_host,
        gateways=args.gateways,
        plugin=plugin,
        user=args.user,
        plugs=args.plugs,
    )
    conf, _dynsec, env = generated.files
    print(f"wrote {', '.join(str(f) for f in generated.files)}")
    print(
        f"  {len(devices)} device identities, {args.gateways} gateway(s); start it with: mosquitto -c {conf}"
    )
    print(f"  then give Anbu the settings in {env} (it holds passwords: keep it private)")
    fleet = generated.plugs
    print(
        f"  sized for {fleet} plugs: saved every {autosave_every(fleet)} change(s), "
        f"{queue_limit(fleet)} messages queued at most; pass --plugs with the fleet you expect"
    )
    if not plugin.exists():
        print(f"warning: {plugin} does not exist here; pass --plugin", file=sys.stderr)
    return 0


def _listeners(args: argparse.Namespace) -> list[Any]:
    from gateway.auth.mosquitto_config import Listener

    listeners = []
    if args.listen:
        listeners.append(Listener(*_host_port(args.listen, "--listen")))
    if args.tls_listen:
        if args.certfile is None or args.keyfile is None:
            raise ValueError("--tls-listen needs --certfile and --keyfile")
        host, port = _host_port(args.tls_listen, "--tls-listen")
        listeners.append(
            Listener(host, port, args.certfile.resolve(), args.keyfile.resolve(), args.client_cafile)
        )
    if not listeners:
        raise ValueError("give --listen, --tls-listen or both")
    return listeners


def _active_identities(engine: Any, settings: Any) -> list[Any]:
    from sqlmodel import Session, col, select

    from core.models import MqttCredential
    from gateway.auth.acl import device_acl
    from gateway.auth.dynsec import Identity

    with Session(engine) as session:
        rows = session.exec(select(MqttCredential).where(col(MqttCredential.revoked_at).is_(None))).all()
        return [
            Identity(row.username, row.password_hash, device_acl(row.vendor, row.external_id, settings))
            for row in rows
        ]


def cmd_broker_sync(args: argparse.Namespace) -> int:
    from anbu import runtime
    from gateway.auth.dynsec import DynsecError
    from gateway.auth.live import sync

    settings = load_settings()
    if not settings.mqtt_dynsec_url:
        return _fail("ANBU_MQTT_DYNSEC_URL is not set (see anbu.env from anbu broker mosquitto-config)")
    engine = runtime.open_database(settings, migrate=False)
    try:
        report = sync(settings, _active_identities(engine, settings))
    except DynsecError as exc:
        return _fail(str(exc))
    if args.json:
        print(
            json.dumps({"removed": report.removed, "refreshed": report.refreshed, "missing": report.missing})
        )
        return 0
    print(
        f"removed {len(report.removed)} identities Anbu no longer has; rewrote {report.refreshed} device roles"
    )
    for username in report.missing:
        print(
            f"  {username}: unknown to Mosquitto; `anbu devices rotate {username}` gives it a password there"
        )
    return 0


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2
