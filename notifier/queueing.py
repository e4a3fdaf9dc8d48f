"""The one writer of outbox rows: ``CallAttempt`` and ``Notification`` rows with their template,
idempotency key and the policy's rate limits, for the ladder (:mod:`notifier.escalation`),
reminders (:mod:`notifier.followup`), closures (:mod:`notifier.closures`) and scheduled check-ins
(:mod:`notifier.checkins`). Nothing is sent here; :mod:`notifier.outbox` sends.

Idempotency: a ladder row has the key
``case:{id}:tok:{token}:step:{label}:rep:{r}:{recipient_kind}:{recipient_id}:{channel}``
(unique index), so running the same step twice can never queue a second message; closures and
check-ins have keys of their own (:func:`notifier.closures.closure_key`,
:func:`notifier.checkins.checkin_key`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from core.db import insert_first
from core.enums import CallPurpose, CallStatus, CaseEventType, Channel, Language, OutboxStatus, RecipientKind
from core.models import CallAttempt, Case, Contact, Household, Notification
from notifier import ack_codes, family_link, handoff, lifecycle
from notifier.policy import Limits, local_day_start
from notifier.recipients import Recipient
from notifier.templates import ACK_CODE_TEMPLATES, HANDOFF_TEMPLATE, Purpose, sms_body, template_for
from notifier.transports.base import mask_phone
from notifier.whom import caseworker_phone

log = logging.getLogger(__name__)


# A family member who prefers calls hears the alert; staff, the alert and "press 1 to take it
# on"; a resident, "are you all right?".
CALL_PURPOSES: dict[RecipientKind, CallPurpose] = {
    RecipientKind.CONTACT: CallPurpose.CONTACT_ALERT,
    RecipientKind.USER: CallPurpose.STAFF_ALERT,
    RecipientKind.RESIDENT: CallPurpose.WELLNESS,
}


def idempotency_key(
    *,
    case_id: int,
    token: str,
    label: str,
    repeat: int,
    kind: RecipientKind,
    recipient_id: int,
    channel: Channel,
) -> str:
    return f"case:{case_id}:tok:{token}:step:{label}:rep:{repeat}:{kind.value}:{recipient_id}:{channel.value}"


def queue_for(
    session: Session,
    case: Case,
    household: Household,
    recipients: Sequence[Recipient],
    *,
    label: str,
    repeat: int,
    purpose: Purpose,
    limits: Limits | None,
    now: datetime,
    key_for: Callable[[Recipient], str] | None = None,
    ring: str | None = None,
) -> int:
    """Write one outbox row per recipient (skipping keys that exist); returns how many were new.

    ``limits``: the case policy's rate limits (None: none apply, e.g. closures). ``key_for``:
    the idempotency key of each row, by default the ladder's (:func:`idempotency_key`).
    ``ring``: the caseworker's number, for texts that say whom to ring.
    """
    assert case.id is not None and household.id is not None
    queued = 0
    for rec in recipients:
        if limits is not None and _over_limit(session, household, rec, purpose, limits, now):
            lifecycle.record_event(
                session,
                case,
                CaseEventType.LIMIT_REACHED,
                now,
                recipient_kind=rec.kind.value,
                recipient_id=rec.id,
                channel=rec.channel.value,
                step=label,
                repeat=repeat,
            )
            log.warning(
                "case %s (household %s): %s limit reached, %s %s not queued",
                case.id,
                household.code,
                rec.channel.value,
                rec.kind.value,
                rec.id,
            )
            continue
        key = (
            key_for(rec)
            if key_for is not None
            else idempotency_key(
                case_id=case.id,
                token=case.escalation_token,
                label=label,
                repeat=repeat,
                kind=rec.kind,
                recipient_id=rec.id,
                channel=rec.channel,
            )
        )
        if rec.channel == Channel.CALL:
            call = new_call(
                purpose=CALL_PURPOSES[rec.kind],
                household_id=household.id,
                kind=rec.kind,
                recipient_id=rec.id,
                number=rec.address,
                language=rec.language,
                key=key,
                case=case,
                now=now,
            )
            if _insert_once(session, call, CallAttempt, key):
                queued += 1
                _record_queued(
                    session, case, CaseEventType.CALL_QUEUED, now, rec, label, repeat, call_attempt_id=call.id
                )
            continue
        template = template_for(rec.audience, purpose)
        family = rec.kind == RecipientKind.CONTACT
        if family and ring is None:  # whom a family member should ring, and the number
            ring = caseworker_phone(session, case)
        contact = session.get(Contact, rec.id) if family else None
        ack_code = (
            ack_codes.code_for(session, case, rec.id, now)
            if rec.kind == RecipientKind.CONTACT and template in ACK_CODE_TEMPLATES
            else None
        )
        body = (
            handoff.sms_text(handoff.facts(session, case, now), rec.language)
            if template == HANDOFF_TEMPLATE
            else sms_body(
                template,
                rec.language,
                household_code=household.code,
                case=case,
                call=ring,
                ack_code=ack_code,
                name=contact.address_as if contact is not None else "",
                status_link=family_link.status_link(session, case, contact, now)
                if contact is not None and template in ACK_CODE_TEMPLATES
                else None,
            )
        )
        note = Notification(
            case_id=case.id,
            household_id=household.id,
            recipient_kind=rec.kind,
            recipient_id=rec.id,
            to_address=rec.address,
            channel=rec.channel,
            language=rec.language,
            template=template,
            body=body,
            idempotency_key=key,
            escalation_token=case.escalation_token,
            status=OutboxStatus.PENDING,
            created_at=now,
        )
        if _insert_once(session, note, Notification, key):
            queued += 1
            _record_queued(
                session,
                case,
                CaseEventType.NOTIFICATION_QUEUED,
                now,
                rec,
                label,
                repeat,
                notification_id=note.id,
                channel=rec.channel.value,
                template=template,
            )
    return queued


def _record_queued(
    session: Session,
    case: Case,
    type_: CaseEventType,
    now: datetime,
    rec: Recipient,
    label: str,
    repeat: int,
    **row: Any,
) -> None:
    """The case event of a queued row: which row, for whom (number masked), at which step."""
    lifecycle.record_event(
        session,
        case,
        type_,
        now,
        **row,
        recipient_kind=rec.kind.value,
        recipient_id=rec.id,
        to=mask_phone(rec.address),
        step=label,
        repeat=repeat,
    )


def record_step(
    session: Session,
    case: Case,
    now: datetime,
    *,
    label: str,
    repeat: int,
    actions: Sequence[str],
    purpose: Purpose,
    **data: Any,
) -> None:
    """The STEP case event of a ladder step, a reminder or an out-of-turn escalation."""
    lifecycle.record_event(
        session,
        case,
        CaseEventType.STEP,
        now,
        step=label,
        repeat=repeat,
        actions=list(actions),
        purpose=purpose.value,
        **data,
    )


def limit_applies(rec: Recipient, purpose: Purpose) -> bool:
    """Pure: caps hold back calls and family texts, never an emergency, a caseworker or a closure."""
    if (
        purpose in (Purpose.EMERGENCY, Purpose.SELF_HARM, Purpose.ALL_CLEAR, Purpose.CLOSED)
        or rec.kind == RecipientKind.USER
    ):
        return False
    return rec.channel == Channel.CALL or rec.kind == RecipientKind.CONTACT


def _over_limit(
    session: Session, household: Household, rec: Recipient, purpose: Purpose, limits: Limits, now: datetime
) -> bool:
    if not limit_applies(rec, purpose):
        return False
    assert household.id is not None
    if rec.channel == Channel.CALL:
        return calls_today(session, household, now) >= limits.calls_per_household_per_day
    count_sms = select(func.count()).where(
        Notification.household_id == household.id,
        Notification.recipient_kind == RecipientKind.CONTACT,
        col(Notification.created_at) >= local_day_start(now, household.timezone),
        Notification.status != OutboxStatus.CANCELLED,
    )
    return session.exec(count_sms).one() >= limits.family_sms_per_household_per_day


def calls_today(session: Session, household: Household, now: datetime) -> int:
    """Calls queued for the household since its local midnight, as the daily limit counts them:
    ladder calls, calls to family who prefer calls and scheduled check-in calls; not cancelled
    rows, not calls to our number (the resident or family rang us), and not calls to staff (the
    limit protects the household from being rung too often; a caseworker's call rings nobody there)."""
    count_calls = select(func.count()).where(
        CallAttempt.household_id == household.id,
        col(CallAttempt.created_at) >= local_day_start(now, household.timezone),
        CallAttempt.status != CallStatus.CANCELLED,
        col(CallAttempt.purpose).not_in((CallPurpose.INBOUND, CallPurpose.STAFF_ALERT)),
    )
    return int(session.exec(count_calls).one())


def _insert_once(session: Session, row: CallAttempt | Notification, model: type[Any], key: str) -> bool:
    """Insert unless a row with this idempotency key exists. A concurrent insert of the same key
    loses on the unique index inside a savepoint, so the caller's transaction survives."""
    exists = session.exec(select(model.id).where(model.idempotency_key == key)).first()
    if exists is not None:
        return False
    return insert_first(session, row)


def new_call(
    *,
    purpose: CallPurpose,
    household_id: int,
    kind: RecipientKind,
    recipient_id: int,
    number: str,
    language: Language,
    key: str,
    case: Case | None,
    now: datetime,
    status: CallStatus = CallStatus.PENDING,
    provider_sid: str | None = None,
) -> CallAttempt:
    """A call attempt row (not yet added): ours to place (``pending``), or one the caller made
    to us (already ``in_progress``, with its CallSid). ``code`` is the unguessable id in its
    webhook URLs."""
    return CallAttempt(
        purpose=purpose,
        case_id=case.id if case is not None else None,
        household_id=household_id,
        recipient_kind=kind,
        recipient_id=recipient_id,
        to_address=number,
        language=language,
        code=uuid.uuid4().hex,
        idempotency_key=key,
        escalation_token=case.escalation_token if case is not None else "",
        status=status,
        provider_sid=provider_sid,
        created_at=now,
        updated_at=now,
    )
