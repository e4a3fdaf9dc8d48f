"""After the ladder: reminders for acknowledged cases, and "all clear" when a case is over.

Both run inside :func:`notifier.engine.tick` and write outbox rows like the ladder does.

**Reminders.** An acknowledged case that stays unresolved reminds the on-duty caseworkers every
``ack_reminder_minutes`` of its policy (default 4 h). ``Case.next_action_at`` of an acknowledged
case is the time of the next reminder: armed at ``acknowledged_at + interval`` by the first tick
that sees it, then moved on by each reminder with a conditional UPDATE (the claim, so two workers
cannot both remind). Reminder ``n`` has the idempotency key ``step:ack_reminder:rep:n``.

**All clear.** When a case is cleared, or resolved as fine or a false alarm, everyone who was
already told about it (SMS sent or being sent, or a family member we phoned) gets one "all
clear" SMS; resolved with another outcome (hospital, found in need, ...) they get a neutral
"closed" SMS and the caseworker explains. Keys ``case:{id}:closure:{kind}:{id}:sms`` make it once
per recipient; only cases closed in the last :data:`CLOSURE_WINDOW` are looked at.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, exists, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.db import session_scope
from core.enums import (
    CallStatus,
    CaseEventType,
    CaseStatus,
    Channel,
    Language,
    OutboxStatus,
    RecipientKind,
    ResolutionCode,
)
from core.models import CallAttempt, Case, Contact, Household, Notification
from notifier import lifecycle
from notifier.engine import (
    CLOSURE_TEMPLATES,
    NO_REMINDER_KINDS,
    Audience,
    Purpose,
    queue_for,
    resolve_recipients,
    sms_body,
    template_for,
)
from notifier.policy import NotifyCaseworker, policy_from_snapshot
from notifier.transports.base import mask_phone

log = logging.getLogger(__name__)

CLOSURE_WINDOW = timedelta(hours=24)
REMINDER_LABEL = "ack_reminder"

# Resolutions after which "all clear" is the truth; anything else gets the neutral "closed".
FINE_RESOLUTIONS = frozenset(
    {ResolutionCode.RESIDENT_FINE, ResolutionCode.FALSE_ALARM_AWAY, ResolutionCode.FALSE_ALARM_DEVICE}
)
# Rows that mean "this person was told" (a pending row is cancelled when the case closes).
_TOLD = (OutboxStatus.SENDING, OutboxStatus.SENT, OutboxStatus.DELIVERED)
_NOT_REACHED_CALLS = (CallStatus.PENDING, CallStatus.SENDING, CallStatus.CANCELED)


def tick(engine: Engine, now: datetime, *, limit: int = 100) -> int:
    """Reminders and closure messages that are due; returns how many cases got a message."""
    done = 0
    for case_id in _due_reminders(engine, now, limit):
        done += _one(engine, case_id, now, remind)
    for case_id in _closed_without_closure(engine, now, limit):
        done += _one(engine, case_id, now, send_closure)
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
    interval = timedelta(minutes=policy_from_snapshot(case.policy_snapshot).ack_reminder_minutes)
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
        now=now,
    )
    lifecycle.record_event(
        session,
        case,
        CaseEventType.STEP,
        now,
        step=REMINDER_LABEL,
        repeat=number,
        actions=["notify_caseworker"],
        purpose=Purpose.ACK_REMINDER.value,
        recipients=len(recipients),
        queued=queued,
        next_action_at=(now + interval).isoformat(),
    )
    if not recipients:
        log.warning(
            "case %s (household %s): acknowledgement reminder reached nobody", case.id, household.code
        )
    return queued > 0


# ---------------------------------------------------------------- all clear


@dataclass(frozen=True)
class Told:
    """Someone who heard about the case, and where to tell them it is over."""

    kind: RecipientKind
    id: int
    address: str
    language: Language


def closure_purpose(case: Case) -> Purpose:
    """Pure: "all clear" unless a person closed the case with a worrying outcome."""
    if case.status == CaseStatus.RESOLVED and case.resolution_code not in FINE_RESOLUTIONS:
        return Purpose.CLOSED
    return Purpose.ALL_CLEAR


def closure_key(case_id: int, kind: RecipientKind, recipient_id: int) -> str:
    return f"case:{case_id}:closure:{kind.value}:{recipient_id}:{Channel.SMS.value}"


def _closed_without_closure(engine: Engine, now: datetime, limit: int) -> list[int]:
    closed_at = func.coalesce(col(Case.resolved_at), col(Case.cleared_at))
    told = exists().where(
        col(Notification.case_id) == col(Case.id),
        col(Notification.status).in_(_TOLD),
        col(Notification.template).not_in(CLOSURE_TEMPLATES),
    )
    called_family = exists().where(
        col(CallAttempt.case_id) == col(Case.id),
        col(CallAttempt.recipient_kind) == RecipientKind.CONTACT,
        col(CallAttempt.status).not_in(_NOT_REACHED_CALLS),
        col(CallAttempt.idempotency_key).not_like("inbound:%"),
    )
    closure_sent = exists().where(
        col(Notification.case_id) == col(Case.id), col(Notification.template).in_(CLOSURE_TEMPLATES)
    )
    with session_scope(engine) as session:
        stmt = (
            select(Case.id)
            .where(
                col(Case.status).in_((CaseStatus.CLEARED, CaseStatus.RESOLVED)),
                closed_at >= now - CLOSURE_WINDOW,
                or_(told, called_family),
                ~closure_sent,
            )
            .order_by(col(Case.id))
            .limit(limit)
        )
        return [int(i) for i in session.exec(stmt).all() if i is not None]


def already_told(session: Session, case_id: int) -> list[Told]:
    """Everyone a message about the case went (or is going) to, once each, in first-told order."""
    found: dict[tuple[RecipientKind, int], Told] = {}
    notes = session.exec(
        select(Notification)
        .where(
            Notification.case_id == case_id,
            col(Notification.status).in_(_TOLD),
            col(Notification.template).not_in(CLOSURE_TEMPLATES),
            col(Notification.recipient_kind).in_((RecipientKind.CONTACT, RecipientKind.USER)),
        )
        .order_by(col(Notification.id))
    ).all()
    for n in notes:
        if n.recipient_id is not None:
            found.setdefault(
                (n.recipient_kind, n.recipient_id),
                Told(n.recipient_kind, n.recipient_id, n.to_address, n.language),
            )
    calls = session.exec(
        select(CallAttempt)
        .where(
            CallAttempt.case_id == case_id,
            CallAttempt.recipient_kind == RecipientKind.CONTACT,
            col(CallAttempt.status).not_in(_NOT_REACHED_CALLS),
            col(CallAttempt.idempotency_key).not_like("inbound:%"),
        )
        .order_by(col(CallAttempt.id))
    ).all()
    for c in calls:
        if c.recipient_id is not None:
            found.setdefault(
                (RecipientKind.CONTACT, c.recipient_id),
                Told(RecipientKind.CONTACT, c.recipient_id, c.to_number, c.language),
            )
    opted_out = set(
        session.exec(
            select(Contact.id).where(
                col(Contact.id).in_([t.id for t in found.values() if t.kind == RecipientKind.CONTACT]),
                col(Contact.opted_out).is_(True),
            )
        ).all()
    )
    return [t for t in found.values() if not (t.kind == RecipientKind.CONTACT and t.id in opted_out)]


def send_closure(session: Session, case_id: int, now: datetime) -> bool:
    """Queue one closure SMS per person already told (never twice: keyed per case and person)."""
    case = session.get(Case, case_id)
    if case is None or case.status not in (CaseStatus.CLEARED, CaseStatus.RESOLVED):
        return False
    household = session.get(Household, case.household_id)
    assert household is not None and household.id is not None and case.id is not None
    purpose = closure_purpose(case)
    queued = 0
    for told in already_told(session, case.id):
        audience: Audience = "family" if told.kind == RecipientKind.CONTACT else "caseworker"
        template = template_for(audience, purpose)
        key = closure_key(case.id, told.kind, told.id)
        if (
            session.exec(select(Notification.id).where(Notification.idempotency_key == key)).first()
            is not None
        ):
            continue
        note = Notification(
            case_id=case.id,
            household_id=household.id,
            recipient_kind=told.kind,
            recipient_id=told.id,
            to_address=told.address,
            channel=Channel.SMS,
            language=told.language,
            template=template,
            body=sms_body(template, told.language, household_code=household.code, case=case),
            idempotency_key=key,
            escalation_token=case.escalation_token,
            status=OutboxStatus.PENDING,
            created_at=now,
        )
        try:
            with session.begin_nested():
                session.add(note)
                session.flush()
        except IntegrityError:  # another worker queued it a moment ago
            continue
        queued += 1
        lifecycle.record_event(
            session,
            case,
            CaseEventType.NOTIFICATION_QUEUED,
            now,
            notification_id=note.id,
            recipient_kind=told.kind.value,
            recipient_id=told.id,
            channel=Channel.SMS.value,
            template=template,
            to=mask_phone(told.address),
            step=purpose.value,
            repeat=0,
        )
    if queued:
        log.info(
            "case %s (household %s): %s %s message(s) queued", case.id, household.code, queued, purpose.value
        )
    return queued > 0
