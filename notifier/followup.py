"""After the ladder: reminders for acknowledged cases, "all clear" when a case is over, and the
control room called for a self-harm case nobody on the staff took on (:mod:`notifier.self_harm`).

:func:`tick` (a worker tick of its own) runs both; the reminders are here, the closure
messages in :mod:`notifier.closures`. Both write outbox rows through :mod:`notifier.queueing`.

**Reminders.** An acknowledged case that stays unresolved reminds the on-duty caseworkers every
``ack_reminder_minutes`` of its policy (default 4 h). ``Case.next_action_at`` of an acknowledged
case is the time of the next reminder: armed at ``acknowledged_at + interval`` by the first tick
that sees it, then moved on by each reminder with a conditional UPDATE (the claim, so two workers
cannot both remind). Reminder ``n`` has the idempotency key ``step:ack_reminder:rep:n``.

**All clear.** See :mod:`notifier.closures`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_
from sqlmodel import Session, col, select

from core.clock import Clock
from core.db import session_scope
from core.enums import CaseStatus
from core.models import Case, Household
from core.settings import Settings
from notifier import closures, lifecycle, self_harm
from notifier.ladder import NO_REMINDER_KINDS
from notifier.policy import NotifyCaseworker, policy_from_snapshot
from notifier.queueing import queue_for, record_step
from notifier.recipients import resolve_recipients
from notifier.templates import Purpose

log = logging.getLogger(__name__)

REMINDER_LABEL = "ack_reminder"


def tick(engine: Engine, clock: Clock, settings: Settings, *, limit: int = 100) -> int:
    """Reminders and closure messages that are due; returns how many cases got a message.
    (``settings``: the signature every tick shares; nothing here is configured by it.)"""
    now = clock.now()
    done = 0
    for case_id in _due_reminders(engine, now, limit):
        done += _one(engine, case_id, now, remind)
    for case_id in closures.closed_without_closure(engine, now, limit):
        done += _one(engine, case_id, now, closures.send_closure)
    for case_id in self_harm.active_cases(engine, limit):  # the control room, when nobody took it on
        done += _one(engine, case_id, now, self_harm.call_control_room_if_due)
    return done


def _one(engine: Engine, case_id: int, now: datetime, work: Callable[[Session, int, datetime], bool]) -> int:
    try:
        with session_scope(engine) as session:
            return 1 if work(session, case_id, now) else 0
    except Exception:  # one bad case must not stop the others
        log.exception("follow-up failed for case %s", case_id)
        return 0


# ---------------------------------------------------------------- reminders


def reminder_number(acknowledged_at: datetime, due: datetime, interval: timedelta) -> int:
    """Pure: which reminder (1, 2, ...) is due at ``due``; stable across workers."""
    return max(1, round((due - acknowledged_at) / interval))


def _due_reminders(engine: Engine, now: datetime, limit: int) -> list[int]:
    with session_scope(engine) as session:
        stmt = (
            select(Case.id)
            .where(
                Case.status == CaseStatus.ACKNOWLEDGED,
                col(Case.kind).not_in(NO_REMINDER_KINDS),
                or_(col(Case.next_action_at).is_(None), col(Case.next_action_at) <= now),
            )
            .order_by(col(Case.id))
            .limit(limit)
        )
        return [int(i) for i in session.exec(stmt).all() if i is not None]


def remind(session: Session, case_id: int, now: datetime) -> bool:
    """Arm the first reminder of a newly acknowledged case, or send the one that is due."""
    case = session.get(Case, case_id)
    if case is None or case.status != CaseStatus.ACKNOWLEDGED:
        return False
    policy = policy_from_snapshot(case.policy_snapshot)
    interval = timedelta(minutes=policy.ack_reminder_minutes)
    acknowledged_at = case.acknowledged_at or now
    due = case.next_action_at
    if due is None:
        lifecycle.schedule_reminder(session, case, next_action_at=acknowledged_at + interval)
        return False
    if due > now:
        return False
    number = reminder_number(acknowledged_at, due, interval)
    if not lifecycle.schedule_reminder(session, case, next_action_at=now + interval):
        return False  # another worker reminded, or the case was resolved meanwhile
    household = session.get(Household, case.household_id)
    assert household is not None
    recipients = resolve_recipients(session, household, (NotifyCaseworker(),))
    queued = queue_for(
        session,
        case,
        household,
        recipients,
        label=REMINDER_LABEL,
        repeat=number,
        purpose=Purpose.ACK_REMINDER,
        limits=policy.limits,
        now=now,
    )
    record_step(
        session,
        case,
        now,
        label=REMINDER_LABEL,
        repeat=number,
        actions=["notify_caseworker"],
        purpose=Purpose.ACK_REMINDER,
        recipients=len(recipients),
        queued=queued,
        next_action_at=(now + interval).isoformat(),
    )
    if not recipients:
        log.warning(
            "case %s (household %s): acknowledgement reminder reached nobody", case.id, household.code
        )
    return queued > 0
