"""The end of an away period (``Household.paused_until`` has passed), run first in each sweeper tick.

Monitoring resumes with the end of the away period counted as the starting point of the quiet
clock (so nobody is called the minute it ends, nor left unwatched), and when the resident shows
no sign of being back, staff get an ``away_ended`` reminder case (staff only, never a resident
call), cleared once a sign of life comes or staff pause again. See ``docs/detection.md``, "Away
mode".
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from anomaly.deadlines import format_local, latest_sign_of_life
from anomaly.watch import MESSAGES, current_deadline, explain_away_ended, update_watch
from core.db import claim_row, session_scope
from core.enums import (
    ACTIVE_CASE_STATUSES,
    CaseKind,
    CaseStatus,
    Language,
    MonitoringState,
    Severity,
    WatchStatus,
)
from core.i18n import in_every_language
from core.models import Case, Household, Watch
from core.settings import Settings
from notifier import lifecycle
from notifier.policy import snapshot_for_household

log = logging.getLogger(__name__)

# A sign of life this close before the end of an away period means the resident is back
# (home the evening before): no reminder. Longer ago, they may not be back yet.
AWAY_LOOKBACK = timedelta(hours=24)


def end_pauses(engine: Engine, now: datetime, settings: Settings) -> tuple[int, int]:
    """End every away period that is over; returns (pauses ended, reminder cases opened)."""
    with session_scope(engine) as session:
        ended = session.exec(
            select(Household.id).where(
                Household.monitoring == MonitoringState.PAUSED,
                col(Household.paused_until).is_not(None),
                col(Household.paused_until) <= now,
            )
        ).all()
    pauses = reminders = 0
    for household_id in ended:
        assert household_id is not None
        with session_scope(engine) as session:
            pause_ended, reminded = end_pause(session, household_id, now, settings)
        pauses += pause_ended
        reminders += reminded
    return pauses, reminders


def end_pause(session: Session, household_id: int, now: datetime, settings: Settings) -> tuple[bool, bool]:
    """Resume monitoring after an away period; remind staff if the resident does not seem back.
    Returns (this call ended the pause, it opened a reminder case).

    The conditional UPDATE is the claim: of several sweepers only the one that flips
    ``monitoring`` acts, so the reminder fires once per away period.
    """
    household = session.get(Household, household_id)
    if household is None or household.monitoring != MonitoringState.PAUSED or household.paused_until is None:
        return False, False
    ended = household.paused_until
    if ended > now:
        return False, False
    if not claim_row(
        session,
        update(Household)
        .where(
            col(Household.id) == household_id,
            col(Household.monitoring) == MonitoringState.PAUSED,
            col(Household.paused_until) == ended,
        )
        .values(monitoring=MonitoringState.ACTIVE),
    ):
        return False, False
    session.expire(household)
    watch = session.get(Watch, household_id)
    sign = latest_sign_of_life(watch.last_activity_at, watch.last_checkin_at, None) if watch else None
    deadline = current_deadline(session, watch, household, settings) if watch is not None else None
    if watch is not None and deadline is not None and watch.status != WatchStatus.OVERDUE:
        # Re-arm from the end of the away period (a NEW watch without any activity included).
        update_watch(session, watch, alert_after=deadline.alert_after, explanation=deadline.explanation)
    if sign is not None and sign.at >= ended - AWAY_LOOKBACK:
        log.info("away period of household %s ended; activity seen, monitoring resumed", household.code)
        return True, False

    def explanation(language: Language) -> str:
        text = explain_away_ended(ended, sign, household.timezone, language)
        if deadline is None:
            return text
        return (
            text
            + " "
            + MESSAGES.text(
                "explain.away_watch_from",
                language,
                alert_local=format_local(deadline.alert_after, household.timezone),
            )
        )

    case, opened = lifecycle.open_or_redetect(
        session,
        household_id=household_id,
        kind=CaseKind.AWAY_ENDED,
        severity=Severity.WARNING,
        explanation=in_every_language(explanation),
        policy_snapshot=snapshot_for_household(session, household_id),
        now=now,
    )
    if opened:
        log.info(
            "away period of household %s ended without activity: reminder case %s", household.code, case.id
        )
    return True, opened


def clear_away_reminders(engine: Engine, now: datetime) -> int:
    """An away reminder is over once the resident shows a sign of life, or staff pause again;
    returns how many were cleared."""
    with session_scope(engine) as session:
        rows = session.exec(
            select(Case, Household, Watch)
            .join(Household, col(Household.id) == Case.household_id)
            .join(Watch, col(Watch.household_id) == Case.household_id, isouter=True)
            .where(Case.kind == CaseKind.AWAY_ENDED, col(Case.status).in_(ACTIVE_CASE_STATUSES))
        ).all()
        ids: list[tuple[int, str]] = []
        for case, household, watch in rows:
            sign = latest_sign_of_life(watch.last_activity_at, watch.last_checkin_at, None) if watch else None
            if household.monitoring == MonitoringState.PAUSED:
                reason = "paused_again"
            elif sign is not None and sign.at >= case.opened_at:
                reason = "activity_resumed"
            else:
                continue
            assert case.id is not None
            ids.append((case.id, reason))
    cleared = 0
    for case_id, reason in ids:
        with session_scope(engine) as session:
            reminder = session.get(Case, case_id)
            if reminder is None or reminder.status != CaseStatus.OPEN:
                # Acknowledged: the person who took it decides when it is over.
                continue
            lifecycle.clear(session, reminder, reason=reason, now=now)
            cleared += 1
    return cleared
