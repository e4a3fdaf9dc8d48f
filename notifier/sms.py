"""Twilio SMS webhooks: delivery receipts, and texts people send to our number.

Like :mod:`notifier.calls`: the API has checked the signature, handlers run in the caller's
transaction (never commit) and never raise on unknown input. Phone numbers are masked in logs.

Inbound texts:

* from a household contact, "1 4821" (the code from our alert text, :mod:`notifier.ack_codes`)
  acknowledges that case: a person has taken responsibility, so escalation stops. A bare "1" /
  "확인" / "OK" proves only a caller ID: it is recorded for staff and answered with a request for
  the code, never acted on;
* from a resident, the text is classified like a reply on the call: ``unwell``/``emergency``
  escalate at once; ``ok`` proves only a caller ID, so it is recorded and, while the inactivity
  case is open, we call the resident back (:func:`notifier.replies.apply_reply`);
* anything else gets a short reply saying what we understand.

Each inbound text is acted on once: Twilio may deliver the same message (``MessageSid``) twice,
and the second delivery, in this or another API process, finds the first one's
``InboundMessage`` row (a unique key) and gets an empty ``<Response/>``: no second action and no
second reply text.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlmodel import Session, col, select
from twilio.twiml.messaging_response import MessagingResponse

from core.db import insert_first
from core.enums import (
    CaseEventType,
    CaseKind,
    CaseStatus,
    Intent,
    Language,
    OutboxStatus,
    Risk,
)
from core.models import Case, Contact, Household, InboundMessage, Notification, Resident
from notifier import ack_codes, family, lifecycle, outbox
from notifier.classifier import classify
from notifier.crisis import crisis_line
from notifier.replies import apply_reply, is_status_request
from notifier.script import CATALOGUE
from notifier.transports.base import is_permanent_code, mask_phone, normalise_phone

log = logging.getLogger(__name__)

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
    if sid and notification.status in _WAITING and sid in (notification.error or ""):
        log.info("notification %s: late status for a message already retried; ignored", notification_id)
        return
    if sid and notification.provider_sid is None:
        # Twilio has the message: a worker that died before recording the send must not resend it.
        notification.provider_sid = sid[:64]
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
    notification.permanent_failure = is_permanent_code(code)
    retry_at = _delivery_retry_at(notification, raw, now)
    if retry_at is not None:
        # A temporary delivery failure (handset off, carrier hiccup): send it again with backoff,
        # as for a temporary REST error. The failed sid is kept so its late callbacks are ignored.
        notification.error = f"{notification.error} on {sid or notification.provider_sid}; retrying"[:400]
        notification.status = OutboxStatus.PENDING
        notification.provider_sid = None
        notification.next_attempt_at = retry_at
    log.warning(
        "notification %s %s (error %s)%s",
        notification_id,
        raw,
        code or "-",
        "; will retry" if retry_at else "",
    )
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
            retry_at=retry_at.isoformat() if retry_at else None,
        )


_WAITING = (OutboxStatus.PENDING, OutboxStatus.SENDING)


def _delivery_retry_at(notification: Notification, raw: str, now: datetime) -> datetime | None:
    """When to send a message again after a failed delivery receipt, or None: never for a
    permanent error code, a message we cancelled, or one that has used up its attempts."""
    if raw == "canceled" or notification.permanent_failure or notification.attempts >= outbox.MAX_ATTEMPTS:
        return None
    return now + outbox.backoff(notification.attempts)


# ---------------------------------------------------------------- inbound texts


def inbound_sms(session: Session, *, params: Mapping[str, str], now: datetime) -> str:
    """A text to our number. Returns TwiML (``<Response><Message>…``) with the reply."""
    sid = (params.get("MessageSid") or params.get("SmsSid") or "").strip()[:64]
    if sid and not first_delivery(session, sid, now):
        log.info("inbound sms %s delivered again; not acted on", sid)
        return str(MessagingResponse())
    sender = normalise_phone(params.get("From"))
    body = (params.get("Body") or "").strip()
    if not sender:
        return _reply("reply.help_unknown", Language.KO)
    contacts = session.exec(select(Contact).where(Contact.phone == sender).order_by(col(Contact.id))).all()
    ack = ack_codes.parse_ack(body) if contacts else None
    if ack is not None:
        return _acknowledge(session, contacts, ack.code, now)
    if contacts and is_status_request(body):
        return _status(session, contacts)
    resident = session.exec(select(Resident).where(Resident.phone == sender)).first()
    if resident is not None:
        return _resident_text(session, resident, body, now)
    if contacts:
        return _reply("reply.help_contact", contacts[0].language)
    log.info("sms from unknown number %s", mask_phone(sender))
    return _reply("reply.help_unknown", Language.KO)


def first_delivery(session: Session, message_sid: str, now: datetime) -> bool:
    """Record an inbound message id; False if it was seen before (a repeated webhook).

    The unique key decides between concurrent deliveries: on PostgreSQL the second insert waits
    for the first transaction and fails once it commits; on SQLite the transactions are
    serialised and the second sees the row. The row is part of the caller's transaction, so a
    delivery whose handling failed (rolled back) is handled again when Twilio retries it.
    """
    seen = session.exec(select(InboundMessage.id).where(InboundMessage.message_sid == message_sid)).first()
    if seen is not None:
        return False
    return insert_first(session, InboundMessage(message_sid=message_sid, received_at=now))


_ACK_REPLIES: dict[ack_codes.Verdict, str] = {
    ack_codes.Verdict.ACKNOWLEDGED: "reply.ack",
    ack_codes.Verdict.ALREADY: "reply.ack_already",
    ack_codes.Verdict.NOTHING_OPEN: "reply.ack_nothing_open",
    ack_codes.Verdict.AMBIGUOUS: "reply.ack_needs_code",
    ack_codes.Verdict.NEEDS_CODE: "reply.ack_needs_code",
    ack_codes.Verdict.WRONG_CODE: "reply.ack_wrong_code",
    ack_codes.Verdict.LOCKED: "reply.ack_locked",
}


def _acknowledge(session: Session, contacts: Sequence[Contact], code: str | None, now: datetime) -> str:
    """ "1 4821" from a contact acknowledges the case of that code; "1" alone is recorded and
    answered with a request for the code (:func:`notifier.ack_codes.acknowledge`)."""
    verdict = ack_codes.acknowledge(session, contacts, code, now, channel="sms")
    return _reply(_ACK_REPLIES[verdict], contacts[0].language)


def _status(session: Session, contacts: Sequence[Contact]) -> str:
    """ "STATUS"/"상태" from a contact: the state of each household they are a contact of."""
    language = contacts[0].language
    lines: list[str] = []
    for household_id in dict.fromkeys(c.household_id for c in contacts):
        household = session.get(Household, household_id)
        if household is not None:
            lines.extend(family.status_lines(session, household, language))
    log.info("status by sms for contact %s", contacts[0].id)
    response = MessagingResponse()
    response.message("\n".join(lines))
    return str(response)


def _resident_text(session: Session, resident: Resident, body: str, now: datetime) -> str:
    result = classify(body)
    household_id = resident.household_id
    actor = f"resident:{resident.id}"
    log.info("sms from resident %s", resident.id)  # never the words nor their meaning (health data)
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
            proven=False,  # anyone can text from the resident's number (notifier.replies)
        )
        _note_reply(session, case, body, result.intent, actor, now)
        calling = case is not None and case.status == CaseStatus.OPEN
        return _reply("reply.checkin_call_back" if calling else "reply.checkin_ok", resident.language)
    if result.intent in (Intent.UNWELL, Intent.EMERGENCY):
        case = apply_reply(
            session,
            household_id=household_id,
            case=None,
            intent=result.intent,
            now=now,
            actor=actor,
            channel="sms",
            risk=result.risk,  # self-harm: always an emergency, with a protocol of its own
        )
        _note_reply(session, case, body, result.intent, actor, now)
        if result.risk == Risk.SELF_HARM:
            return _reply("reply.resident_self_harm", resident.language, line=crisis_line(resident.language))
        key = "reply.resident_emergency" if result.intent == Intent.EMERGENCY else "reply.resident_unwell"
        return _reply(key, resident.language)
    return _reply("reply.help_resident", resident.language)


def _note_reply(
    session: Session, case: Case | None, body: str, intent: Intent, actor: str, now: datetime
) -> None:
    """Keep the resident's words on the case, for the caseworker (never in logs)."""
    if case is not None:
        lifecycle.add_note(session, case, actor=actor, text=f"SMS ({intent.value}): {body[:200]}", now=now)


def _reply(key: str, language: Language, **params: object) -> str:
    response = MessagingResponse()
    response.message(CATALOGUE.text(key, language, **params))
    return str(response)
