"""A household's watch, its rules in one place: the sign of life, the deadline, the stage, the away
pause and the data gap — and the only code that writes a watch's deadline (``Watch.alert_after``
and its explanation).

Everything that moves a deadline comes here: the gateway's bulk path for a batch's signs of life
(:func:`record_activities`, raw DB-API rows for speed) and for a data gap (:func:`count_data_gap`),
the house going on or back to base and the nightly refit (:func:`rearm`), the sweeper
(:func:`update_watch`, :func:`flip_overdue_many` for a batch, :func:`rearm`). Each computes the
deadline with :func:`deadline_for`, so a deadline is the same whoever computes it, live or
(through ``anomaly.deadlines``) in replay. Races are settled by conditional UPDATEs on the watch
row (principle 3). About 500 lines on purpose: being the one writer means the gateway's raw bulk
UPDATE, the sweeper's batched flip and the data-gap claim live here too, beside the rules they
apply.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, ScalarSelect, case, func, or_, tuple_, update
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, select

from anomaly.deadlines import (
    Deadline,
    SignOfLife,
    compute_deadline,
    data_gap_pause,
    format_local,
    latest_sign_of_life,
)
from anomaly.detector import DetectorParams
from anomaly.household_state import house_on_since, load_routine, plug_runs
from anomaly.ladder import LadderParams, ladder
from anomaly.routine import Routine
from core.bulk import (
    db_datetime,
    db_datetime_or_none,
    execute_many,
    fetch_all,
    from_db_datetime,
    insert_ignore,
    select_in_sql,
    table_of,
)
from core.db import claim_row
from core.enums import Language, MonitoringState, Severity, WatchStatus
from core.i18n import Catalogue
from core.models import Device, Household, Watch
from core.settings import Settings

log = logging.getLogger(__name__)

MESSAGES = Catalogue(Path(__file__).with_name("messages"))

# No reading from any device for longer than this is a data gap, not inactivity (replay's rule).
DATA_GAP = timedelta(seconds=DetectorParams().offline_after_s)
# Explanations are stored once, in the default (Korean) language, like the inactivity ones.
EXPLANATION_LANGUAGE = Language.KO


# --- pause (away mode) -----------------------------------------------------------------------


def is_paused(household: Household, now: datetime) -> bool:
    if household.monitoring != MonitoringState.PAUSED:
        return False
    return household.paused_until is None or household.paused_until > now


def away_ended_at(household: Household) -> datetime | None:
    """When the household's last away period ended, if monitoring has resumed since.

    An ended pause keeps its ``paused_until`` (now in the past) with monitoring active: that is
    the record of when the resident was expected back. A manual resume clears it.
    """
    if household.monitoring != MonitoringState.ACTIVE:
        return None
    return household.paused_until


def explain_away_ended(
    ended: datetime, last: SignOfLife | None, timezone: str, language: Language = EXPLANATION_LANGUAGE
) -> str:
    last_text = (
        format_local(last.at, timezone)
        if last is not None
        else MESSAGES.text("explain.away_never_active", language)
    )
    return MESSAGES.text(
        "explain.away_ended",
        language,
        ended_local=format_local(ended, timezone),
        last_local=last_text,
    )


# --- sign of life ----------------------------------------------------------------------------


def watch_sign_of_life(session: Session, watch: Watch) -> SignOfLife | None:
    """The watch's latest real sign of life: appliance activity (naming its appliance) or a check-in
    (the rule itself is ``core.localtime.latest_sign_of_life``; this reads the watch's row for it)."""
    appliance = None
    if watch.last_activity_device_id is not None:
        device = session.get(Device, watch.last_activity_device_id)
        appliance = device.appliance if device else None
    return latest_sign_of_life(watch.last_activity_at, watch.last_checkin_at, appliance)


def quiet_start(
    session: Session, watch: Watch, household: Household, *, from_away_end: bool = True
) -> tuple[SignOfLife | None, SignOfLife | None, timedelta]:
    """Where the quiet clock counts from: (start, the latest real sign of life, data-gap pause).

    After an away period, its end counts as the start of the quiet clock when nothing newer
    happened: the resident is presumed home then, and is watched (not called at once) from then.
    """
    last = watch_sign_of_life(session, watch)
    sign = last
    ended = away_ended_at(household) if from_away_end else None
    if ended is not None and (sign is None or sign.at < ended):
        sign = SignOfLife(at=ended, source="away_ended")
    paused = data_gap_pause(sign, watch.data_gap_after, watch.data_gap_s) if sign else timedelta(0)
    return sign, last, paused


# --- deadline and stage ----------------------------------------------------------------------


def deadline_for(
    session: Session,
    household_id: int,
    sign: SignOfLife,
    *,
    timezone: str,
    quiet_hours: float,
    paused: timedelta,
    routine: Routine | None,
    ladder_params: LadderParams | None = None,
    sticky_after: datetime | None = None,
    language: Language = EXPLANATION_LANGUAGE,
) -> Deadline:
    """The deadline from ``sign`` with the house's current state (on or at base, plugs on).

    ``sticky_after``: an overdue watch's sign of life; the house on-run or plug run that ended after
    it still counts (replay's case stays open when the lights or the TV go off; only a real sign of
    life ends it).
    """
    return compute_deadline(
        sign,
        quiet_hours=quiet_hours,
        timezone=timezone,
        routine=routine,
        ladder_params=ladder_params,
        paused=paused,
        on_since=house_on_since(session, household_id, sticky_after=sticky_after),
        runs=plug_runs(session, household_id, routine, sticky_after=sticky_after),
        language=language,
    )


def current_deadline(
    session: Session,
    watch: Watch,
    household: Household,
    settings: Settings,
    *,
    from_away_end: bool = True,
    routine: Routine | None = None,
    ladder_params: LadderParams | None = None,
    language: Language = EXPLANATION_LANGUAGE,
) -> Deadline | None:
    """Recompute the deadline from the latest sign of life (activity or check-in; see :func:`quiet_start`).

    ``routine``: the household's (default: the stored one). ``language``: of the explanation (the
    watch stores Korean; the household page and a new case want every language).
    """
    sign, last, paused = quiet_start(session, watch, household, from_away_end=from_away_end)
    if sign is None or household.id is None:
        return None
    deadline = deadline_for(
        session,
        household.id,
        sign,
        timezone=household.timezone,
        quiet_hours=household.quiet_hours or settings.inactivity_default_hours,
        paused=paused,
        routine=routine or load_routine(session, household.id),
        ladder_params=ladder_params,
        sticky_after=sign.at if watch.status == WatchStatus.OVERDUE else None,
        language=language,
    )
    if sign is last:
        return deadline
    resumed = sign.at

    def away(language: Language) -> str:
        return explain_away_ended(resumed, last, household.timezone, language)

    return replace(deadline, explanation=away(language), explain_in=away)


def current_stage(
    session: Session, watch: Watch | None, household: Household, now: datetime
) -> tuple[Severity, datetime] | None:
    """The severity ladder's stage now, and since when (for staff; nothing is sent for it).

    Watch (관찰) and warning (주의) exist only with a learned routine; an overdue watch is at
    alert (its case says whether it was raised to critical). None while away or within the routine.
    """
    if watch is None or household.id is None or is_paused(household, now):
        return None
    if watch.status == WatchStatus.OVERDUE:
        return (Severity.ALERT, watch.alert_after) if watch.alert_after is not None else None
    routine = load_routine(session, household.id)
    sign, _last, paused = quiet_start(session, watch, household)
    if routine is None or sign is None:
        return None
    on_since = house_on_since(session, household.id)
    stages = ladder(
        int((sign.at + paused).timestamp()),
        routine,
        on_since=None if on_since is None else int(on_since.timestamp()),
        runs=plug_runs(session, household.id, routine),
    )
    stage = stages.stage_at(int(now.timestamp()))
    if stage is None:
        return None
    return stage, datetime.fromtimestamp(stages.time_of(stage), UTC)


def held_by_what_was_left_on(session: Session, watch: Watch, household_id: int) -> bool:
    """With the house or a plug still on (or on until after the last sign of life), an overdue watch
    recovers only on a sign of life after its deadline: a refit that moves the house-on or long-on
    deadline later is not one (replay's case stays open until the next human event;
    docs/detection.md §3b, §3c)."""
    signs = [t for t in (watch.last_activity_at, watch.last_checkin_at) if t is not None]
    if not signs or watch.alert_after is None:
        return False
    last = max(signs)
    if last >= watch.alert_after:
        return False
    if house_on_since(session, household_id, sticky_after=last) is not None:
        return True
    return bool(plug_runs(session, household_id, load_routine(session, household_id), sticky_after=last))


# --- data gaps -------------------------------------------------------------------------------


def held_for_data_gap(alert_after: datetime, last_heard_at: datetime | None) -> bool:
    """The household's devices all went silent well before the deadline: no data is not inactivity.

    Silence is judged by when Anbu last heard a device (:func:`last_heard`), never by the time a
    device put on its readings: a plug whose clock fell back a day still reports.
    """
    return last_heard_at is not None and alert_after > last_heard_at + DATA_GAP


def last_heard(session: Session, household_ids: Iterable[int]) -> dict[int, datetime]:
    """When Anbu last heard any of each household's devices, by arrival (``Device.last_seen_at``).

    Households whose devices were never heard are absent.
    """
    return _latest_per_household(session, Device.last_seen_at, household_ids)


def last_heard_of(household_id: Mapped[int]) -> ScalarSelect[datetime]:
    """:func:`last_heard` as a correlated subquery on ``household_id``: for a query that reads
    many households, so their ids need not be sent back as a list (1,000 held households in
    the sweeper's due query were a 1,000-value ``IN``; a district's power cut makes more)."""
    return (
        select(func.max(col(Device.last_seen_at)))
        .where(col(Device.household_id) == household_id)
        .scalar_subquery()
    )


def last_readings(session: Session, household_ids: Iterable[int]) -> dict[int, datetime]:
    """Each household's latest reading from any of its devices, by the readings' own times.

    For counting a data gap once readings resume (``gateway/data_gaps.py``), as replay does; whether
    the household is silent *now* is :func:`last_heard`'s question.
    """
    return _latest_per_household(session, Device.last_reading_at, household_ids)


def _latest_per_household(
    session: Session, column: datetime | None, household_ids: Iterable[int]
) -> dict[int, datetime]:
    rows = session.exec(
        select(Device.household_id, func.max(column))
        .where(col(Device.household_id).in_(sorted(set(household_ids))))
        .group_by(col(Device.household_id))
    ).all()
    return {
        household_id: last for household_id, last in rows if household_id is not None and last is not None
    }


def count_data_gap(
    session: Session, household_id: int, last: datetime, resumed: datetime, settings: Settings
) -> float | None:
    """Add a gap in the household's readings (``last`` reading before, ``resumed`` the first after) to
    its watch and re-arm it; return the seconds counted (None: nothing to count, or counted already).

    Only a watch that is counting (UP): an overdue one already has its case, and a new one no
    sign of life to count from. Only the part of a gap after the sign of life counts (a check-in
    can come during a gap).

    Claimed with a conditional UPDATE (``data_gap_until`` = where the last counted gap ended):
    when a power cut ends, every plug of a household comes back at once, and with several
    gateways two of them can see the same gap; the second one's UPDATE (re-checked after the
    first commits) finds the gap already counted and changes nothing, so it is added once.
    """
    watch = session.get(Watch, household_id)
    household = session.get(Household, household_id)
    if watch is None or household is None or watch.status != WatchStatus.UP:
        return None
    sign, _last, _paused = quiet_start(session, watch, household)  # where the clock counts from
    if sign is None:
        return None
    start = max(last, sign.at)
    gap = (resumed - start).total_seconds()
    if gap <= DATA_GAP.total_seconds():
        return None
    if not claim_row(
        session,
        update(Watch)
        .where(
            col(Watch.household_id) == household_id,
            or_(col(Watch.data_gap_until).is_(None), col(Watch.data_gap_until) <= start),
        )
        .values(
            data_gap_s=case((col(Watch.data_gap_after) == sign.at, col(Watch.data_gap_s) + gap), else_=gap),
            data_gap_after=sign.at,
            data_gap_until=resumed,
        ),
    ):
        return None  # another gateway counted this gap
    session.refresh(watch)
    rearm(session, watch, household, settings)
    log.info(
        "household %s: readings resumed after %s without any; quiet clock held for it",
        household.code,
        timedelta(seconds=round(gap)),
    )
    return gap


# --- the writers of a watch's deadline -------------------------------------------------------


def update_watch(
    session: Session,
    watch: Watch,
    *,
    status: WatchStatus | None = None,
    alert_after: datetime | None = None,
    explanation: str | None = None,
    expect_status: WatchStatus | None = None,
) -> bool:
    """A conditional UPDATE of the watch (only while it is in ``expect_status``); False if it was not."""
    stmt = update(Watch).where(col(Watch.household_id) == watch.household_id)
    if expect_status is not None:
        stmt = stmt.where(col(Watch.status) == expect_status)
    values = _watch_values(status=status, alert_after=alert_after, explanation=explanation)
    if not claim_row(session, stmt.values(**values)):
        return False
    session.expire(watch)
    return True


@dataclass(frozen=True, slots=True)
class OverdueFlip:
    """A watch found past its deadline, for :func:`flip_overdue_many`."""

    watch: Watch
    expect_status: WatchStatus  # the flip is conditional on the status read
    explanation: str


def flip_overdue_many(session: Session, flips: Sequence[OverdueFlip]) -> set[int]:
    """:func:`update_watch` ``(status=OVERDUE, explanation=…, expect_status=…)`` for many watches in
    one conditional UPDATE (the sweeper's batch); returns the household ids of those flipped.

    Each watch flips only if still in the status read: another sweeper or the gateway may have got
    there first. The columns written are :func:`_watch_values`'s, as for one watch.
    """
    if not flips:
        return set()
    explanation = case({f.watch.household_id: f.explanation for f in flips}, value=col(Watch.household_id))
    won = set(
        session.execute(
            update(Watch)
            .where(
                tuple_(col(Watch.household_id), col(Watch.status)).in_(
                    [(f.watch.household_id, f.expect_status) for f in flips]
                )
            )
            .values(**_watch_values(status=WatchStatus.OVERDUE, explanation=explanation))
            .returning(col(Watch.household_id))
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    for f in flips:
        if f.watch.household_id in won:
            session.expire(f.watch)
    return won


def _watch_values(
    *,
    status: WatchStatus | None = None,
    alert_after: datetime | None = None,
    explanation: str | ColumnElement[str] | None = None,
) -> dict[str, object]:
    """The columns a status, deadline or explanation change writes (one place for both writers)."""
    values: dict[str, object] = {}
    if status is not None:
        # A new status starts a new episode: the sweeper's re-check marker (anomaly/recheck.py) is moot.
        values.update(status=status, checked_inputs=None, next_recheck_at=None)
    if alert_after is not None:
        values["alert_after"] = alert_after
    if explanation is not None:
        values["explanation"] = explanation
    return values


def rearm(
    session: Session,
    watch: Watch,
    household: Household,
    settings: Settings,
    *,
    routine: Routine | None = None,
    ladder_params: LadderParams | None = None,
) -> Deadline | None:
    """A new routine, a data gap, or the house or a plug going on or off, moves the deadline of a
    household that is being watched (not one already overdue), from where its quiet clock counts
    (:func:`quiet_start`, the same sign of life as the sweeper's)."""
    if watch.status != WatchStatus.UP:
        return None
    deadline = current_deadline(
        session, watch, household, settings, routine=routine, ladder_params=ladder_params
    )
    if deadline is not None:
        watch.alert_after, watch.explanation = deadline.alert_after, deadline.explanation
        session.add(watch)
    return deadline


@dataclass(frozen=True, slots=True)
class Activity:
    """A household's latest human switch-on of a gateway batch, as the bulk path passes it."""

    household_id: int
    timezone: str
    quiet_hours: float | None
    at: datetime
    device_id: int
    appliance: str
    routine: Routine | None


def record_activities(
    session: Session, activities: list[Activity], now: datetime, settings: Settings
) -> None:
    """Move each household's watch to its latest human ON edge: three statements for the whole batch.

    Raw DB-API statements with plain tuples: per-row parameter processing in SQLAlchemy cost more
    than the statements (docs/benchmarks.md). The deadline is :func:`deadline_for`'s, as everywhere.
    """
    if not activities:
        return
    table = table_of(Watch)
    dialect = session.get_bind().dialect.name
    connection = session.connection()
    ids = [a.household_id for a in activities]
    now_db = db_datetime(now, dialect)
    insert_ignore(
        connection,
        table,
        ("household_id", "status", "explanation", "updated_at"),
        ["household_id"],
        [(hid, WatchStatus.NEW.value, "", now_db) for hid in ids],
    )
    columns = ("household_id", "last_checkin_at", "data_gap_after", "data_gap_s")
    found = fetch_all(connection, select_in_sql(table, columns, "household_id", len(ids), dialect), ids)
    watches = {
        household_id: (from_db_datetime(checkin), from_db_datetime(gap_after), gap_s)
        for household_id, checkin, gap_after, gap_s in found
    }
    params = []
    for a in activities:
        checkin, gap_after, gap_s = watches.get(a.household_id, (None, None, 0.0))
        sign = latest_sign_of_life(a.at, checkin, a.appliance or None)
        assert sign is not None
        deadline = deadline_for(
            session,
            a.household_id,
            sign,
            timezone=a.timezone,
            quiet_hours=a.quiet_hours or settings.inactivity_default_hours,
            paused=data_gap_pause(sign, gap_after, gap_s),  # a newer check-in's gaps still count
            routine=a.routine,
        )
        at = db_datetime(a.at, dialect)
        params.append(
            (
                at,
                a.device_id,
                db_datetime_or_none(deadline.alert_after, dialect),
                deadline.explanation,
                now_db,
                a.household_id,
                at,
            )
        )
    # Conditional: last_activity_at only moves forward, even with another gateway racing us.
    execute_many(connection, _activity_update_sql(dialect), params)  # one round trip per batch


def _activity_update_sql(dialect: str) -> str:
    marker = "?" if dialect == "sqlite" else "%s"
    return (
        f"UPDATE {table_of(Watch).name} SET last_activity_at = {marker}, last_activity_device_id = {marker}, "
        f"alert_after = {marker}, explanation = {marker}, updated_at = {marker}, "
        f"status = CASE WHEN status = '{WatchStatus.NEW.value}' THEN '{WatchStatus.UP.value}' ELSE status END "
        f"WHERE household_id = {marker} AND (last_activity_at IS NULL OR last_activity_at < {marker})"
    )
