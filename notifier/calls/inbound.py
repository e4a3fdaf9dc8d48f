"""Calls to our number: who is calling (a resident, a family member, or nobody we know), the
``CallAttempt`` recording the call (one per CallSid, even when the webhook arrives twice), and
what they hear first. Replies then go through the same handlers as calls we place."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime

from sqlmodel import Session, col, select

from core.db import insert_or_find
from core.enums import (
    CallOutcome,
    CallPurpose,
    CallStatus,
    CaseEventType,
    CaseKind,
    CaseStatus,
    Language,
    RecipientKind,
)
from core.models import CallAttempt, Case, Contact, Resident
from notifier import family, lifecycle
from notifier.calls.common import (
    clean_param,
    gather_url_for,
)
from notifier.calls.contact import contact_opening
from notifier.queueing import new_call
from notifier.script import (
    greeting_twiml,
    hangup_twiml,
)
from notifier.transports.base import mask_phone, normalise_phone

log = logging.getLogger(__name__)


def inbound_call(session: Session, *, params: Mapping[str, str], base_url: str, now: datetime) -> str:
    """A call to our number. The resident hears the check-in question (their reply is handled by
    :func:`gather` like a reply on a call we placed: "1" / "괜찮아요" is a check-in); a family member
    hears the household's state and, when an alert is open, "press 1 to acknowledge"; anyone else
    gets the polite hang-up.

    The call is recorded as a ``CallAttempt`` (idempotency key ``inbound:<CallSid>``) so that the
    gather and status webhooks work exactly as for calls we place; a retried webhook for the same
    CallSid reuses it.
    """
    call_sid = clean_param(params.get("CallSid"), 64)
    if call_sid:
        existing = session.exec(
            select(CallAttempt).where(CallAttempt.idempotency_key == inbound_key(call_sid)).with_for_update()
        ).first()
        if existing is not None:
            return inbound_opening(session, existing, base_url)
    attempt = _record_call(session, params, call_sid, now)
    if attempt is None:
        return hangup_twiml()
    return inbound_opening(session, attempt, base_url)


def unanswered_call(
    session: Session, *, params: Mapping[str, str], received_at: datetime, now: datetime
) -> CallAttempt | None:
    """A call to our number that the database could not take in time (notifier.webhook_spool):
    the caller heard that we cannot take the call, where to turn in an emergency, and to call
    again. Recorded when the database returns, once per CallSid, as a call that ended unclear
    (nothing was asked) on the case it was about, so staff see that the resident or family
    member called. A number we do not know is not recorded, as on a call answered in time."""
    call_sid = clean_param(params.get("CallSid"), 64)
    if call_sid:
        seen = session.exec(
            select(CallAttempt.id).where(CallAttempt.idempotency_key == inbound_key(call_sid))
        ).first()
        if seen is not None:
            return None
    attempt = _record_call(session, params, call_sid, received_at, unanswered=True)
    if attempt is not None:
        attempt.updated_at = now
    return attempt


def _record_call(
    session: Session,
    params: Mapping[str, str],
    call_sid: str | None,
    now: datetime,
    *,
    unanswered: bool = False,
) -> CallAttempt | None:
    """The ``CallAttempt`` of a call from a resident or family member; None (nothing recorded)
    for a number we do not know or none."""
    caller = normalise_phone(params.get("From"))
    if not caller:
        log.info("inbound call without a caller number; not recorded")
        return None
    found = _caller(session, caller)
    if found is None:
        log.info("inbound call from unknown number %s; not recorded", mask_phone(caller))
        return None
    kind, person, case = found
    assert person.id is not None
    attempt = _new_inbound(
        session,
        call_sid=call_sid,
        household_id=person.household_id,
        kind=kind,
        recipient_id=person.id,
        number=caller,
        language=person.language,
        case=case,
        now=now,
        verstat=clean_param(params.get("StirVerstat")),
        unanswered=unanswered,
    )
    log.info(
        "inbound call from %s %s (household %s, verstat %s)%s",
        kind.value,
        person.id,
        person.household_id,
        attempt.caller_verstat or "-",
        ", unanswered: the database was away" if unanswered else "",
    )
    return attempt


def _caller(session: Session, number: str) -> tuple[RecipientKind, Resident | Contact, Case | None] | None:
    """Who is calling: a resident (and the case their call is about), else a household contact
    (and the open case their "1" would acknowledge), else nobody we know (None)."""
    resident = session.exec(
        select(Resident).where(Resident.phone == number).order_by(col(Resident.id))
    ).first()
    if resident is not None and resident.id is not None:
        return RecipientKind.RESIDENT, resident, _resident_case(session, resident.household_id)
    contacts = list(
        session.exec(select(Contact).where(Contact.phone == number).order_by(col(Contact.id))).all()
    )
    if contacts:
        contact, case = _contact_with_open_case(session, contacts)
        return RecipientKind.CONTACT, contact, case
    return None


def inbound_key(call_sid: str) -> str:
    return f"inbound:{call_sid}"


def inbound_opening(session: Session, attempt: CallAttempt, base_url: str) -> str:
    if attempt.recipient_kind == RecipientKind.CONTACT:
        return contact_opening(session, attempt, base_url)
    gather_url = gather_url_for(base_url, attempt.code, 1)
    return greeting_twiml(language=attempt.language, gather_url=gather_url, inbound=True)


def _resident_case(session: Session, household_id: int) -> Case | None:
    """The case a resident's own call is about: the active inactivity case (a "fine" clears it),
    else an active help case, else none (a "fine" is still a check-in)."""
    for kind in (CaseKind.INACTIVITY, CaseKind.HELP_REQUESTED):
        case = lifecycle.active_case(session, household_id, kind)
        if case is not None:
            return case
    return None


def _contact_with_open_case(session: Session, contacts: list[Contact]) -> tuple[Contact, Case | None]:
    """The contact row (one per household) a calling number stands for, and the open case a "1"
    would acknowledge: only when exactly one of their households has one."""
    with_open = [
        (contact, cases[0])
        for contact in contacts
        if (
            cases := [
                c for c in family.active_cases(session, contact.household_id) if c.status == CaseStatus.OPEN
            ]
        )
    ]
    if len(with_open) == 1:
        return with_open[0]
    return contacts[0], None


def _new_inbound(
    session: Session,
    *,
    call_sid: str | None,
    household_id: int,
    kind: RecipientKind,
    recipient_id: int,
    number: str,
    language: Language,
    case: Case | None,
    now: datetime,
    verstat: str | None,
    unanswered: bool = False,
) -> CallAttempt:
    """``unanswered``: the call ended before the database could serve it (:func:`unanswered_call`)."""
    status = CallStatus.COMPLETED if unanswered else CallStatus.IN_PROGRESS
    attempt = new_call(
        purpose=CallPurpose.INBOUND,
        household_id=household_id,
        kind=kind,
        recipient_id=recipient_id,
        number=number,
        language=language,
        key=inbound_key(call_sid or uuid.uuid4().hex),
        case=case,
        now=now,
        status=status,
        provider_sid=call_sid,
    )
    if unanswered:
        attempt.outcome = CallOutcome.UNCLEAR
    attempt.caller_verstat = verstat  # what the carrier says of the caller ID (notifier.ack_codes)
    # Two API processes may get the same call's webhook at once (Twilio retried it): the unique
    # idempotency key lets one insert win; the other answers with the winner's row (none found:
    # not a duplicate after all, and the IntegrityError lets the API answer with an error).
    key = attempt.idempotency_key
    attempt, inserted = insert_or_find(
        session,
        attempt,
        lambda: session.exec(select(CallAttempt).where(CallAttempt.idempotency_key == key)).first(),
    )
    if not inserted:
        log.info("inbound call %s recorded by a concurrent delivery; answering with it", attempt.id)
        return attempt
    if case is not None:
        lifecycle.record_event(
            session,
            case,
            CaseEventType.CALL_STATUS,
            now,
            actor=f"{kind.value}:{recipient_id}",
            call_attempt_id=attempt.id,
            status=status.value,
            inbound=True,
            verstat=verstat,
            **({"outcome": CallOutcome.UNCLEAR.value, "unanswered": True} if unanswered else {}),
        )
    return attempt
