"""What a family member (a household ``Contact``) may do and see, by SMS or by phone.

Two things, shared by :mod:`notifier.sms` and :mod:`notifier.calls`:

* :func:`acknowledge_for_contacts` — "1" / "확인" / "OK" by text, or key 1 on a call: a person
  has taken responsibility, so escalation stops.
* :func:`status_lines` — the household's state for "STATUS" / "상태": which alerts are active and
  whether staff have picked them up, and when the last sign of life was (household local time).
  Deliberately nothing more: no explanations, notes, transcripts, names or addresses, because a
  phone number is all that identifies the person asking.

Nothing here commits; the caller owns the transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, col, select

from core.enums import ACTIVE_CASE_STATUSES, CaseStatus, Language
from core.localtime import format_local, latest_sign_of_life
from core.models import Case, Contact, Household, Watch
from notifier import lifecycle
from notifier.lifecycle import CaseConflict
from notifier.script import CATALOGUE
from notifier.transports.base import mask_phone

log = logging.getLogger(__name__)


class AckResult(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    ALREADY = "already"  # nothing open, but something is already acknowledged
    NOTHING_OPEN = "nothing_open"
    AMBIGUOUS = "ambiguous"  # open cases in more than one of the contact's households


def active_cases(session: Session, household_id: int) -> list[Case]:
    stmt = (
        select(Case)
        .where(Case.household_id == household_id, col(Case.status).in_(ACTIVE_CASE_STATUSES))
        .order_by(col(Case.id))
    )
    return list(session.exec(stmt).all())


def acknowledge_for_contacts(
    session: Session, contacts: Sequence[Contact], now: datetime, *, channel: str
) -> AckResult:
    """Acknowledge the open cases of the contact's household (actor ``contact:<id>``).

    A number can be a contact of several households; if more than one of them has an open case
    we cannot tell which the reply is about, and acknowledging the wrong one would stop an
    escalation that is still needed, so nothing is acknowledged (:attr:`AckResult.AMBIGUOUS`).
    """
    open_cases: dict[int, tuple[Contact, list[Case]]] = {}
    already = False
    for contact in contacts:
        cases = active_cases(session, contact.household_id)
        mine = [c for c in cases if c.status == CaseStatus.OPEN]
        already = already or any(c.status == CaseStatus.ACKNOWLEDGED for c in cases)
        if mine:
            open_cases[contact.household_id] = (contact, mine)
    if len(open_cases) > 1:
        log.warning(
            "ack by %s from %s is ambiguous (%s households)",
            channel,
            mask_phone(contacts[0].phone),
            len(open_cases),
        )
        return AckResult.AMBIGUOUS
    if not open_cases:
        return AckResult.ALREADY if already else AckResult.NOTHING_OPEN
    contact, cases = next(iter(open_cases.values()))
    for case in cases:
        acknowledge_case(session, case, contact_id=contact.id, now=now, channel=channel)
    return AckResult.ACKNOWLEDGED


def acknowledge_case(
    session: Session, case: Case, *, contact_id: int | None, now: datetime, channel: str
) -> AckResult:
    """Acknowledge one case for a contact; a concurrent change is reloaded and retried once."""
    actor = f"contact:{contact_id}"
    for attempt in range(2):
        if case.status != CaseStatus.OPEN:
            return AckResult.ALREADY if case.status == CaseStatus.ACKNOWLEDGED else AckResult.NOTHING_OPEN
        try:
            lifecycle.acknowledge(session, case, actor=actor, now=now)
        except CaseConflict:  # changed under us (e.g. acknowledged a moment ago): reload and look again
            if attempt == 1:
                raise
            session.refresh(case)
            continue
        log.info("case %s acknowledged by %s (%s)", case.id, channel, actor)
        return AckResult.ACKNOWLEDGED
    raise AssertionError("unreachable")


def status_lines(
    session: Session, household: Household, language: Language, *, spoken: bool = False
) -> list[str]:
    """The household's state as a family member may see it, one sentence per line
    (``spoken``: a header meant to be heard on a call instead of the SMS's "[안부]" tag)."""
    assert household.id is not None
    header = "status.header_spoken" if spoken else "status.header"
    lines = [CATALOGUE.text(header, language, code=household.code)]
    cases = active_cases(session, household.id)
    for case in cases:
        key = "status.case_acknowledged" if case.status == CaseStatus.ACKNOWLEDGED else "status.case_open"
        kind = CATALOGUE.text(f"notify.kind.{case.kind.value}", language)
        lines.append(CATALOGUE.text(key, language, kind=kind))
    if not cases:
        lines.append(CATALOGUE.text("status.no_cases", language))
    watch = session.get(Watch, household.id)
    last = latest_sign_of_life(watch.last_activity_at, watch.last_checkin_at, None) if watch else None
    if last is None:
        lines.append(CATALOGUE.text("status.no_sign", language))
    else:
        when = format_local(last.at, household.timezone, language)
        lines.append(CATALOGUE.text("status.last_sign", language, when=when))
    return lines
