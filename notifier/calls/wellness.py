"""The wellness call: the resident's reply to "are you all right?" (asked once more if unclear)
and what it does to the case (:func:`notifier.replies.apply_reply`). Inbound calls from a
resident get the same question and the same handling."""

from __future__ import annotations

import logging

from sqlmodel import Session

from core.enums import (
    TERMINAL_CALL_STATUSES,
    CallOutcome,
    CallStatus,
    Intent,
    Risk,
)
from core.models import CallAttempt
from notifier import ack_codes
from notifier.calls.common import (
    MAX_GATHERS,
    Gathered,
    Reply,
    advance_status,
    case_of,
    gather_url_for,
    is_inbound,
    is_next_gather,
    record_outcome,
    reply_decided,
    transcript_line,
)
from notifier.replies import apply_reply
from notifier.script import (
    closing_twiml,
    reask_twiml,
    self_harm_twiml,
)

log = logging.getLogger(__name__)


def reply(session: Session, attempt: CallAttempt, got: Gathered) -> str:
    """The resident's reply: classify it, ask once more if unclear, else act on it and say goodbye.

    ``gather_no`` is the ``n`` of the action URL: which question attempt this reply answers
    (1 = the first question, 2 = the re-ask). Twilio may deliver a callback twice, or an old one
    late; only the reply to the next unanswered attempt is acted on, any other gets the TwiML its
    first delivery got (:func:`_replay`). ``None`` (an action URL handed out before ``n``
    existed) is taken as the next attempt.
    """
    params, base_url, now, gather_no = got.params, got.base_url, got.now, got.gather_no
    code = attempt.code
    if not is_next_gather(attempt, gather_no):
        return _replay(attempt, gather_no, base_url)
    if reply_decided(attempt):
        # A retried request: the decision was made and acted on once; just say goodbye again.
        assert attempt.outcome is not None
        return closing_twiml(attempt.outcome, attempt.language)
    reply = Reply.from_params(params)
    result = reply.classify()
    attempt.gather_count += 1
    line = transcript_line(attempt.gather_count, reply, result)
    attempt.transcript = f"{attempt.transcript}\n{line}" if attempt.transcript else line
    attempt.intent = result.intent
    attempt.confidence = result.confidence
    attempt.updated_at = now
    advance_status(attempt, CallStatus.IN_PROGRESS)

    call_over = attempt.status in TERMINAL_CALL_STATUSES  # the resident answered, then hung up
    reask = result.intent == Intent.UNCLEAR and attempt.gather_count < MAX_GATHERS and not call_over
    outcome = None if reask else CallOutcome(result.intent.value)
    attempt.outcome = outcome
    if outcome is not None:
        case = case_of(session, attempt)
        apply_reply(
            session,
            household_id=attempt.household_id,
            case=case,
            intent=result.intent,
            now=now,
            actor=f"call:{attempt.id}",
            channel="call",
            proven=caller_proven(attempt),
            risk=result.risk,
            words=reply.text if reply.kind == "speech" else "",
        )
    record_outcome(session, attempt, now, outcome=outcome, reply=reply, result=result)
    # Ids only: what was said and what it was taken to mean are health data (docs/security.md);
    # they are on the call and the case, for the people allowed to see them.
    log.info("call attempt %s: reply %s handled", attempt.id, attempt.gather_count)
    if outcome is None:
        gather_url = gather_url_for(base_url, code, attempt.gather_count + 1)
        return reask_twiml(language=attempt.language, gather_url=gather_url)
    if result.risk == Risk.SELF_HARM:
        return self_harm_twiml(attempt.language, code=code, base_url=base_url)
    return closing_twiml(outcome, attempt.language)


def caller_proven(attempt: CallAttempt) -> bool:
    """Whether the resident's own phone is on this call: one we placed to the number on file, or
    one to our number whose caller ID the carrier fully attests (STIR/SHAKEN A)."""
    return not is_inbound(attempt) or ack_codes.caller_attested(attempt.caller_verstat)


def _replay(attempt: CallAttempt, gather_no: int | None, base_url: str) -> str:
    """A resident-call gather callback for an attempt already handled: act on nothing, and
    answer with what its first delivery got. Attempt n was followed by attempt n + 1 only if it
    was re-asked, so an earlier attempt, or the last one while no outcome is set, got the re-ask;
    otherwise it got the goodbye of the outcome."""
    assert gather_no is not None
    log.info(
        "call attempt %s: gather %s delivered again (%s handled); not acted on",
        attempt.id,
        gather_no,
        attempt.gather_count,
    )
    if gather_no > attempt.gather_count:  # never handed out (a signed URL cannot be made up)
        return closing_twiml(attempt.outcome or CallOutcome.UNCLEAR, attempt.language)
    if gather_no < attempt.gather_count or attempt.outcome is None:
        gather_url = gather_url_for(base_url, attempt.code, gather_no + 1)
        return reask_twiml(language=attempt.language, gather_url=gather_url)
    return closing_twiml(attempt.outcome, attempt.language)
