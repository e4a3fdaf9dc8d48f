"""Erasing a resident's personal data at their request (PIPA art. 36, GDPR art. 17).

What goes: the resident's name, phone and birth year; their calls' transcripts and numbers and
their texts; and, when no other resident lives there, everything else about the household —
its address, its contacts' names and numbers, every reading and switch-on of its plugs, its
learned routine, what anyone said or wrote on its cases, the texts sent about it. What stays
(de-identified, by id): the household row with its code and team, its cases with their kind,
severity, timings and outcome, each call's and text's status and outcome — the statistics of a
programme — and the audit log, which gains who erased which household (or resident, when
others live there) and when: ids only.

The household is never watched again (paused with no end, ``erased_at`` set); its plugs are
detached (pending), so an operator can collect them and assign them elsewhere. While a case of
the household is open, erasure is refused: erasing under a live alarm would stop calls a person
may need. ``force`` resolves those cases first (resolution ``other``). Erasing again is a no-op.

Readings are deleted in bounded batches before the one short transaction that does the rest,
so a year of readings never holds a long lock; a run that stops half-way can simply be repeated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, and_, delete, or_, update
from sqlmodel import Session, col, select

from core.db import session_scope
from core.enums import (
    ACTIVE_CASE_STATUSES,
    AuditAction,
    AuditObject,
    CallStatus,
    DeviceStatus,
    MonitoringState,
    OutboxStatus,
    RecipientKind,
    ResolutionCode,
    Role,
)
from core.models import (
    ActivityEdge,
    AuditEntry,
    CallAttempt,
    Case,
    CaseEvent,
    ChannelState,
    CheckinSchedule,
    Contact,
    Device,
    HouseBucket,
    Household,
    HouseState,
    Notification,
    Reading,
    ReadingHour,
    ReadingRollup,
    RejectedMessage,
    Resident,
    RoutineModel,
    Watch,
)
from notifier import lifecycle
from notifier.redaction import remove_call_words, remove_case_words, scrub_event

BATCH_SIZE = 5000


class ErasureRefused(Exception):
    """The erasure was not done; the message says why (no such resident, an open case)."""

    def __init__(self, message: str, *, open_case_ids: list[int] | None = None) -> None:
        super().__init__(message)
        self.open_case_ids = open_case_ids or []


@dataclass(frozen=True)
class Actor:
    """Who asked, for the audit log: a dashboard user, or the console (``anbu``)."""

    user_id: int
    role: Role
    client: str

    @property
    def name(self) -> str:
        return f"erasure:{self.user_id}"


@dataclass
class Erasure:
    resident_id: int
    household_id: int
    household_erased: bool  # the whole household (no other resident lives there)
    already: bool = False  # nothing was left to erase
    cases_resolved: list[int] = field(default_factory=list)
    readings_deleted: int = 0


def erase_resident(
    engine: Engine, resident_id: int, *, actor: Actor, now: datetime, force: bool = False
) -> Erasure:
    """Erase *resident_id*'s personal data (and the household's, if they are its last resident).

    Readings go first in batches of their own; then :func:`erase_in` does the rest in one
    transaction (and deletes what readings arrived meanwhile).
    """
    with Session(engine) as session:
        plan = _plan(session, resident_id, force=force)
        device_ids = _device_ids(session, plan.household_id) if plan.household_erased else []
    if plan.already:
        return plan
    deleted = _delete_readings(engine, plan.household_id, device_ids) if plan.household_erased else 0
    with session_scope(engine) as session:
        result = erase_in(session, resident_id, actor=actor, now=now, force=force)
    result.readings_deleted += deleted
    return result


def erase_in(
    session: Session, resident_id: int, *, actor: Actor, now: datetime, force: bool = False
) -> Erasure:
    """The erasure in the caller's transaction (the API's request), audit entry included."""
    result = _plan(session, resident_id, force=force)
    if result.already:
        return result
    device_ids = _device_ids(session, result.household_id) if result.household_erased else []
    result.cases_resolved = _resolve_open_cases(session, result.household_id, actor, now) if force else []
    _erase_resident_row(session, resident_id, now)
    if result.household_erased:
        result.readings_deleted = _delete_readings_in(session, result.household_id, device_ids)
        _erase_household(session, result.household_id, now)
    # One entry, ids only: the household when it was erased whole (its resident row still
    # names it), else the resident alone.
    if result.household_erased:
        _record(session, actor, now, AuditObject.HOUSEHOLD, result.household_id)
    else:
        _record(session, actor, now, AuditObject.RESIDENT, resident_id)
    session.flush()
    return result


def _plan(session: Session, resident_id: int, *, force: bool) -> Erasure:
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise ErasureRefused(f"no resident with id {resident_id}")
    household = session.get(Household, resident.household_id)
    assert household is not None and household.id is not None
    others = session.exec(
        select(Resident.id).where(
            Resident.household_id == household.id,
            col(Resident.id) != resident_id,
            col(Resident.erased_at).is_(None),
        )
    ).all()
    whole = not others
    already = resident.erased_at is not None and (not whole or household.erased_at is not None)
    result = Erasure(resident_id, household.id, household_erased=whole, already=already)
    if already:
        return result
    open_ids = [
        c
        for c in session.exec(
            select(Case.id).where(
                Case.household_id == household.id, col(Case.status).in_(ACTIVE_CASE_STATUSES)
            )
        ).all()
        if c is not None
    ]
    if open_ids and not force:
        raise ErasureRefused(
            f"household {household.id} has {len(open_ids)} open case(s) ({', '.join(map(str, open_ids))}): "
            "resolve them first, or force the erasure (which resolves them)",
            open_case_ids=open_ids,
        )
    return result


def _device_ids(session: Session, household_id: int) -> list[int]:
    ids = session.exec(select(Device.id).where(Device.household_id == household_id)).all()
    return [i for i in ids if i is not None]


def _delete_readings(engine: Engine, household_id: int, device_ids: list[int]) -> int:
    """Most readings and switch-ons, batch by batch, each its own transaction."""
    deleted = 0
    while True:
        with session_scope(engine) as session:
            count = _delete_readings_in(session, household_id, device_ids, limit=BATCH_SIZE)
        deleted += count
        if count == 0:
            return deleted


def _delete_readings_in(
    session: Session, household_id: int, device_ids: list[int], limit: int | None = None
) -> int:
    deleted = 0
    for model, where in (
        (Reading, col(Reading.device_id).in_(device_ids)),
        (ActivityEdge, col(ActivityEdge.household_id) == household_id),
        (RejectedMessage, col(RejectedMessage.device_id).in_(device_ids)),
    ):
        ids = select(col(model.id)).where(where)
        if limit is not None:
            ids = ids.limit(limit)
        batch = [i for i in session.exec(ids).all() if i is not None]
        if batch:
            session.execute(
                delete(model).where(col(model.id).in_(batch)).execution_options(synchronize_session=False)
            )
        deleted += len(batch)
    return deleted


def _resolve_open_cases(session: Session, household_id: int, actor: Actor, now: datetime) -> list[int]:
    cases = session.exec(
        select(Case).where(Case.household_id == household_id, col(Case.status).in_(ACTIVE_CASE_STATUSES))
    ).all()
    for case in cases:
        lifecycle.resolve(session, case, actor=actor.name, code=ResolutionCode.OTHER, note=None, now=now)
    return [c.id for c in cases if c.id is not None]


def _erase_resident_row(session: Session, resident_id: int, now: datetime) -> None:
    resident = session.get(Resident, resident_id)
    assert resident is not None
    # Their calls and texts: addressed to them, or to their number (an inbound call has no recipient).
    theirs = and_(
        col(CallAttempt.recipient_kind) == RecipientKind.RESIDENT,
        col(CallAttempt.recipient_id) == resident_id,
    )
    by_number = [col(CallAttempt.to_address) == resident.phone] if resident.phone else []
    calls = session.exec(select(CallAttempt.id).where(or_(theirs, *by_number))).all()
    _blank_calls(session, [c for c in calls if c is not None])
    if resident.phone:
        session.execute(
            update(Notification)
            .where(col(Notification.to_address) == resident.phone)
            .values(body="", to_address="")
            .execution_options(synchronize_session=False)
        )
    resident.name, resident.phone, resident.birth_year, resident.erased_at = "", None, None, now
    session.add(resident)
    # Their texts on any case (a resident's SMS reply is a note by "resident:<id>").
    for event in session.exec(select(CaseEvent).where(CaseEvent.actor == f"resident:{resident_id}")):
        scrub_event(event, everything=True)


def _blank_calls(session: Session, call_ids: list[int]) -> None:
    remove_call_words(session, call_ids)
    if call_ids:
        session.execute(
            update(CallAttempt)
            .where(col(CallAttempt.id).in_(call_ids))
            .values(to_address="")
            .execution_options(synchronize_session=False)
        )


def _erase_household(session: Session, household_id: int, now: datetime) -> None:
    household = session.get(Household, household_id)
    assert household is not None
    household.address, household.erased_at = "", now
    household.monitoring, household.paused_until = MonitoringState.PAUSED, None  # paused for good
    session.add(household)
    for contact in session.exec(select(Contact).where(Contact.household_id == household_id)):
        contact.name, contact.relation, contact.address_as = "", "", ""
        contact.phone, contact.opted_out = "", True
        session.add(contact)
    # Calls and texts: words and numbers go; unsent ones are cancelled (nobody is there to call).
    calls = [
        c for c in session.exec(select(CallAttempt.id).where(CallAttempt.household_id == household_id)) if c
    ]
    _blank_calls(session, calls)
    for model, pending, cancelled in (
        (CallAttempt, CallStatus.PENDING, CallStatus.CANCELLED),
        (Notification, OutboxStatus.PENDING, OutboxStatus.CANCELLED),
    ):
        session.execute(
            update(model)
            .where(col(model.household_id) == household_id, col(model.status) == pending)
            .values(status=cancelled)
            .execution_options(synchronize_session=False)
        )
    session.execute(
        update(Notification)
        .where(col(Notification.household_id) == household_id)
        .values(body="", to_address="")
        .execution_options(synchronize_session=False)
    )
    cases = session.exec(select(Case).where(Case.household_id == household_id)).all()
    for case in cases:
        # Generated from their routine ("no kettle since 07:12") or written by staff: about them.
        case.explanation, case.explanation_texts, case.resolution_note = "", None, None
        session.add(case)
    remove_case_words(session, [c.id for c in cases if c.id is not None], now, everything=True)
    schedule = session.get(CheckinSchedule, household_id)
    if schedule is not None:
        schedule.active, schedule.next_due_at = False, None
        session.add(schedule)
    watch = session.get(Watch, household_id)
    if watch is not None:
        watch.last_activity_at = watch.last_checkin_at = watch.alert_after = None
        watch.last_activity_device_id = None
        watch.data_gap_after = watch.data_gap_until = None
        watch.checked_inputs, watch.next_recheck_at = None, None  # the sweeper's re-check marker
        watch.explanation, watch.updated_at = "", now
        session.add(watch)
    routine = session.get(RoutineModel, household_id)
    if routine is not None:
        session.delete(routine)
    # The house level (anomaly/house_level.py) and the hourly coverage (anomaly/rollup.py): both
    # are summaries of this household's readings, and the roll-up's state says when it began.
    for summary in (HouseBucket, ReadingHour, ReadingRollup):
        session.execute(delete(summary).where(col(summary.household_id) == household_id))
    session.execute(delete(HouseState).where(col(HouseState.household_id) == household_id))
    for device in session.exec(select(Device).where(Device.household_id == household_id)):
        session.execute(delete(ChannelState).where(col(ChannelState.device_id) == device.id))
        device.household_id, device.status, device.appliance = None, DeviceStatus.PENDING, ""
        device.last_power_w = device.last_reading_at = None
        session.add(device)


def _record(session: Session, actor: Actor, now: datetime, object_type: AuditObject, object_id: int) -> None:
    session.add(
        AuditEntry(
            at=now,
            user_id=actor.user_id,
            role=actor.role,
            action=AuditAction.ERASE,
            object_type=object_type,
            object_id=object_id,
            client=actor.client,
        )
    )
