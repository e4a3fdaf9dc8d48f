"""Calls with a family member: the alert on our call (or the household's state on theirs), then
"press 1" to acknowledge (:func:`notifier.family.acknowledge_for_contacts`).

Key 1 is enough on a call *we* placed to the number on file (only that phone can answer it) and
on a call to our number whose caller ID the carrier fully attests (StirVerstat A). Any other
call to our number is caller ID only: it must key in the code of our alert text
(:mod:`notifier.ack_codes`), and a caller whose STIR/SHAKEN verification failed does not hear
the household's state either."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session, col, select

from core.enums import (
    ACTIVE_CASE_STATUSES,
    TERMINAL_CALL_STATUSES,
    CallOutcome,
    CallStatus,
    CaseStatus,
    RecipientKind,
)
from core.models import CallAttempt, Contact, Household
from notifier import ack_codes, family
from notifier.calls.common import (
    MAX_GATHERS,
    Gathered,
    advance_status,
    append_transcript,
    case_of,
    gather_url_for,
    is_inbound,
    is_next_gather,
    record_keys,
)
from notifier.script import (
    CATALOGUE,
    contact_call_twiml,
    contact_reask_twiml,
    say_and_hang_up_twiml,
)

log = logging.getLogger(__name__)


def contact_opening(session: Session, attempt: CallAttempt, base_url: str) -> str:
    """What a family member hears first: on our notification call, the alert; on their own call,
    the household's state. Both end in "press 1" (or "key in the code", :func:`needs_code`)
    while something is open to acknowledge."""
    language = attempt.language
    contact = session.get(Contact, attempt.recipient_id) if attempt.recipient_id is not None else None
    lines = [CATALOGUE.text("call.contact.greeting", language)]
    if is_inbound(attempt):
        if not ack_codes.caller_id_failed(attempt.caller_verstat):
            for each in _contact_households(session, attempt):
                lines.extend(family.status_lines(session, each, language, spoken=True))
    else:
        household = session.get(Household, attempt.household_id)
        case = case_of(session, attempt)
        if household is not None and case is not None and case.status in ACTIVE_CASE_STATUSES:
            kind = CATALOGUE.text(f"notify.kind.{case.kind.value}", language)
            lines.append(CATALOGUE.text("call.contact.alert", language, code=household.code, kind=kind))
        elif household is not None:  # cleared or resolved while the phone rang: say how things are now
            lines.extend(family.status_lines(session, household, language, spoken=True))
    code = needs_code(attempt)
    if code:  # the code says which case is meant, whichever of the number's households it is
        has_open = any(
            c.status == CaseStatus.OPEN
            for h in _contact_households(session, attempt)
            for c in family.active_cases(session, h.id or 0)
        )
    else:
        has_open = contact is not None and any(
            c.status == CaseStatus.OPEN for c in family.active_cases(session, contact.household_id)
        )
        if is_inbound(attempt) and attempt.case_id is None:
            has_open = False  # open cases in several households: we cannot tell which "1" is meant
    gather_url = gather_url_for(base_url, attempt.code, 1, contact=True) if has_open else None
    return contact_call_twiml(language=language, lines=lines, gather_url=gather_url, code=code)


def needs_code(attempt: CallAttempt) -> bool:
    """Whether key 1 is not enough on this call: a call to our number that only caller ID (no
    A-level STIR/SHAKEN attestation) says is the family member's."""
    return is_inbound(attempt) and not ack_codes.caller_attested(attempt.caller_verstat)


def _contact_households(session: Session, attempt: CallAttempt) -> list[Household]:
    """The households a calling family member is a contact of (same number), in id order."""
    rows = session.exec(
        select(Household)
        .join(Contact, Contact.household_id == Household.id)  # type: ignore[arg-type]
        .where(Contact.phone == attempt.to_address)
        .order_by(col(Household.id))
    ).all()
    unique = {h.id: h for h in rows}
    return list(unique.values())


_CONTACT_CLOSINGS: dict[str, str] = {
    family.AckResult.ACKNOWLEDGED: "call.contact.acknowledged",
    family.AckResult.ALREADY: "call.contact.ack_already",
    family.AckResult.NOTHING_OPEN: "reply.ack_nothing_open",
    family.AckResult.AMBIGUOUS: "call.contact.ack_ambiguous",
    ack_codes.Verdict.LOCKED: "call.contact.code_locked",
}
# What a key press did, when it settles the call (anything else is asked once more).
_SETTLED = frozenset(
    {
        family.AckResult.ACKNOWLEDGED,
        family.AckResult.ALREADY,
        family.AckResult.NOTHING_OPEN,
        ack_codes.Verdict.LOCKED,
    }
)


