"""``anbu checkins set|show``: scheduled check-in calls for a household (issue #5)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from core.settings import load_settings

if TYPE_CHECKING:
    from core.models import CheckinSchedule


def add_checkin_commands(sub: Any) -> None:
    checkins = sub.add_parser("checkins", help="scheduled check-in calls").add_subparsers(
        title="check-in commands"
    )
    p = checkins.add_parser("set", help="set a household's weekly check-in calls (household local time)")
    p.add_argument("household_id", type=int)
    p.add_argument("--days", required=True, help="ISO weekdays, comma-separated: 1 = Monday ... 7 = Sunday")
    p.add_argument("--at", default="10:00", help="HH:MM in the household's time zone (default 10:00)")
    p.add_argument("--off", action="store_true", help="keep the schedule but stop calling")
    p.set_defaults(handler=cmd_checkins_set)
    p = checkins.add_parser("show", help="a household's schedule and latest check-in summaries")
    p.add_argument("household_id", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_checkins_show)


def cmd_checkins_set(args: argparse.Namespace) -> int:
    from anbu import runtime
    from core.clock import SYSTEM_CLOCK
    from core.db import session_scope
    from notifier.checkins import ScheduleError, set_schedule

    try:
        days = [int(part) for part in args.days.split(",") if part.strip()]
    except ValueError:
        print(f"error: --days must be numbers 1-7 separated by commas, got {args.days!r}", file=sys.stderr)
        return 2
    engine = runtime.open_database(load_settings(), migrate=False)
    try:
        with session_scope(engine) as session:
            schedule = set_schedule(
                session,
                args.household_id,
                weekdays=days,
                local_time=args.at,
                now=SYSTEM_CLOCK.now(),
                active=not args.off,
            )
            next_due = schedule.next_due_at
    except ScheduleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"household {args.household_id}: next check-in call {next_due.isoformat() if next_due else 'none (off)'}"
    )
    return 0


def cmd_checkins_show(args: argparse.Namespace) -> int:
    from anbu import runtime
    from core.db import session_scope
    from core.models import CheckinSchedule
    from notifier.checkins import recent_checkins

    engine = runtime.open_database(load_settings(), migrate=False)
    with session_scope(engine) as session:
        schedule = session.get(CheckinSchedule, args.household_id)
        data: dict[str, Any] = {
            "household_id": args.household_id,
            "schedule": None
            if schedule is None
            else {
                "weekdays": schedule.weekdays,
                "local_time": schedule.local_time,
                "active": schedule.active,
                "next_due_at": schedule.next_due_at.isoformat() if schedule.next_due_at else None,
                "last_skip": _last_skip(schedule),
            },
            "recent": [
                {
                    "scheduled_for": c.scheduled_for.isoformat(),
                    "call_status": c.call_status.value,
                    "outcome": c.outcome.value if c.outcome else None,
                    "flags": c.flags,
                    "summary": c.summary,
                }
                for c in recent_checkins(session, args.household_id)
            ],
        }
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    return 0


def _last_skip(schedule: CheckinSchedule) -> dict[str, Any] | None:
    """The latest skipped or held check-in (why there was no call), as the household page shows it."""
    if schedule.last_skip_reason is None or schedule.last_skip_slot is None:
        return None
    return {
        "slot": schedule.last_skip_slot.isoformat(),
        "reason": schedule.last_skip_reason.value,
        "decided_at": schedule.last_skip_at.isoformat() if schedule.last_skip_at else None,
        "held_until": schedule.last_skip_until.isoformat() if schedule.last_skip_until else None,
    }
