"""The person and the cause first (issue 17, items 3 and 6): what the resident said, the cause in
words, and people's names instead of actor ids.

A resident who said "넘어져서 못 일어나겠어요" on a call used to appear only inside a call's debug
transcript, while the case header and the queue still read "no appliance use". The words are
kept on the case's ``call_outcome`` events (``excerpt``, with the classifier's ``intent``); the
latest worrying one from a call to the resident becomes the case's ``resident_words`` and its
``cause``: ``fall`` (낙상·도움 요청: the same fall rules that raised the alarm), ``help`` or
``unwell``. A ``help_requested`` case with no words (a key press, an SMS) is ``help`` too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from core.enums import CaseEventType, CaseKind, Intent, RecipientKind
from core.models import CallAttempt, Case, CaseEvent, Contact, User
from notifier.classifier_rules import FALL, normalise

# Worst first: a cry for help outranks "not feeling well" whenever both were said.
_WORRYING = (Intent.EMERGENCY.value, Intent.UNWELL.value)


@dataclass(frozen=True)
class Words:
    text: str | None  # their words (speech); None when they pressed a key
    at: datetime
    cause: str  # fall | help | unwell


def resident_words(events: Sequence[CaseEvent], resident_calls: set[int]) -> Words | None:
    """The resident's most worrying reply on the case (latest of the worst intent), if any."""
    for intent in _WORRYING:
        for event in reversed(events):
            data = event.data or {}
            if (
                event.type != CaseEventType.CALL_OUTCOME
                or data.get("intent") != intent
                or data.get("call_attempt_id") not in resident_calls
            ):
                continue
            text = str(data.get("excerpt") or "").strip() or None
            return Words(text, event.at, _cause(intent, text, fell=bool(data.get("fall"))))
    return None


def _cause(intent: str, text: str | None, *, fell: bool = False) -> str:
    """``fell``: retention or erasure removed the words but kept whether they told of a fall."""
    if intent == Intent.UNWELL.value:
        return "unwell"
    return "fall" if fell or (text and FALL.search(normalise(text))) else "help"


def case_cause(case: Case, words: Words | None) -> str | None:
    if words is not None:
        return words.cause
    return "help" if case.kind == CaseKind.HELP_REQUESTED else None


def resident_call_ids(calls: Iterable[CallAttempt]) -> set[int]:
    return {c.id for c in calls if c.id is not None and c.recipient_kind == RecipientKind.RESIDENT}


def call_outcome_events(session: Session, case_ids: Sequence[int]) -> dict[int, list[CaseEvent]]:
    """The ``call_outcome`` events of some cases, oldest first, by case (for the queue)."""
    grouped: dict[int, list[CaseEvent]] = {i: [] for i in case_ids}
    if not case_ids:
        return grouped
    rows = session.exec(
        select(CaseEvent)
        .where(col(CaseEvent.case_id).in_(list(case_ids)), col(CaseEvent.type) == CaseEventType.CALL_OUTCOME)
        .order_by(col(CaseEvent.at), col(CaseEvent.id))
    ).all()
    for event in rows:
        grouped[event.case_id].append(event)
    return grouped


# ------------------------------------------------------------------ names for actor ids


def actor_kind(actor: str) -> str:
    """``user:ana`` → user, ``contact:3`` → contact, ``call:2`` → call, ``twilio`` → provider,
    anything else (``system``, the engine's workers) → system. The dashboard words the kinds."""
    prefix = actor.split(":", 1)[0]
    if prefix in ("user", "contact", "call"):
        return prefix
    return "provider" if prefix == "twilio" else "system"


def actor_names(session: Session, actors: Iterable[str]) -> dict[str, str]:
    """Display names for the ``user:`` and ``contact:`` actors among ``actors`` (staff see the
    household's contacts by name on the household page already). Unknown ids are left out."""
    usernames = {a.removeprefix("user:") for a in actors if a.startswith("user:")}
    contact_ids = {int(a.split(":", 1)[1]) for a in actors if a.startswith("contact:") and a[8:].isdigit()}
    names: dict[str, str] = {}
    if usernames:
        for user in session.exec(select(User).where(col(User.username).in_(usernames))).all():
            names[f"user:{user.username}"] = user.display_name or user.username
    if contact_ids:
        for contact in session.exec(select(Contact).where(col(Contact.id).in_(contact_ids))).all():
            relation = f" ({contact.relation})" if contact.relation else ""
            names[f"contact:{contact.id}"] = contact.name + relation
    return names
