"""Run the outside world by hand: ``python -m simulator emulator ...`` or ``python -m simulator district ...``.

The ``anbu`` command wires these up for the demo; this entry point is for manual testing.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading

from simulator.households import demo_district, phone_behaviours
from simulator.runner import Simulator
from simulator.twilio_emulator import TwilioEmulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulator")
    commands = parser.add_subparsers(dest="command", required=True)

    emulator = commands.add_parser("emulator", help="serve the Twilio emulator until Ctrl-C")
    emulator.add_argument("--account-sid", required=True)
    emulator.add_argument("--auth-token", required=True)
    emulator.add_argument("--port", type=int, default=0, help="0 picks a free port")
    emulator.add_argument("--pace", type=float, default=0.0, help="real seconds per simulated call second")
    emulator.add_argument(
        "--demo-district", action="store_true", help="residents answer as in demo_district()"
    )

    district = commands.add_parser("district", help="publish the demo district's plugs until Ctrl-C")
    district.add_argument("--mqtt-host", default="127.0.0.1")
    district.add_argument("--mqtt-port", type=int, required=True)
    district.add_argument("--households", type=int, default=8)
    district.add_argument("--seed", type=int, default=7)
    district.add_argument("--stop-after", type=float, default=None, help="seconds until the stopper stops")
    district.add_argument(
        "--collapse",
        choices=("in_bed", "active"),
        default="in_bed",
        help="the stopper collapses in bed (everything off) or while active (the TV, rice cooker left on)",
    )
    district.add_argument("--report-interval", type=float, default=10.0)
    district.add_argument(
        "--credentials",
        default=None,
        help='JSON file {"<device id>": {"username": ..., "password": ...}}: each plug\'s MQTT identity',
    )

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "emulator":
        emu = TwilioEmulator(args.account_sid, args.auth_token, port=args.port, pace=args.pace)
        if args.demo_district:
            emu.set_behaviours(phone_behaviours(demo_district()))
        emu.start()
        print(f"Twilio emulator at {emu.base_url} (control API under {emu.base_url}/_emulator/)")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            emu.stop()
    else:
        Simulator(
            demo_district(args.seed, households=args.households, collapse=args.collapse),
            mqtt_host=args.mqtt_host,
            mqtt_port=args.mqtt_port,
            report_interval_s=args.report_interval,
            stop_after_s=args.stop_after,
            credentials=_credentials(args.credentials),
        ).run_forever()


def _credentials(path: str | None) -> dict[str, tuple[str, str]]:
    if path is None:
        return {}
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    return {device: (entry["username"], entry["password"]) for device, entry in data.items()}


if __name__ == "__main__":
    main()
