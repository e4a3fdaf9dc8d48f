"""``anbu residents erase``: a resident's personal data erased at their request (docs/privacy.md)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from core.settings import load_settings

# Exit codes: 0 erased (or already erased), 1 refused (a case is open), 2 no such resident.
REFUSED = 1
NOT_FOUND = 2


def add_resident_commands(sub: Any) -> None:
    residents = sub.add_parser("residents", help="residents' personal data").add_subparsers(
        title="resident commands"
    )
    p = residents.add_parser(
        "erase",
        help="erase a resident's personal data (and their household's, if they live alone); "
        "statistics and an audit entry stay",
    )
    p.add_argument("resident_id", type=int)
    p.add_argument(
        "--force", action="store_true", help="even while a case is open: the open cases are resolved first"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_residents_erase)


def cmd_residents_erase(args: argparse.Namespace) -> int:
    from anbu import runtime
    from anbu.device_commands import CONSOLE_CLIENT, CONSOLE_USER_ID
    from core.clock import SYSTEM_CLOCK
    from core.enums import Role
    from notifier.erasure import Actor, ErasureRefused, erase_resident

    engine = runtime.open_database(load_settings(), migrate=False)
    actor = Actor(CONSOLE_USER_ID, Role.ADMIN, CONSOLE_CLIENT)
    try:
        result = erase_resident(
            engine, args.resident_id, actor=actor, now=SYSTEM_CLOCK.now(), force=args.force
        )
    except ErasureRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return REFUSED if exc.open_case_ids else NOT_FOUND
    if args.json:
        print(json.dumps(asdict(result)))
    elif result.already:
        print(f"resident {result.resident_id} was already erased; nothing to do")
    else:
        what = f"and household {result.household_id}" if result.household_erased else "(others live there)"
        print(
            f"erased resident {result.resident_id} {what}: {result.readings_deleted} readings deleted", end=""
        )
        resolved = ", ".join(map(str, result.cases_resolved))
        print(f"; open cases resolved: {resolved}" if resolved else "")
    return 0
