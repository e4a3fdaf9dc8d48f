"""`anbu` — one command for every role. Run `anbu --help`."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from pydantic import ValidationError

from anbu import logs
from core.clock import SYSTEM_CLOCK
from core.settings import InsecureSettingsError, LogSettings, Settings, load_settings

log = logging.getLogger("anbu")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        log_settings = LogSettings()
    except ValueError as exc:
        print(f"anbu: {exc}", file=sys.stderr)
        return 2
    logs.configure(log_settings.log_format, verbose=getattr(args, "verbose", False))
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (InsecureSettingsError, ValidationError) as exc:
        # A refusal is the message, not a traceback: it names the setting to fix.
        print(f"anbu: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anbu", description="Anbu (안부): welfare check-ins for people living alone"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(title="commands")

    def command(name: str, help_: str, handler: object) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(handler=handler)
        return p

    command("up", "run every role in one process: API, gateway (and embedded broker), ticks", cmd_up)
    command("gateway", "run only the MQTT gateway", cmd_gateway)
    command("api", "run only the API and dashboard", cmd_api)
    command("worker", "run only the ticks (sweeper, escalation, outbox)", cmd_worker)
    p = command("demo", "run the whole system on embedded defaults with a simulated district", cmd_demo)
    p.add_argument("--port", type=int, default=8089, help="dashboard/API port (default 8089)")
    p.add_argument("--households", type=int, default=8, help="size of the simulated district")
    p = command("simulate", "publish a simulated district's plugs to the configured broker", cmd_simulate)
    p.add_argument("--households", type=int, default=8)
    p.add_argument("--interval", type=float, default=10.0, help="seconds between plug reports")

    db = sub.add_parser("db", help="database maintenance").add_subparsers(title="db commands")
    p = db.add_parser("upgrade", help="apply Alembic migrations to ANBU_DATABASE_URL")
    p.set_defaults(handler=cmd_db_upgrade)

    p = command(
        "backup", "copy the whole database to one file (online: the roles may keep running)", cmd_backup
    )
    p.add_argument("out", type=Path, help="the backup file to write")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p = command("restore", "load a backup made by `anbu backup` into ANBU_DATABASE_URL", cmd_restore)
    p.add_argument("src", type=Path, metavar="IN", help="the backup file to read")
    p.add_argument(
        "--force", action="store_true", help="replace a non-empty database (stop every role first)"
    )

    user = sub.add_parser("user", help="manage dashboard users").add_subparsers(title="user commands")
    p = user.add_parser("add", help="create a user (password from --password-stdin or a prompt)")
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=["admin", "caseworker", "control_room", "family"])
    p.add_argument("--team-id", type=int, default=None)
    p.add_argument("--display-name", default="")
    p.add_argument("--phone", default=None)
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(handler=cmd_user_add)

    devices = sub.add_parser("devices", help="plugs").add_subparsers(title="device commands")
    p = devices.add_parser("pending", help="list devices seen on the wire but not assigned to a household")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=_positive_int, default=50, help="at most this many, most recent first")
    p.add_argument("--offset", type=_non_negative_int, default=0, help="skip this many first")
    p.set_defaults(handler=cmd_devices_pending)
    p = devices.add_parser("assign", help="assign a pending device to a household")
    p.add_argument("device_id", type=int)
    p.add_argument("household_id", type=int)
    p.add_argument("--appliance", default="", help="kettle, tv, rice_cooker, microwave, ...")
    p.set_defaults(handler=cmd_devices_assign)
    from anbu.device_commands import add_device_identity_commands

    add_device_identity_commands(devices)
    from anbu.broker_commands import add_broker_commands

    add_broker_commands(sub)

    p = command(
        "stats", "print counts of households, devices, readings, cases, calls, notifications", cmd_stats
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    from anbu.classify_command import add_classify_command

    add_classify_command(sub)
    p = command("decode", 'decode device messages: --jsonl FILE of {"topic", "payload"} lines', cmd_decode)
    p.add_argument("--jsonl", required=True, type=Path)
    from anbu.detection_commands import add_detection_commands

    add_detection_commands(sub)
    from anbu.checkin_commands import add_checkin_commands

    add_checkin_commands(sub)
    from anbu.resident_commands import add_resident_commands

    add_resident_commands(sub)
    return parser


# ------------------------------------------------------------------ roles


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def cmd_up(_args: argparse.Namespace) -> int:
    from anbu import runtime

    settings = load_settings()
    settings.refuse_unsafe_phone()
    engine = runtime.open_database(settings)
    running = runtime.Running()
    try:
        identity = runtime.start_broker(settings, running, engine)
        gateway = runtime.start_gateway(settings, engine, SYSTEM_CLOCK, running, identity)
        ticks = runtime.start_ticks(settings, engine, SYSTEM_CLOCK, running, start=False)
        print(f"Anbu is up: {settings.effective_public_base_url}/")
        runtime.serve_api(
            settings, engine, SYSTEM_CLOCK, gateway=gateway, ticks=ticks, role="up", on_serving=ticks.start
        )
    finally:
        running.stop()
    return 0


def cmd_gateway(_args: argparse.Namespace) -> int:
    from anbu import runtime

    settings = load_settings()
    engine = runtime.open_database(settings)
    running = runtime.Running()
    try:
        identity = runtime.start_broker(settings, running, engine)
        gateway = runtime.start_gateway(settings, engine, SYSTEM_CLOCK, running, identity)
        health = runtime.role_health("gateway", engine, gateway=gateway)
        runtime.start_health_server(settings, health, running, default_port=runtime.GATEWAY_HEALTH_PORT)
        _wait_for_signal()
    finally:
        running.stop()
    return 0


def cmd_api(_args: argparse.Namespace) -> int:
    from anbu import runtime

    settings = load_settings()
    settings.refuse_unsafe_phone()
    engine = runtime.open_database(settings)
    runtime.serve_api(settings, engine, SYSTEM_CLOCK)
    return 0


def cmd_worker(_args: argparse.Namespace) -> int:
    from anbu import runtime

    settings = load_settings()
    settings.refuse_unsafe_phone()
    engine = runtime.open_database(settings)
    running = runtime.Running()
    try:
        ticks = runtime.start_ticks(settings, engine, SYSTEM_CLOCK, running)
        health = runtime.role_health("worker", engine, ticks=ticks)
        health.facts.update(settings.phone_status())
        runtime.start_health_server(settings, health, running, default_port=runtime.WORKER_HEALTH_PORT)
        _wait_for_signal()
    finally:
        running.stop()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from anbu.demo import run_demo

    return run_demo(port=args.port, households=args.households)


def cmd_simulate(args: argparse.Namespace) -> int:
    from anbu.provisioning import simulator_for
    from simulator.households import demo_district

    settings = load_settings()
    ep = settings.mqtt_endpoint
    district = demo_district(households=args.households)
    plug_credentials: dict[str, tuple[str, str]] = {}
    if settings.mqtt_auth_required:
        from anbu import runtime
        from anbu.provisioning import provision_plugs

        engine = runtime.open_database(settings, migrate=False)
        plug_credentials = provision_plugs(engine, settings, district, now=SYSTEM_CLOCK.now())
        print(f"issued MQTT credentials for {len(plug_credentials)} simulated plugs")
    sim = simulator_for(settings, district, plug_credentials, report_interval_s=args.interval)
    sim.start()
    print(f"simulating {args.households} households → {ep.host}:{ep.port} (Ctrl-C to stop)")
    try:
        _wait_for_signal()
    finally:
        sim.stop()
    return 0


# ------------------------------------------------------------------ admin


def cmd_db_upgrade(_args: argparse.Namespace) -> int:
    from core.migrate import upgrade

    settings = load_settings()
    upgrade(settings.effective_database_url)
    print("database is at the latest migration")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from anbu.backup import BackupError, backup

    try:
        done = backup(load_settings().effective_database_url, args.out, force=args.force)
    except BackupError as exc:
        print(f"anbu backup: {exc}", file=sys.stderr)
        return 1
    print(f"backed up to {done.path} ({done.bytes:,} bytes)")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from anbu.backup import BackupError, restore

    settings = load_settings()
    try:
        restore(settings.effective_database_url, args.src, force=args.force)
    except BackupError as exc:
        print(f"anbu restore: {exc}", file=sys.stderr)
        return 1
    print(f"restored {args.src}; the roles bring the schema up to date when they start (or: anbu db upgrade)")
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    from anbu import runtime
    from api.users import create_user
    from core.db import session_scope
    from core.enums import Role

    settings = load_settings()
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    engine = runtime.open_database(settings, migrate=False)
    try:
        with session_scope(engine) as session:
            user = create_user(
                session,
                username=args.username,
                password=password,
                role=Role(args.role),
                team_id=args.team_id,
                display_name=args.display_name,
                phone=args.phone,
            )
            user_id = user.id
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"created user {args.username} (id {user_id}, role {args.role})")
    return 0


def cmd_devices_pending(args: argparse.Namespace) -> int:
    from anbu import runtime
    from core.db import session_scope
    from gateway.devices import count_pending_devices, pending_devices

    engine = runtime.open_database(load_settings(), migrate=False)
    with session_scope(engine) as session:
        total = count_pending_devices(session)
        rows = [
            {
                "id": d.id,
                "vendor": d.vendor.value,
                "external_id": d.external_id,
                "last_seen_at": d.last_seen_at.isoformat() if d.last_seen_at else None,
                "last_power_w": d.last_power_w,
            }
            for d in pending_devices(session, limit=args.limit, offset=args.offset)
        ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    elif not rows:
        print("no pending devices" if total == 0 else f"no pending devices past {args.offset} (of {total})")
    else:
        for r in rows:
            print(f"{r['id']:>6}  {r['vendor']:<8} {r['external_id']:<32} last seen {r['last_seen_at']}")
    if rows and len(rows) < total:
        # On stderr, so that --json output stays one list a script can read.
        shown = f"{args.offset + 1}-{args.offset + len(rows)}"
        print(f"showing {shown} of {total} pending devices (--offset/--limit for more)", file=sys.stderr)
    return 0


def cmd_devices_assign(args: argparse.Namespace) -> int:
    from anbu import runtime
    from core.db import session_scope
    from gateway.devices import assign_device

    engine = runtime.open_database(load_settings(), migrate=False)
    try:
        with session_scope(engine) as session:
            assign_device(session, args.device_id, args.household_id, args.appliance)
    except (LookupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"device {args.device_id} assigned to household {args.household_id}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from anbu import runtime
    from anbu.stats import collect

    engine = runtime.open_database(load_settings(), migrate=False)
    stats = collect(engine)
    if args.json:
        print(json.dumps(stats, ensure_ascii=False))
    else:
        for key, value in stats.items():
            print(f"{key:<20} {value}")
    return 0


# ------------------------------------------------------------------ tools


def _jsonl_lines(path: Path) -> Iterator[tuple[int, dict[str, object] | None, str | None]]:
    """Every line of the file, blank and broken ones included, so output line n answers input line n."""
    with path.open("rb") as fh:
        for n, raw_line in enumerate(fh, 1):
            try:
                line = raw_line.decode("utf-8")
            except UnicodeDecodeError:
                yield n, None, f"line {n}: not valid UTF-8"
                continue
            if not line.strip():
                yield n, None, f"line {n}: blank line"
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield n, None, f"line {n}: invalid JSON ({exc.msg})"
                continue
            if not isinstance(obj, dict):
                yield n, None, f"line {n}: expected a JSON object"
                continue
            yield n, obj, None


def _decode_line(obj: dict[str, object], n: int, settings: Settings) -> dict[str, object]:
    from gateway.adapters import decode
    from gateway.observation import DecodeError

    topic, payload = obj.get("topic"), obj.get("payload")
    if not isinstance(topic, str) or payload is None:
        return {"error": f"line {n}: each line needs 'topic' (string) and 'payload'"}
    raw = (payload if isinstance(payload, str) else json.dumps(payload)).encode("utf-8")
    if len(raw) > settings.mqtt_max_payload_bytes:  # the gateway would reject it the same way
        return {
            "error": f"line {n}: payload too large ({len(raw)} bytes, limit {settings.mqtt_max_payload_bytes})"
        }
    try:
        observations = decode(topic, raw, settings=settings, default_tz=settings.default_timezone)
    except DecodeError as exc:
        return {"error": f"line {n}: {exc}"}
    # Every field is always present; null means the message did not carry it (never a made-up 0 W).
    return {
        "observations": [
            {
                "device_id": o.device_id,
                "channel": o.channel,
                "power_w": o.power_w,
                "energy_wh": o.energy_wh,
                "online": o.online,
                "ts": o.ts.isoformat() if o.ts else None,
            }
            for o in observations
        ]
    }


def cmd_decode(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        for n, obj, error in _jsonl_lines(args.jsonl):
            result = {"error": error} if obj is None else _decode_line(obj, n, settings)
            print(json.dumps(result))
    except OSError as exc:
        print(f"anbu decode: cannot read {args.jsonl}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
