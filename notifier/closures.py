"""When a case is over: one "all clear" (or neutral "closed") SMS to everyone already told.

When a case is cleared, or resolved as fine or a false alarm, everyone who was already told
about it (SMS sent or being sent, or a family member we phoned) gets one "all clear" SMS;
resolved as in hospital they are told so and whom to call; with another outcome (found in need,
...) they get a neutral "closed" SMS naming the caseworker (and their number) who explains. Keys ``case:{id}:closure:{kind}:{id}:sms`` make it once per recipient;
only cases closed in the last :data:`CLOSURE_WINDOW` are looked at. Run by
:func:`notifier.followup.tick`; rows are written by :func:`notifier.queueing.queue_for`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine, exists, func, or_
from sqlmodel import Session, col, select

from core.db import session_scope
from core.enums import (
    CallPurpose,
    CallStatus,
    CaseStatus,
    Channel,
    OutboxStatus,
    RecipientKind,
    ResolutionCode,
)
from core.models import CallAttempt, Case, Contact, Household, Notification
from notifier.queueing import queue_for
from notifier.recipients import Recipient
from notifier.templates import CLOSURE_TEMPLATES, Purpose
from notifier.whom import caseworker_phone

log = logging.getLogger(__name__)

CLOSURE_WINDOW = timedelta(hours=24)

# Resolutions after which "all clear" is the truth; anything else gets the neutral "closed".
FINE_RESOLUTIONS = frozenset(
    {ResolutionCode.RESIDENT_FINE, ResolutionCode.FALSE_ALARM_AWAY, ResolutionCode.FALSE_ALARM_DEVICE}
)
# Rows that mean "this person was told" (a pending row is cancelled when the case closes).
_TOLD = (OutboxStatus.SENDING, OutboxStatus.SENT, OutboxStatus.DELIVERED)
_NOT_REACHED_CALLS = (CallStatus.PENDING, CallStatus.SENDING, CallStatus.CANCELLED)


def closure_purpose(case: Case) -> Purpose:
    """Pure: "all clear" unless a person closed the case with a worrying outcome."""
    if case.status == CaseStatus.RESOLVED:
        return outcome_purpose(case.resolution_code)
    return Purpose.ALL_CLEAR


def outcome_purpose(code: ResolutionCode | None) -> Purpose:
    """Pure: what a staff resolution with ``code`` tells everyone already told."""
    if code in FINE_RESOLUTIONS:
        return Purpose.ALL_CLEAR
    return Purpose.HOSPITAL if code == ResolutionCode.HOSPITAL else Purpose.CLOSED


def closure_key(case_id: int, kind: RecipientKind, recipient_id: int) -> str:
    return f"case:{case_id}:closure:{kind.value}:{recipient_id}:{Channel.SMS.value}"


def closed_without_closure(engine: Engine, now: datetime, limit: int) -> list[int]:
    closed_at = func.coalesce(col(Case.resolved_at), col(Case.cleared_at))
    told = exists().where(
        col(Notification.case_id) == col(Case.id),
        col(Notification.status).in_(_TOLD),
        col(Notification.template).not_in(CLOSURE_TEMPLATES),
    )
    called_family = exists().where(
        col(CallAttempt.case_id) == col(Case.id),
        col(CallAttempt.purpose) == CallPurpose.CONTACT_ALERT,
        col(CallAttempt.status).not_in(_NOT_REACHED_CALLS),
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


def already_told(session: Session, case_id: int) -> list[Recipient]:
    """Everyone a message about the case went (or is going) to, once each, in first-told order,
    as SMS recipients (the closure message is a text, also to family who were phoned)."""
    found: dict[tuple[RecipientKind, int], Recipient] = {}
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
                Recipient(n.recipient_kind, n.recipient_id, n.to_address, n.language, Channel.SMS),
            )
    calls = session.exec(
        select(CallAttempt)
        .where(
            CallAttempt.case_id == case_id,
            CallAttempt.purpose == CallPurpose.CONTACT_ALERT,
            col(CallAttempt.status).not_in(_NOT_REACHED_CALLS),
        )
        .order_by(col(CallAttempt.id))
    ).all()
    for c in calls:
        if c.recipient_id is not None:
            found.setdefault(
                (RecipientKind.CONTACT, c.recipient_id),
                Recipient(RecipientKind.CONTACT, c.recipient_id, c.to_address, c.language, Channel.SMS),
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
    queued = queue_for(
        session,
        case,
        household,
        already_told(session, case.id),
        label=purpose.value,
        repeat=0,
        purpose=purpose,
        limits=None,  # "it is over" is never held back by a rate limit
        now=now,
        key_for=lambda rec: closure_key(case_id, rec.kind, rec.id),
        ring=caseworker_phone(session, case),
    )
    if queued:
        log.info(
            "case %s (household %s): %s %s message(s) queued", case.id, household.code, queued, purpose.value
        )
    return queued > 0
