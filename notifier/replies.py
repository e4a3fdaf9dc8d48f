"""What a reply does: the one home for reading a text or key press from a resident or family
member and acting on it, shared by :mod:`notifier.calls` and :mod:`notifier.sms`.

What a resident's classified reply does to the case (:func:`apply_reply`), on a call or by SMS:

=========  ===========================================================================
ok         Watch.last_checkin_at = now; an OPEN inactivity case is cleared — only when the
           reply is *proven* to be the resident's (our call to their number, or a call to
           ours whose caller ID the carrier fully attests). Otherwise (a text, an unattested
           call: caller ID only) it is recorded for staff (``reply_unverified``) and we call
           the number on file back at once (:func:`escalation.call_back_to_verify`)
unwell     escalation.escalate_now(target="caseworker")
emergency  escalation.escalate_now(target="emergency")
self-harm  a ``self_harm_risk`` case, critical, the resident's words on it, and its own
           emergency texts to the caseworker and family at once (:func:`_self_harm`)
unclear    nothing now: asked once more on a call, then the escalation ladder goes on
=========  ===========================================================================

A help request with no case to land on opens a ``help_requested`` case. A reply that carries
``risk: self_harm`` is never a check-in and never clears anything, whatever its intent.

Words a family member may text (the resident's free text goes through the classifier):

* an acknowledgement, "1 4821" with the code from our alert text: a person takes responsibility
  and escalation stops (:mod:`notifier.ack_codes`; "1" / "확인" / "OK" alone are only recorded);
* a status request, "STATUS" / "상태": the household's state (:func:`notifier.family.status_lines`).

Trailing marks that do not change what a person means are ignored: spaces and ``. ! 。`` for
both. A question mark is deliberately different: "status?" asks the same as "status", but
"ok?" or "확인?" is a question, not a promise to look after the resident, and an
acknowledgement stops everyone else from being alerted, so it has to be a plain statement. Such
a text gets the contact help reply, which says what to send.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Literal

from sqlmodel import Session

from core.db import insert_or_find
from core.enums import ACTIVE_CASE_STATUSES, CaseKind, CaseStatus, Intent, Risk, Severity
from core.i18n import in_every_language
from core.models import Case, Watch
from notifier import ack_codes, escalation, lifecycle
from notifier.lifecycle import CaseConflict
from notifier.policy import snapshot_for_household
from notifier.script import CATALOGUE

log = logging.getLogger(__name__)

EXCERPT_CHARS = 200  # of the resident's words, on the case

STATUS_WORDS = frozenset({"status", "상태", "상태확인", "상태 확인"})

_STATEMENT_END = ".!。 "
_QUESTION_END = "?"


def _bare(body: str, trailing: str) -> str:
    return body.strip().strip(trailing).casefold()


def is_status_request(body: str) -> bool:
    """Pure: a contact's text asks how the household is (a question mark is fine)."""
    return _bare(body, _STATEMENT_END + _QUESTION_END) in STATUS_WORDS


def apply_reply(
    session: Session,
    *,
    household_id: int,
    case: Case | None,
    intent: Intent,
    now: datetime,
    actor: str,
    channel: Literal["call", "sms"],
    proven: bool = True,
    risk: Risk | None = None,
    words: str = "",
) -> Case | None:
    """Act on a classified reply from the resident (see the table at the top of this module).

    ``case`` is the case the call or message was about, if any. Returns the case the effect
    landed on (a help case may be opened when there was none). ``unclear`` does nothing.
    ``proven``: the reply came from the resident's own phone, not just from its caller ID; an
    unproven "ok" never clears or checks in (help and unwell need no proof: a forgery of those
    can only bring more people, never fewer).
    ``words``: what the resident said, kept on a self-harm case for the caseworker.
    """
    if risk == Risk.SELF_HARM:
        return _self_harm(session, household_id, case, now=now, actor=actor, channel=channel, words=words)
    if intent == Intent.OK and not proven:
        _unproven_ok(session, household_id, case, now=now, actor=actor, channel=channel)
        return case
    if intent == Intent.OK:
        record_checkin(session, household_id, now)
        if case is not None and case.status == CaseStatus.OPEN and case.kind == CaseKind.INACTIVITY:
            _clear_resident_ok(session, case, now=now, actor=actor)
        # Acknowledged (a person owns it), help and device cases: the reply is recorded, not acted on.
        return case
    if intent in (Intent.UNWELL, Intent.EMERGENCY):
        target: Literal["caseworker", "emergency"] = (
            "emergency" if intent == Intent.EMERGENCY else "caseworker"
        )
        if case is None:
            case = _case_for_help(session, household_id, intent, now=now, actor=actor)
        _escalate(session, case, target=target, now=now, reason=f"resident_{intent.value}_{channel}")
        return case
    return case