def contact_reply(session: Session, attempt: CallAttempt, got: Gathered) -> str:
    params, base_url, now, gather_no = got.params, got.base_url, got.now, got.gather_no
    language = attempt.language
    code = needs_code(attempt)
    if not is_next_gather(attempt, gather_no):
        assert gather_no is not None
        log.info("contact call %s: key press %s delivered again; not acted on", attempt.id, gather_no)
        if gather_no < attempt.gather_count or (
            gather_no == attempt.gather_count and attempt.outcome is None
        ):
            # Its first delivery got the re-ask (only a re-ask leads to a further attempt).
            gather_url = gather_url_for(base_url, attempt.code, gather_no + 1, contact=True)
            return contact_reask_twiml(language=language, gather_url=gather_url, code=code)
        acknowledged = attempt.outcome == CallOutcome.ACKNOWLEDGED
        return say_and_hang_up_twiml(
            "call.contact.acknowledged" if acknowledged else "call.contact.not_acknowledged", language
        )
    if attempt.outcome is not None and attempt.outcome != CallOutcome.VOICEMAIL:
        # A retried request: the decision was made and acted on once.
        key = (
            "call.contact.acknowledged"
            if attempt.outcome == CallOutcome.ACKNOWLEDGED
            else "call.contact.not_acknowledged"
        )
        return say_and_hang_up_twiml(key, language)
    digits = (params.get("Digits") or "").strip()[:20]
    shown = _shown(digits)
    attempt.gather_count += 1
    line = f"#{attempt.gather_count} " + (f"dtmf {shown}" if digits else "no response")
    attempt.updated_at = now
    advance_status(attempt, CallStatus.IN_PROGRESS)
    call_over = attempt.status in TERMINAL_CALL_STATUSES
    result = _act_on_keys(session, attempt, digits, now, code=code)
    if result in _SETTLED:
        assert result is not None
        locked = result == ack_codes.Verdict.LOCKED
        attempt.outcome = CallOutcome.UNCLEAR if locked else CallOutcome.ACKNOWLEDGED
        append_transcript(attempt, f"{line} -> {result}")
        _record_contact_event(session, attempt, now, digits=shown, outcome=attempt.outcome, result=result)
        return say_and_hang_up_twiml(_CONTACT_CLOSINGS[result], language)
    if attempt.gather_count < MAX_GATHERS and not call_over:
        append_transcript(attempt, f"{line} -> re-ask")
        _record_contact_event(session, attempt, now, digits=shown, outcome=None, result=result)
        gather_url = gather_url_for(base_url, attempt.code, attempt.gather_count + 1, contact=True)
        return contact_reask_twiml(language=language, gather_url=gather_url, code=code)
    attempt.outcome = CallOutcome.UNCLEAR
    append_transcript(attempt, f"{line} -> unclear")
    _record_contact_event(session, attempt, now, digits=shown, outcome=attempt.outcome, result=result)
    return say_and_hang_up_twiml("call.contact.not_acknowledged", language)


def _act_on_keys(
    session: Session, attempt: CallAttempt, digits: str, now: datetime, *, code: bool
) -> str | None:
    """What the key presses did (a ``family.AckResult`` or ``ack_codes.Verdict`` value), or None
    when they could not acknowledge anything (another key, silence)."""
    if not code:
        if digits != "1":
            return None
        contact = session.get(Contact, attempt.recipient_id) if attempt.recipient_id is not None else None
        if contact is None:
            return family.AckResult.NOTHING_OPEN
        return family.acknowledge_for_contacts(session, [contact], now, channel="call")
    if not digits:
        return None  # silence proves nothing and claims nothing: just ask again
    contacts = session.exec(
        select(Contact).where(Contact.phone == attempt.to_address).order_by(col(Contact.id))
    ).all()
    return ack_codes.acknowledge(session, contacts, ack_codes.parse_keyed_code(digits), now, channel="call")


def _shown(digits: str) -> str:
    """Key presses as they may be kept (transcript, case events): never a code."""
    return "code" if ack_codes.parse_keyed_code(digits) is not None else digits


def _record_contact_event(
    session: Session,
    attempt: CallAttempt,
    now: datetime,
    *,
    digits: str,
    outcome: CallOutcome | None,
    result: str | None,
) -> None:
    record_keys(
        session,
        attempt,
        now,
        actor=f"contact:{attempt.recipient_id}",
        recipient_kind=RecipientKind.CONTACT,
        digits=digits,
        outcome=outcome,
        ack=str(result) if result else None,
        inbound=is_inbound(attempt),
    )
