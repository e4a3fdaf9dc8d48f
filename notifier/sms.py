"""Twilio SMS webhooks: delivery receipts, and texts people send to our number.

Like :mod:`notifier.calls`: the API has checked the signature, handlers run in the caller's
transaction (never commit) and never raise on unknown input. Phone numbers are masked in logs.

Inbound texts:

* from a household contact, "1" / "확인" / "OK" (trimmed, any case) acknowledges the household's
  open cases: a person has taken responsibility, so escalation stops;
* from a resident, the text is classified like a reply on the call (``ok`` is a check-in and
  clears the open inactivity case; ``unwell``/``emergency`` escalate at once);
* anything else gets a short reply saying what we understand.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlmodel import Session, col, select
from twilio.twiml.messaging_response import MessagingResponse

from core.enums import (
    ACTIVE_CASE_STATUSES,
    CaseEventType,
    CaseKind,
    CaseStatus,
    Intent,
    Language,
    OutboxStatus,
)
from core.models import Case, Contact, Notification, Resident
from notifier import lifecycle
from notifier.calls import apply_reply
from notifier.classifier import classify
from notifier.lifecycle import CaseConflict
from notifier.script import CATALOGUE
from notifier.transports.base import mask_phone

log = logging.getLogger(__name__)

ACK_WORDS = frozenset({"1", "확인", "ok"})

# Twilio MessageStatus -> ours. queued/accepted/sending/scheduled say nothing new and are ignored.
_MESSAGE_STATUS: dict[str, OutboxStatus] = {
    "sent": OutboxStatus.SENT,
    "delivered": OutboxStatus.DELIVERED,
    "read": OutboxStatus.DELIVERED,
    "failed": OutboxStatus.FAILED,
    "undelivered": OutboxStatus.FAILED,
    "canceled": OutboxStatus.FAILED,
}
# Never move a notification backwards (a late "sent" after "delivered"); terminal states are final.
_RANK: dict[OutboxStatus, int] = {
    OutboxStatus.PENDING: 0,
    OutboxStatus.SENDING: 1,
    OutboxStatus.SENT: 2,
    OutboxStatus.DELIVERED: 3,
    OutboxStatus.FAILED: 3,
    OutboxStatus.CANCELLED: 3,
}
# Delivery errors that will not go away by retrying this number (Twilio error codes).
PERMANENT_ERROR_CODES = frozenset({"21211", "21610", "21612", "21614", "30005", "30006"})

_PHONE_NOISE = re.compile(r"[^\d+]")
_TRAILING_PUNCTUATION = ".!。 "


def normalise_phone(number: str | None) -> str:
    return _PHONE_NOISE.sub("", number or "")


def is_ack(body: str) -> bool:
    return body.strip().strip(_TRAILING_PUNCTUATION).casefold() in ACK_WORDS


# ---------------------------------------------------------------- delivery receipts


def sms_status(session: Session, *, notification_id: int, params: Mapping[str, str], now: datetime) -> None:
    """Twilio's message status callback: SENT / DELIVERED / FAILED (+ error code), idempotent."""
    notification = session.get(Notification, notification_id, with_for_update=True, populate_existing=True)
    if notification is None:
        log.warning("sms status for unknown notification %s ignored", notification_id)
        return
    sid = (params.get("MessageSid") or params.get("SmsSid") or "").strip()
    if notification.provider_sid and sid and sid != notification.provider_sid:
        log.warning("notification %s: status for another message sid ignored", notification_id)
        return
    raw = (params.get("MessageStatus") or params.get("SmsStatus") or "").strip().lower()
    new = _MESSAGE_STATUS.get(raw)
    if new is None or _RANK[new] <= _RANK[notification.status]:
        return
    notification.status = new
    if new in (OutboxStatus.SENT, OutboxStatus.DELIVERED) and notification.sent_at is None:
        notification.sent_at = now
    if new != OutboxStatus.FAILED:
        return
    code = (params.get("ErrorCode") or "").strip()[:20]
    notification.error = f"twilio {raw}" + (f" (error {code})" if code else "")
    notification.permanent_failure = code in PERMANENT_ERROR_CODES
    log.warning("notification %s %s (error %s)", notification_id, raw, code or "-")
    case = session.get(Case, notification.case_id) if notification.case_id is not None else None
    if case is not None:
        lifecycle.record_event(
            session,
            case,
            CaseEventType.NOTIFICATION_FAILED,
            now,
            actor="twilio",
            notification_id=notification.id,
            status=raw,
            error_code=code or None,
            permanent=notification.permanent_failure,
            source="delivery_receipt",
        )