def _unproven_ok(
    session: Session, household_id: int, case: Case | None, *, now: datetime, actor: str, channel: str
) -> None:
    """ "I'm fine" with only a caller ID behind it: recorded on the active case for staff, no
    check-in (it would postpone the next alarm), and, while an inactivity case is open, a call
    back to the number on file, which only the resident's own phone can answer."""
    if case is None or case.status not in ACTIVE_CASE_STATUSES:
        log.info(
            "household %s: unproven ok by %s with no active case; nothing recorded", household_id, channel
        )
        return
    ack_codes.record_unverified(session, case, now, actor=actor, channel=channel, reason="resident_ok")
    if case.status == CaseStatus.OPEN and case.kind == CaseKind.INACTIVITY:
        escalation.call_back_to_verify(session, case, now=now)


def _self_harm(
    session: Session,
    household_id: int,
    about: Case | None,
    *,
    now: datetime,
    actor: str,
    channel: Literal["call", "sms"],
    words: str,
) -> Case:
    """The resident spoke of wanting to die (docs/calls.md, "Self-harm protocol"): a case of its
    own kind at the top severity, the words on it for the caseworker, and the policy's emergency
    people told at once with the self-harm texts (the family's say nothing of what was said).

    The case the call was about (``about``) stays open, not cleared, but its ladder moves on past
    its caseworker step, as after any emergency: nobody rings the resident again to ask whether
    they are fine, and staff are not told twice."""
    case, _ = lifecycle.open_or_redetect(
        session,
        household_id=household_id,
        kind=CaseKind.SELF_HARM_RISK,
        severity=Severity.CRITICAL,
        explanation=in_every_language(
            lambda language: CATALOGUE.text("call.case_explanation.self_harm", language)
        ),
        policy_snapshot=snapshot_for_household(session, household_id),
        now=now,
        actor=actor,
        follow_up_visits=True,  # whatever its outcome, a person visits again (docs/calls.md)
    )
    if words:
        channel_name = CATALOGUE.text(f"case.channel.{channel}")
        text = CATALOGUE.text("case.self_harm_words", channel=channel_name, words=words[:EXCERPT_CHARS])
        lifecycle.add_note(session, case, actor=actor, text=text, now=now)
    _escalate(session, case, target="emergency", now=now, reason=f"resident_self_harm_{channel}")
    if about is not None and about.id != case.id:
        escalation.skip_to_after_caseworker(session, about, now=now)
    return case


def record_checkin(session: Session, household_id: int, now: datetime) -> None:
    """The resident said they are fine: a sign of life the sweeper counts (it re-arms the watch)."""

    def locked() -> Watch | None:
        return session.get(Watch, household_id, with_for_update=True, populate_existing=True)

    watch = locked()
    if watch is None:
        # Created concurrently (by ingest): update that row instead.
        watch, inserted = insert_or_find(
            session, Watch(household_id=household_id, last_checkin_at=now, updated_at=now), locked
        )
        if inserted:
            return
    if watch.last_checkin_at is None or watch.last_checkin_at < now:
        watch.last_checkin_at = now
        watch.updated_at = now


def _case_for_help(session: Session, household_id: int, intent: Intent, *, now: datetime, actor: str) -> Case:
    """The case a help request without one lands on: the household's active help or inactivity
    case, else a new ``help_requested`` case (with the household's escalation policy)."""
    for kind in (CaseKind.HELP_REQUESTED, CaseKind.INACTIVITY):
        existing = lifecycle.active_case(session, household_id, kind)
        if existing is not None:
            return existing
    case, _ = lifecycle.open_or_redetect(
        session,
        household_id=household_id,
        kind=CaseKind.HELP_REQUESTED,
        severity=Severity.CRITICAL if intent == Intent.EMERGENCY else Severity.ALERT,
        explanation=in_every_language(
            lambda language: CATALOGUE.text(f"call.case_explanation.{intent.value}", language)
        ),
        policy_snapshot=snapshot_for_household(session, household_id),
        now=now,
        actor=actor,
    )
    return case


def _escalate(
    session: Session, case: Case, *, target: Literal["caseworker", "emergency"], now: datetime, reason: str
) -> None:
    """``escalation.escalate_now``; should it fail, the request is still not lost: the case is raised
    and made due now, so the next escalation tick acts on it, and the failure is logged."""
    try:
        with session.begin_nested():
            escalation.escalate_now(session, case, target=target, now=now, reason=reason)
    except Exception:
        log.exception("case %s: escalate_now(%s) failed; raising the case instead", case.id, target)
        session.refresh(case)
        if case.status not in ACTIVE_CASE_STATUSES:
            raise
        severity = Severity.CRITICAL if target == "emergency" else Severity.ALERT
        lifecycle.raise_severity(session, case, severity=severity, reason=reason, now=now)


def _clear_resident_ok(session: Session, case: Case, *, now: datetime, actor: str) -> None:
    """Clear an open case; if another worker changed it first, reload and clear if still open."""
    try:
        lifecycle.clear(session, case, reason="resident_ok", now=now, actor=actor)
    except CaseConflict:
        session.refresh(case)
        if case.status == CaseStatus.OPEN:
            lifecycle.clear(session, case, reason="resident_ok", now=now, actor=actor)
