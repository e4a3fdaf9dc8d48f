"""The self-harm protocol's timer (docs/calls.md, "Self-harm protocol"): when no caseworker has
taken a self-harm case on within the policy's ``self_harm.control_room_after_minutes`` — key 1 on
our call, or acknowledged on the dashboard — or every caseworker call has already ended without
it (or there was no caseworker to call), the on-duty control room is called.

Run by :func:`notifier.followup.tick`. Once per case: the control room's calls have keys of their
own (``case:<id>:self_harm:control_room:…``, independent of the fencing token, so a family
member's "seen it" neither stops nor repeats them), and the step is recorded even when nobody
could be called, so it is not retried every tick.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.db import session_scope
from core.enums import ACTIVE_CASE_STATUSES, TERMINAL_CALL_STATUSES, CallPurpose, CaseEventType, CaseKind
from core.models import CallAttempt, Case, CaseEvent, Household
from notifier.calls.staff_alert import taken_on_by
from notifier.policy import CallControlRoom, policy_from_snapshot
from notifier.queueing import queue_for, record_step
from notifier.recipients import Recipient, resolve_recipients
from notifier.templates import Purpose

log = logging.getLogger(__name__)

CONTROL_ROOM_LABEL = "self_harm_control_room"


def active_cases(engine: Engine, limit: int) -> list[int]:
    """Active self-harm cases (few at any time): each is looked at by :func:`call_control_room_if_due`."""
    with session_scope(engine) as session:
        return [
            int(case_id)
            for case_id in session.exec(
                select(Case.id)
                .where(Case.kind == CaseKind.SELF_HARM_RISK, col(Case.status).in_(ACTIVE_CASE_STATUSES))
                .order_by(col(Case.id))
                .limit(limit)
            ).all()
            if case_id is not None
        ]


def control_room_due_at(case: Case, caseworker_calls: list[CallAttempt], after_minutes: int) -> datetime:
    """Pure: when the control room is to be called, if nobody on the staff takes the case on:
    ``after_minutes`` after the case opened, or at once when there was no caseworker to call or
    every caseworker call has ended (busy, no answer, not taken on)."""
    if not caseworker_calls or all(c.status in TERMINAL_CALL_STATUSES for c in caseworker_calls):
        return case.opened_at
    return case.opened_at + timedelta(minutes=after_minutes)


def call_control_room_if_due(session: Session, case_id: int, now: datetime) -> bool:
    """Queue the control room's calls for one case if they are due; True when the step ran."""
    case = session.get(Case, case_id)
    if case is None or case.kind != CaseKind.SELF_HARM_RISK or case.status not in ACTIVE_CASE_STATUSES:
        return False
    if taken_on_by(session, case) is not None or _step_done(session, case):
        return False
    policy = policy_from_snapshot(case.policy_snapshot)
    staff_calls = list(
        session.exec(
            select(CallAttempt).where(
                CallAttempt.case_id == case.id, CallAttempt.purpose == CallPurpose.STAFF_ALERT
            )
        ).all()
    )
    if now < control_room_due_at(case, staff_calls, policy.self_harm.control_room_after_minutes):
        return False
    household = session.get(Household, case.household_id)
    assert household is not None and case.id is not None
    recipients = resolve_recipients(session, household, (CallControlRoom(),))

    def key(rec: Recipient) -> str:
        return f"case:{case.id}:self_harm:control_room:{rec.kind.value}:{rec.id}:{rec.channel.value}"

    queued = queue_for(
        session,
        case,
        household,
        recipients,
        label=CONTROL_ROOM_LABEL,
        repeat=0,
        purpose=Purpose.SELF_HARM,
        limits=None,
        now=now,
        key_for=key,
    )
    record_step(
        session,
        case,
        now,
        label=CONTROL_ROOM_LABEL,
        repeat=0,
        actions=[CallControlRoom().action],
        purpose=Purpose.SELF_HARM,
        reason="no_caseworker_took_it_on",
        recipients=len(recipients),
        queued=queued,
    )
    if not recipients:
        log.warning(
            "case %s (household %s): no on-duty control room with a phone to call", case.id, household.code
        )
    return True


def _step_done(session: Session, case: Case) -> bool:
    steps = session.exec(
        select(CaseEvent.data).where(CaseEvent.case_id == case.id, CaseEvent.type == CaseEventType.STEP)
    ).all()
    return any(data.get("step") == CONTROL_ROOM_LABEL for data in steps)
