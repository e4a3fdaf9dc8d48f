"""Scheduled check-in calls: a weekly schedule per household, three short questions (meals, sleep,
health), and a summary with flags for the household page.

* :func:`set_schedule` (for the API) validates and stores a schedule; :func:`tick` (a worker
  tick of its own) turns a due schedule into a ``CallAttempt`` (no case) and a
  ``CheckinCall`` row, then moves the schedule on. The move is a conditional UPDATE on the due
  time it read, so two workers never place the same check-in twice.
* The call itself is handled by :mod:`notifier.calls` (one question per ``<Gather>``); each reply
  is read by :func:`interpret_answer` and stored with :func:`record_answer`.
* :func:`recent_checkins` is what the household page shows.

A check-in call is never urgent, so the organisation's escalation policy holds it like any
routine call:

* **quiet hours** (household local time): a check-in that comes due inside them is *held* until
  they end (``next_due_at`` moves to the end of the quiet hours), whatever the policy's ``mode``:
  the weekly call is the resident's regular contact and is not lost, it only moves out of the
  night. :func:`set_schedule` refuses a time inside the quiet hours in the first place; the hold
  covers a policy that changed after the schedule was set.
* **the daily call limit** (:func:`notifier.queueing.calls_today`, the household's local calendar
  day): a check-in that would go over it is *skipped* to the next slot. The resident has already
  been called that many times today (the check-in call itself counts towards the limit), so the
  purpose of the weekly call, a voice checking on them, is served; holding it to tomorrow would
  shift the weekly rhythm the resident expects.

A check-in that is due while the household is paused or already has an active case is skipped
(they are being looked after already); one found more than :data:`LATE_LIMIT` late (workers were
down) is skipped rather than ringing at an unexpected hour.

Every skip or hold is recorded on the schedule (``last_skip_*``: when, which slot, a
:class:`~core.enums.CheckinSkip` reason, and for a hold until when) so the household page can say
why an expected call did not happen; only the latest is kept.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from core.clock import Clock
from core.db import claim_row, session_scope
from core.enums import (
    ACTIVE_CASE_STATUSES,
    CallOutcome,
    CallPurpose,
    CallStatus,
    CheckinSkip,
    Language,
    MonitoringState,
    RecipientKind,
)
from core.localtime import household_zone
from core.models import CallAttempt, Case, CheckinCall, CheckinSchedule, Household, Resident
from core.settings import Settings
from notifier.classifier import classify
from notifier.policy import (
    EscalationPolicy,
    in_quiet_hours,
    policy_from_snapshot,
    quiet_until,
    snapshot_for_household,
)
from notifier.queueing import calls_today, new_call
from notifier.script import CATALOGUE

log = logging.getLogger(__name__)

QUESTIONS: tuple[str, ...] = ("meals", "sleep", "health")
KEY_PREFIX = "checkin:"
LATE_LIMIT = timedelta(hours=2)
Answer = Literal["ok", "concern", "emergency", "unclear"]

_CLOCK_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
# A plain "yes / well" to a yes-no question, and words that turn it into "no".
_YES = re.compile(r"(^|\s)(네|예|응|그럼요|잘|좋아요|괜찮|yes|yeah|good|well|fine|ok)", re.IGNORECASE)
_NO = re.compile(r"(못|안 |않|아니|별로|no\b|not|n't|never|bad|poor)", re.IGNORECASE)


class ScheduleError(ValueError):
    """A schedule that makes no sense; the message says what is wrong."""


class QuietHoursError(ScheduleError):
    """The schedule's time is inside the organisation's quiet hours (``start``/``end``, HH:MM)."""

    def __init__(self, local_time: str, start: str, end: str) -> None:
        super().__init__(
            f"local_time {local_time} is inside the organisation's quiet hours "
            f"({start}-{end}, household time): choose a time outside them"
        )
        self.start, self.end = start, end


# ---------------------------------------------------------------- pure


def next_occurrence(
    after: datetime, timezone: str, weekdays: Sequence[int], local_time: str
) -> datetime | None:
    """Pure: the first scheduled moment strictly after ``after`` (UTC), or None without weekdays."""
    if not weekdays:
        return None
    zone = household_zone(timezone)
    at = time.fromisoformat(local_time)
    local_day = after.astimezone(zone).date()
    for offset in range(8):
        day = local_day + timedelta(days=offset)
        if day.isoweekday() in weekdays:
            moment = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
            if moment > after:
                return moment
    return None  # unreachable with a non-empty weekday list


def interpret_answer(
    kind: Literal["dtmf", "speech", "none"], text: str, speech_confidence: float | None = None
) -> Answer:
    """Pure-ish (the classifier is a trained model): what a reply to one yes/no question means.

    Keys: 1 = fine, 2 = not fine (a *concern* here: the question offered 2 for "no", not for
    "help"). Speech: an emergency phrase is always ``emergency`` (the classifier's safety layer);
    "unwell" is a concern; otherwise a plain yes is fine and a negated one a concern.
    """
    if kind == "none":
        return "unclear"
    if kind == "dtmf":
        if "2" in text:
            return "concern"
        return "ok" if text.startswith("1") else "unclear"
    result = classify(text, speech_confidence=speech_confidence)
    if result.intent.value == "emergency":
        return "emergency"
    if result.intent.value == "unwell" or _NO.search(text):
        return "concern"
    if result.intent.value == "ok" or _YES.search(text):
        return "ok"
    return "unclear"


def call_outcome(answers: dict[str, Any]) -> CallOutcome:
    """Pure: the call's outcome from its answers (the worst one wins)."""
    given = [a.get("answer") for a in answers.values()]
    if "emergency" in given:
        return CallOutcome.EMERGENCY
    if "concern" in given:
        return CallOutcome.UNWELL
    if given and all(a == "ok" for a in given) and len(given) == len(QUESTIONS):
        return CallOutcome.OK
    return CallOutcome.UNCLEAR


def flags(answers: dict[str, Any]) -> list[str]:
    """Pure: worrying answers, e.g. ``["meals_concern", "health_emergency"]``, in question order."""
    return [
        f"{topic}_{answers[topic]['answer']}"
        for topic in QUESTIONS
        if topic in answers and answers[topic].get("answer") in ("concern", "emergency")
    ]


def summary_text(answers: dict[str, Any], outcome: CallOutcome | None, language: Language) -> str:
    """Pure: one line for the household page, e.g. ``식사: 괜찮음 · 수면: 걱정됨 · 건강: 응답 없음``."""
    if not answers and outcome in (
        CallOutcome.NO_ANSWER,
        CallOutcome.BUSY,
        CallOutcome.FAILED,
        CallOutcome.VOICEMAIL,
    ):
        return CATALOGUE.text("checkin.not_reached", language)
    parts = []
    for topic in QUESTIONS:
        answer = answers.get(topic, {}).get("answer", "none")
        label = CATALOGUE.text(f"checkin.answer.{answer}", language)
        parts.append(f"{CATALOGUE.text(f'checkin.topic.{topic}', language)}: {label}")
    return " · ".join(parts)


# ---------------------------------------------------------------- the schedule


def set_schedule(
    session: Session,
    household_id: int,
    *,
    weekdays: Sequence[int],
    local_time: str,
    now: datetime,
    active: bool = True,
) -> CheckinSchedule:
    """Create or replace a household's schedule (ISO weekdays 1-7, ``HH:MM`` local). Raises
    :class:`ScheduleError` on bad input and changes nothing then. Never commits."""
    days = sorted(set(weekdays))
    if not days or any(not isinstance(d, int) or not 1 <= d <= 7 for d in days):
        raise ScheduleError("weekdays must be a non-empty list of ISO weekdays, 1 (Monday) to 7 (Sunday)")
    if not _CLOCK_TIME.match(local_time):
        raise ScheduleError(f"local_time must be HH:MM (24 h), got {local_time!r}")
    household = session.get(Household, household_id)
    if household is None:
        raise ScheduleError(f"no household {household_id}")
    quiet = household_policy(session, household_id).quiet_hours
    if active and quiet is not None and in_quiet_hours(time.fromisoformat(local_time), quiet):
        raise QuietHoursError(local_time, quiet.start, quiet.end)
    schedule = session.get(CheckinSchedule, household_id) or CheckinSchedule(
        household_id=household_id, updated_at=now
    )
    schedule.weekdays = days
    schedule.local_time = local_time
    schedule.active = active
    schedule.next_due_at = next_occurrence(now, household.timezone, days, local_time) if active else None
    schedule.updated_at = now
    session.add(schedule)
    session.flush()
    return schedule


def tick(engine: Engine, clock: Clock, settings: Settings, *, limit: int = 100) -> int:
    """Place the check-in calls that are due; returns how many were placed.
    (``settings``: the signature every tick shares; the organisation's policy rules here.)"""
    now = clock.now()
    with session_scope(engine) as session:
        due = session.exec(
            select(CheckinSchedule.household_id)
            .where(col(CheckinSchedule.active).is_(True), col(CheckinSchedule.next_due_at) <= now)
            .order_by(col(CheckinSchedule.next_due_at))
            .limit(limit)
        ).all()
    placed = 0
    for household_id in due:
        try:
            with session_scope(engine) as session:
                placed += place_due(session, household_id, now)
        except Exception:  # one bad schedule must not stop the others
            log.exception("check-in for household %s failed", household_id)
    return placed


def household_policy(session: Session, household_id: int) -> EscalationPolicy:
    """The escalation policy of the household's organisation now (a check-in has no case, so
    there is no snapshot: the current policy's quiet hours and limits apply)."""
    return policy_from_snapshot(snapshot_for_household(session, household_id))


def place_due(session: Session, household_id: int, now: datetime) -> int:
    """Claim the due check-in (conditional UPDATE of ``next_due_at``) and queue its calls.

    Inside the quiet hours the claim moves ``next_due_at`` to their end instead of the next
    scheduled slot (the call is held, see the module docstring)."""
    schedule = session.get(CheckinSchedule, household_id, populate_existing=True)
    household = session.get(Household, household_id)
    if schedule is None or household is None or schedule.next_due_at is None or schedule.next_due_at > now:
        return 0
    due = schedule.next_due_at
    policy = household_policy(session, household_id)
    held_until = quiet_until(now, household.timezone, policy.quiet_hours) if policy.quiet_hours else None
    following = held_until or next_occurrence(now, household.timezone, schedule.weekdays, schedule.local_time)
    if not claim_row(
        session,
        update(CheckinSchedule)
        .where(col(CheckinSchedule.household_id) == household_id, col(CheckinSchedule.next_due_at) == due)
        .values(next_due_at=following, updated_at=now),
    ):
        return 0  # another worker took it
    if held_until is not None:
        log.info("check-in for household %s held until the quiet hours end", household.code)
        _record_skip(session, household_id, CheckinSkip.QUIET_HOURS, due, now, until=held_until)
        return 0
    reason = _skip_reason(session, household, due, now)
    if reason is not None:
        log.info("check-in for household %s skipped: %s", household.code, reason.value)
        _record_skip(session, household_id, reason, due, now)
        return 0
    placed = 0
    residents = session.exec(
        select(Resident).where(Resident.household_id == household_id).order_by(col(Resident.id))
    ).all()
    for resident in residents:
        if not resident.phone or resident.id is None:
            continue
        if calls_today(session, household, now) >= policy.limits.calls_per_household_per_day:
            log.warning(
                "check-in for household %s: daily call limit reached, resident %s skipped to the next slot",
                household.code,
                resident.id,
            )
            _record_skip(session, household_id, CheckinSkip.CALL_LIMIT, due, now)
            continue
        attempt = new_call(
            purpose=CallPurpose.CHECKIN,
            household_id=household_id,
            kind=RecipientKind.RESIDENT,
            recipient_id=resident.id,
            number=resident.phone,
            language=resident.language,
            key=f"{KEY_PREFIX}{household_id}:{due.isoformat()}:{resident.id}",
            case=None,
            now=now,
        )
        session.add(attempt)
        session.flush()
        assert attempt.id is not None
        session.add(
            CheckinCall(
                household_id=household_id, call_attempt_id=attempt.id, scheduled_for=due, created_at=now
            )
        )
        placed += 1
    log.info("check-in for household %s: %s call(s) queued", household.code, placed)
    return placed


def _skip_reason(session: Session, household: Household, due: datetime, now: datetime) -> CheckinSkip | None:
    if now - due > LATE_LIMIT:
        return CheckinSkip.TOO_LATE
    if household.monitoring == MonitoringState.PAUSED:
        return CheckinSkip.PAUSED
    active = session.exec(
        select(Case.id).where(Case.household_id == household.id, col(Case.status).in_(ACTIVE_CASE_STATUSES))
    ).first()
    return CheckinSkip.ACTIVE_CASE if active is not None else None


def _record_skip(
    session: Session,
    household_id: int,
    reason: CheckinSkip,
    slot: datetime,
    now: datetime,
    *,
    until: datetime | None = None,
) -> None:
    """Keep the latest skip or hold on the schedule for the household page. A plain UPDATE in the
    claiming transaction: the ORM object is stale after the claim, and only these columns change."""
    session.execute(
        update(CheckinSchedule)
        .where(col(CheckinSchedule.household_id) == household_id)
        .values(last_skip_at=now, last_skip_slot=slot, last_skip_reason=reason, last_skip_until=until)
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- answers and summaries


def record_answer(
    session: Session, attempt: CallAttempt, topic: str, answer: Answer, *, kind: str, excerpt: str
) -> dict[str, Any]:
    """Store one answer on the call's ``CheckinCall`` row; returns all answers so far."""
    row = session.exec(select(CheckinCall).where(CheckinCall.call_attempt_id == attempt.id)).first()
    if row is None:  # should not happen; keep the answer on the transcript only
        log.warning("call attempt %s is a check-in without a CheckinCall row", attempt.id)
        return {topic: {"answer": answer}}
    answers = dict(row.answers)
    answers[topic] = {"answer": answer, "input": kind, "excerpt": excerpt[:200]}
    row.answers = answers  # a new dict, so the JSON column is written
    session.add(row)
    return answers


@dataclass(frozen=True)
class CheckinSummary:
    """One check-in call as the household page shows it."""

    id: int
    scheduled_for: datetime
    call_status: CallStatus
    outcome: CallOutcome | None
    answers: dict[str, str]  # topic -> ok / concern / emergency / unclear
    flags: list[str]
    summary: str


def recent_checkins(
    session: Session,
    household_id: int,
    *,
    language: Language = Language.KO,
    limit: int = 5,
    offset: int = 0,
) -> list[CheckinSummary]:
    """The household's latest check-in calls, newest first (for the household page and its API)."""
    rows = session.exec(
        select(CheckinCall, CallAttempt)
        .join(CallAttempt, col(CallAttempt.id) == col(CheckinCall.call_attempt_id))
        .where(CheckinCall.household_id == household_id)
        .order_by(col(CheckinCall.scheduled_for).desc(), col(CheckinCall.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    found = []
    for checkin, attempt in rows:
        assert checkin.id is not None
        answers = checkin.answers or {}
        found.append(
            CheckinSummary(
                id=checkin.id,
                scheduled_for=checkin.scheduled_for,
                call_status=attempt.status,
                outcome=attempt.outcome,
                answers={topic: str(a.get("answer")) for topic, a in answers.items() if isinstance(a, dict)},
                flags=flags(answers),
                summary=summary_text(answers, attempt.outcome, language),
            )
        )
    return found
