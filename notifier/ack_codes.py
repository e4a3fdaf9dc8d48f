"""Who may stop an escalation: the code a family member's reply must carry.

Caller ID proves nothing (anyone can set it, and Twilio signs the webhook of a spoofed text
like any other), and an acknowledgement stops everyone else's alerts. So a reply acknowledges
a case only when it proves possession of the phone we alerted:

* every alert text to a contact carries a code of four digits, one per case and contact (the
  same in each text of that case to them): "1 4821 로 답장해 주세요";
* a text or key presses with that code acknowledge exactly that case;
* a bare "1" from the number on file is recorded for staff (``reply_unverified``) and answered
  with a request for the code, never acted on;
* wrong codes count against the (case, contact); after :data:`MAX_WRONG_CODES` the contact's
  code for that case is refused even when right (the escalation simply goes on, which is the
  safe side), and the sender is asked to phone the caseworker.

A key press on a call *we* placed to the number on file proves possession too, and needs no
code (:mod:`notifier.calls.contact`); so does a call to our number whose caller ID the carrier
fully attests (STIR/SHAKEN, Twilio's ``StirVerstat`` ``TN-Validation-Passed-A``). Any other call
to our number asks for the code on the keypad. See ``docs/calls.md`` for what each channel proves.
Nothing here commits; the caller owns the transaction.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, col, select

from core.db import insert_or_find
from core.enums import CaseEventType, CaseStatus
from core.models import AckCode, Case, Contact
from notifier import family, lifecycle
from notifier.script import ACK_CODE_DIGITS

log = logging.getLogger(__name__)

CODE_DIGITS = ACK_CODE_DIGITS
MAX_WRONG_CODES = 5  # per case and contact: 5 guesses in 10,000 is a 0.05 % chance

ACK_WORDS = frozenset({"1", "확인", "ok"})
_ACK_WORD = "|".join(re.escape(w) for w in sorted(ACK_WORDS))
# "1 4821", "1-4821", "14821", "확인 4821", "OK 4821" or the code alone; see parse_ack.
# ASCII digits only (hmac.compare_digest refuses other text); full-width ones are folded by NFKC.
_WITH_CODE = re.compile(rf"^(?:(?:{_ACK_WORD})[\s\-:,.]*)?([0-9]{{{CODE_DIGITS}}})$")
_KEYED_CODE = re.compile(rf"^[0-9]{{{CODE_DIGITS}}}$")
_STATEMENT_END = ".!。 "  # as in notifier.replies: "ok!" is "ok", "ok?" is a question


# Twilio's StirVerstat on a call to our number: A-level attestation means the originating carrier
# vouches that its customer may use the caller ID; B and C (and no verdict at all, as on most
# networks outside North America) vouch for nothing; "Failed" means the signature did not verify.
STRONG_ATTESTATION = "tn-validation-passed-a"


def caller_attested(verstat: str | None) -> bool:
    """Pure: the carrier fully attests the caller ID (as good as our own call to the number)."""
    return (verstat or "").strip().casefold() == STRONG_ATTESTATION


def caller_id_failed(verstat: str | None) -> bool:
    """Pure: the STIR/SHAKEN signature of the caller ID did not verify (likely forged)."""
    return (verstat or "").strip().casefold().startswith("tn-validation-failed")


class Verdict(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    ALREADY = "already"  # nothing open, but something is already acknowledged
    NOTHING_OPEN = "nothing_open"
    AMBIGUOUS = "ambiguous"  # no code, open cases in several of the number's households
    NEEDS_CODE = "needs_code"  # "1" without a code: recorded, not acted on
    WRONG_CODE = "wrong_code"
    LOCKED = "locked"  # too many wrong codes for every case this number could acknowledge


class AckText:
    """A contact's text that means "I have it": with or without the code."""

    __slots__ = ("code",)

    def __init__(self, code: str | None) -> None:
        self.code = code


def is_ack(body: str) -> bool:
    """Pure: a contact's text is the bare "1" / "확인" / "OK" (never a question)."""
    return body.strip().strip(_STATEMENT_END).casefold() in ACK_WORDS


def parse_ack(body: str) -> AckText | None:
    """Pure: "1" / "확인" / "OK" (no code), or one of them followed by the code, or the code alone.

    Trailing spaces and ``. ! 。`` are ignored; a question mark is not ("ok?" is a question,
    :mod:`notifier.replies`), so such a text is not an acknowledgement at all.
    """
    if is_ack(body):
        return AckText(None)
    bare = body.strip().strip(_STATEMENT_END).casefold()
    found = _WITH_CODE.match(unicodedata.normalize("NFKC", bare))
    return AckText(found.group(1)) if found else None