# ---------------------------------------------------------------- inbound texts


def inbound_sms(session: Session, *, params: Mapping[str, str], now: datetime) -> str:
    """A text to our number. Returns TwiML (``<Response><Message>…``) with the reply."""
    sender = normalise_phone(params.get("From"))
    body = (params.get("Body") or "").strip()
    if not sender:
        return _reply("reply.help_unknown", Language.KO)
    contacts = session.exec(select(Contact).where(Contact.phone == sender)).all()
    if contacts and is_ack(body):
        return _acknowledge(session, contacts, now)
    resident = session.exec(select(Resident).where(Resident.phone == sender)).first()
    if resident is not None:
        return _resident_text(session, resident, body, now)
    if contacts:
        return _reply("reply.help_contact", contacts[0].language)
    log.info("sms from unknown number %s", mask_phone(sender))
    return _reply("reply.help_unknown", Language.KO)


def _acknowledge(session: Session, contacts: Sequence[Contact], now: datetime) -> str:
    """ "1"/"확인"/"OK" from a contact: acknowledge the open cases of their household.

    A number can be a contact of several households; if more than one of them has an open
    case we cannot tell which the reply is about, and acknowledging the wrong one would stop
    an escalation that is still needed, so we ask them to phone instead.
    """
    language = contacts[0].language
    open_cases: dict[int, tuple[Contact, list[Case]]] = {}
    already = False
    for contact in contacts:
        cases = _active_cases(session, contact.household_id)
        mine = [c for c in cases if c.status == CaseStatus.OPEN]
        already = already or any(c.status == CaseStatus.ACKNOWLEDGED for c in cases)
        if mine:
            open_cases[contact.household_id] = (contact, mine)
    if len(open_cases) > 1:
        log.warning(
            "ack by sms from %s is ambiguous (%s households)", mask_phone(contacts[0].phone), len(open_cases)
        )
        return _reply("reply.ack_ambiguous", language)
    if not open_cases:
        return _reply("reply.ack_already" if already else "reply.ack_nothing_open", language)
    contact, cases = next(iter(open_cases.values()))
    actor = f"contact:{contact.id}"
    for case in cases:
        try:
            lifecycle.acknowledge(session, case, actor=actor, now=now)
        except CaseConflict:  # changed under us (e.g. acknowledged a moment ago): reload, retry if still open
            session.refresh(case)
            if case.status == CaseStatus.OPEN:
                lifecycle.acknowledge(session, case, actor=actor, now=now)
        log.info("case %s acknowledged by sms (%s)", case.id, actor)
    return _reply("reply.ack", contact.language)


def _resident_text(session: Session, resident: Resident, body: str, now: datetime) -> str:
    result = classify(body)
    household_id = resident.household_id
    actor = f"resident:{resident.id}"
    log.info("sms from resident %s classified %s (%s)", resident.id, result.intent.value, result.source)
    if result.intent == Intent.OK:
        case = lifecycle.active_case(session, household_id, CaseKind.INACTIVITY)
        apply_reply(
            session,
            household_id=household_id,
            case=case,
            intent=Intent.OK,
            now=now,
            actor=actor,
            channel="sms",
        )
        _note_reply(session, case, body, result.intent, actor, now)
        return _reply("reply.checkin_ok", resident.language)
    if result.intent in (Intent.UNWELL, Intent.EMERGENCY):
        case = apply_reply(
            session,
            household_id=household_id,
            case=None,
            intent=result.intent,
            now=now,
            actor=actor,
            channel="sms",
        )
        _note_reply(session, case, body, result.intent, actor, now)
        key = "reply.resident_emergency" if result.intent == Intent.EMERGENCY else "reply.resident_unwell"
        return _reply(key, resident.language)
    return _reply("reply.help_resident", resident.language)


def _note_reply(
    session: Session, case: Case | None, body: str, intent: Intent, actor: str, now: datetime
) -> None:
    """Keep the resident's words on the case, for the caseworker (never in logs)."""
    if case is not None:
        lifecycle.add_note(session, case, actor=actor, text=f"SMS ({intent.value}): {body[:200]}", now=now)


def _active_cases(session: Session, household_id: int) -> list[Case]:
    stmt = (
        select(Case)
        .where(Case.household_id == household_id, col(Case.status).in_(ACTIVE_CASE_STATUSES))
        .order_by(col(Case.id))
    )
    return list(session.exec(stmt).all())


def _reply(key: str, language: Language) -> str:
    response = MessagingResponse()
    response.message(CATALOGUE.text(key, language))
    return str(response)