def parse_keyed_code(digits: str) -> str | None:
    """Pure: the code typed on a keypad (``#`` ends it), or None when it is not a code's shape."""
    keyed = digits.strip().rstrip("#")
    return keyed if _KEYED_CODE.match(keyed) else None


def code_for(session: Session, case: Case, contact_id: int, now: datetime) -> str:
    """The code of (case, contact): made on the case's first text to them, then reused."""
    case_id = case.id
    assert case_id is not None
    existing = _row(session, case_id, contact_id)
    if existing is not None:
        return existing.code
    row = AckCode(
        case_id=case_id,
        contact_id=contact_id,
        code=f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}",
        created_at=now,
    )
    # Made concurrently by another worker: use theirs.
    row, _inserted = insert_or_find(session, row, lambda: _row(session, case_id, contact_id))
    return row.code


def _row(session: Session, case_id: int, contact_id: int) -> AckCode | None:
    stmt = select(AckCode).where(AckCode.case_id == case_id, AckCode.contact_id == contact_id)
    return session.exec(stmt).first()


def acknowledge(
    session: Session, contacts: Sequence[Contact], code: str | None, now: datetime, *, channel: str
) -> Verdict:
    """A reply from a number that is ``contacts`` (one row per household it is a contact of).

    With the right code, the case the code belongs to is acknowledged; without one, or with a
    wrong one, nothing is, and each open case the number could have meant gets a
    ``reply_unverified`` event for staff.
    """
    open_cases = [
        (contact, case)
        for contact in contacts
        for case in family.active_cases(session, contact.household_id)
        if case.status == CaseStatus.OPEN
    ]
    if not open_cases:
        already = any(
            case.status == CaseStatus.ACKNOWLEDGED
            for contact in contacts
            for case in family.active_cases(session, contact.household_id)
        )
        return Verdict.ALREADY if already else Verdict.NOTHING_OPEN
    if code is None:
        _record(session, open_cases, now, channel=channel, reason="no_code")
        households = {contact.household_id for contact, _ in open_cases}
        return Verdict.AMBIGUOUS if len(households) > 1 else Verdict.NEEDS_CODE
    rows = _codes(session, open_cases)
    usable = [r for r in rows if r.wrong_attempts < MAX_WRONG_CODES]
    matched = [r for r in usable if hmac.compare_digest(r.code, code)]
    if matched:
        cases = {case.id: (contact, case) for contact, case in open_cases}
        for row in matched:
            contact, case = cases[row.case_id]
            family.acknowledge_case(session, case, contact_id=contact.id, now=now, channel=channel)
        return Verdict.ACKNOWLEDGED
    for row in usable:
        row.wrong_attempts += 1
    locked = bool(rows) and all(r.wrong_attempts >= MAX_WRONG_CODES for r in rows)
    reason = "locked" if locked else "wrong_code"
    _record(session, open_cases, now, channel=channel, reason=reason)
    log.warning("ack by %s: %s for %s open case(s)", channel, reason, len(open_cases))
    return Verdict.LOCKED if locked else Verdict.WRONG_CODE


def _codes(session: Session, open_cases: Sequence[tuple[Contact, Case]]) -> list[AckCode]:
    """The code rows the number could mean, locked: concurrent guesses are counted one by one."""
    pairs = {(case.id, contact.id) for contact, case in open_cases}
    stmt = (
        select(AckCode)
        .where(col(AckCode.case_id).in_({case_id for case_id, _ in pairs}))
        .order_by(col(AckCode.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return [r for r in session.exec(stmt).all() if (r.case_id, r.contact_id) in pairs]


def _record(
    session: Session, open_cases: Sequence[tuple[Contact, Case]], now: datetime, *, channel: str, reason: str
) -> None:
    for contact, case in open_cases:
        record_unverified(
            session,
            case,
            now,
            actor=f"contact:{contact.id}",
            channel=channel,
            reason=reason,
            relation=contact.relation,
        )


def record_unverified(
    session: Session, case: Case, now: datetime, *, actor: str, channel: str, reason: str, **data: object
) -> None:
    """What staff see: someone answered from a number on file without proving it was them."""
    lifecycle.record_event(
        session,
        case,
        CaseEventType.REPLY_UNVERIFIED,
        now,
        actor=actor,
        channel=channel,
        reason=reason,
        **data,
    )
