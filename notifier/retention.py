"""Forgetting what is no longer needed, kind by kind (docs/privacy.md says why each window).

The worker's hourly ``retention`` tick (:func:`tick`) runs every kind below, each with its own
``ANBU_RETENTION_*`` setting:

* raw readings (``reading``): deleted (on PostgreSQL whole days by dropping their partitions,
  core/reading_partitions.py);
* what the detector keeps of them (switch-ons ``activity_edge``, the house level's half hours
  ``house_bucket``, hourly coverage ``reading_hour``): deleted on their own, longer window;
* what residents said (call transcripts, speech excerpts, SMS replies, check-in answers' words):
  blanked once their case has been closed that long (never while it is open), or, for a call
  without a case, that long after the call;
* what we wrote and to which number (``notification.body``, ``to_address`` of texts and calls):
  blanked on the same rule;
* unusable MQTT payloads (``rejected_message``), gateway receipts (``message_receipt``), the
  audit log and inbound-text ids: deleted.

Every kind works in batches of ``batch_size`` rows, each in its own short transaction (the
webhooks and the gateway never wait behind a long lock), at most ``max_batches`` per kind and
tick; the rest waits for the next tick. Deletions walk the primary key from its low end: ids
grow with insertion, so the oldest rows are at the head and no time index is needed (a reading
index on time alone would cost every insert). A head batch holding no old row ends the walk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, or_, tuple_, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from core import reading_partitions
from core.clock import Clock
from core.db import session_scope
from core.enums import ACTIVE_CASE_STATUSES, TERMINAL_CALL_STATUSES, CaseStatus, OutboxStatus
from core.models import (
    ActivityEdge,
    AuditEntry,
    CallAttempt,
    Case,
    HouseBucket,
    InboundMessage,
    MessageReceipt,
    Notification,
    Reading,
    ReadingHour,
    RejectedMessage,
)
from core.settings import Settings
from notifier.redaction import remove_call_words, remove_case_words

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
MAX_BATCHES_PER_TICK = 50
# Cases are handled whole (their calls and events together): fewer per transaction.
CASE_BATCH_SIZE = 100
_CLOSED = (CaseStatus.CLEARED, CaseStatus.RESOLVED)
_UNSENT = (OutboxStatus.PENDING, OutboxStatus.SENDING)


@dataclass(frozen=True)
class Limits:
    batch_size: int = BATCH_SIZE
    max_batches: int = MAX_BATCHES_PER_TICK


def delete_oldest(engine: Engine, model: Any, time_column: Any, older_than: datetime, limits: Limits) -> int:
    """Delete rows of *model* whose *time_column* is before *older_than*, oldest ids first."""
    id_column = col(model.id)
    deleted = 0
    for _ in range(limits.max_batches):
        with session_scope(engine) as session:
            head = session.execute(
                select(id_column, time_column).order_by(id_column).limit(limits.batch_size)
            ).all()
            ids = [row_id for row_id, at in head if at < older_than]
            if ids:
                session.execute(
                    delete(model).where(id_column.in_(ids)).execution_options(synchronize_session=False)
                )
        deleted += len(ids)
        if not ids or len(head) < limits.batch_size:
            break
    return deleted


def prune_inbound_messages(
    engine: Engine,
    *,
    older_than: datetime,
    batch_size: int = BATCH_SIZE,
    max_batches: int = MAX_BATCHES_PER_TICK,
) -> int:
    """Delete ``inbound_message`` rows received before ``older_than``; returns how many."""
    limits = Limits(batch_size, max_batches)
    return delete_oldest(engine, InboundMessage, col(InboundMessage.received_at), older_than, limits)


def prune_readings(engine: Engine, *, older_than: datetime, limits: Limits = Limits()) -> int:
    """Raw readings by when we received them (our clock, in id order).

    On PostgreSQL whole days of readings go first, by dropping their partitions
    (core/reading_partitions.py: a day whose readings' *times* all lie before the cutoff); the
    batches then delete what is left by arrival, as on SQLite."""
    readings = 0
    try:
        _partitions, readings = reading_partitions.drop_old(engine, older_than)
    except SQLAlchemyError as exc:  # e.g. a worker without DDL rights: the batches still delete
        log.warning("could not drop old reading partitions (%s); deleting in batches", type(exc).__name__)
    return readings + delete_oldest(engine, Reading, col(Reading.received_at), older_than, limits)


def prune_summaries(engine: Engine, *, older_than: datetime, limits: Limits = Limits()) -> int:
    """What the detector keeps of readings, by its time: switch-ons, the house level's half hours
    (the routine fit reads four weeks) and hourly coverage (issue 15.3)."""
    edges = delete_oldest(engine, ActivityEdge, col(ActivityEdge.ts), older_than, limits)
    buckets = (col(HouseBucket.household_id), col(HouseBucket.start))
    hours = (col(ReadingHour.household_id), col(ReadingHour.hour))
    return (
        edges
        + _delete_by_key(engine, HouseBucket, buckets, col(HouseBucket.start), older_than, limits)
        + _delete_by_key(engine, ReadingHour, hours, col(ReadingHour.hour), older_than, limits)
    )


def _in_batches(engine: Engine, limits: Limits, size: int, step: Callable[[Session], int]) -> int:
    """Run *step* (one batch, returns its row count) in short transactions until a batch comes
    back short or ``max_batches`` ran."""
    done = 0
    for _ in range(limits.max_batches):
        with session_scope(engine) as session:
            count = step(session)
        done += count
        if count < size:
            break
    return done


def prune_receipts(engine: Engine, *, older_than: datetime, limits: Limits = Limits()) -> int:
    """``message_receipt`` has no id (65,535 rows per gateway client id at most): by time."""
    keys = (col(MessageReceipt.client_id), col(MessageReceipt.packet_id))
    return _delete_by_key(engine, MessageReceipt, keys, col(MessageReceipt.received_at), older_than, limits)


def _delete_by_key(
    engine: Engine, model: Any, keys: tuple[Any, ...], time_column: Any, older_than: datetime, limits: Limits
) -> int:
    """Delete rows of a table without an id whose *time_column* is before *older_than*, a batch of
    primary keys (*keys*) at a time."""
    key = tuple_(*keys)

    def step(session: Session) -> int:
        found = session.execute(select(*keys).where(time_column < older_than).limit(limits.batch_size)).all()
        if found:
            session.execute(
                delete(model)
                .where(key.in_([tuple(k) for k in found]))
                .execution_options(synchronize_session=False)
            )
        return len(found)

    return _in_batches(engine, limits, limits.batch_size, step)


def _closed_at() -> Any:
    return func.coalesce(col(Case.resolved_at), col(Case.cleared_at))


def _cases_still_needing(older_than: datetime) -> Any:
    """Ids of cases that still need their texts: active, or closed after *older_than*."""
    return select(col(Case.id)).where(
        or_(col(Case.status).in_(ACTIVE_CASE_STATUSES), _closed_at() >= older_than)
    )


def remove_transcripts(
    engine: Engine, *, older_than: datetime, now: datetime, limits: Limits = Limits()
) -> int:
    """Blank what residents said on cases closed before *older_than* and on older calls without
    a case; returns how many cases and calls were cleaned. Open cases keep everything."""
    case_batch = min(limits.batch_size, CASE_BATCH_SIZE)

    def closed_cases(session: Session) -> int:
        case_ids = session.exec(
            select(col(Case.id))
            .where(
                col(Case.status).in_(_CLOSED),
                col(Case.transcripts_removed_at).is_(None),
                _closed_at() < older_than,
            )
            .order_by(col(Case.id))
            .limit(case_batch)
        ).all()
        remove_case_words(session, [c for c in case_ids if c is not None], now)
        return len(case_ids)

    def calls_without_a_case(session: Session) -> int:
        call_ids = session.exec(
            select(col(CallAttempt.id))
            .where(
                col(CallAttempt.case_id).is_(None),
                col(CallAttempt.transcript) != "",
                col(CallAttempt.status).in_(TERMINAL_CALL_STATUSES),
                col(CallAttempt.created_at) < older_than,
            )
            .order_by(col(CallAttempt.id))
            .limit(limits.batch_size)
        ).all()
        remove_call_words(session, [c for c in call_ids if c is not None])
        return len(call_ids)

    cases = _in_batches(engine, limits, case_batch, closed_cases)
    return cases + _in_batches(engine, limits, limits.batch_size, calls_without_a_case)


def remove_messages(engine: Engine, *, older_than: datetime, limits: Limits = Limits()) -> int:
    """Blank texts we sent and the numbers texts and calls went to, once sent and older than
    *older_than*, unless their case still needs them (the "all clear" goes to the same numbers)."""
    busy = _cases_still_needing(older_than)
    tables: list[tuple[Any, list[Any], dict[str, str]]] = [
        (
            Notification,
            [
                col(Notification.status).not_in(_UNSENT),
                or_(col(Notification.body) != "", col(Notification.to_address) != ""),
                col(Notification.created_at) < older_than,
                or_(col(Notification.case_id).is_(None), col(Notification.case_id).not_in(busy)),
            ],
            {"body": "", "to_address": ""},
        ),
        (
            CallAttempt,
            [
                col(CallAttempt.status).in_(TERMINAL_CALL_STATUSES),
                col(CallAttempt.to_address) != "",
                col(CallAttempt.created_at) < older_than,
                or_(col(CallAttempt.case_id).is_(None), col(CallAttempt.case_id).not_in(busy)),
            ],
            {"to_address": ""},
        ),
    ]
    cleaned = 0
    for model, conditions, blanks in tables:

        def step(
            session: Session, model: Any = model, conditions: Any = conditions, blanks: Any = blanks
        ) -> int:
            ids = session.exec(
                select(col(model.id)).where(*conditions).order_by(col(model.id)).limit(limits.batch_size)
            ).all()
            if ids:
                session.execute(
                    update(model)
                    .where(col(model.id).in_(ids))
                    .values(**blanks)
                    .execution_options(synchronize_session=False)
                )
            return len(ids)

        cleaned += _in_batches(engine, limits, limits.batch_size, step)
    return cleaned


def receipts_cutoff(now: datetime, settings: Settings) -> datetime:
    """A broker redelivers only while it keeps our session: never forget a receipt sooner than
    twice its expiry, whatever the setting says."""
    days = timedelta(days=settings.retention_receipts_days)
    return now - max(days, timedelta(seconds=2 * settings.mqtt_session_expiry_s))


def tick(engine: Engine, clock: Clock, settings: Settings) -> dict[str, int]:
    """Apply every retention window once (the ``retention`` tick); returns counts per kind."""
    now = clock.now()
    limits = Limits(settings.retention_batch_rows, settings.retention_max_batches)

    def before(days: int) -> datetime:
        return now - timedelta(days=days)

    # Tomorrow's reading partitions exist long before tomorrow (PostgreSQL; no-op on SQLite).
    try:
        reading_partitions.maintain(engine, now)
    except SQLAlchemyError as exc:  # readings still land, in the default partition
        log.warning("could not make reading partitions ahead (%s)", type(exc).__name__)
    done = {
        "inbound_messages": prune_inbound_messages(
            engine,
            older_than=before(settings.inbound_message_retention_days),
            batch_size=limits.batch_size,
            max_batches=limits.max_batches,
        ),
        "readings": prune_readings(
            engine, older_than=before(settings.retention_readings_days), limits=limits
        ),
        "summaries": prune_summaries(
            engine, older_than=before(settings.retention_summaries_days), limits=limits
        ),
        "transcripts": remove_transcripts(
            engine, older_than=before(settings.retention_transcripts_days), now=now, limits=limits
        ),
        "messages": remove_messages(
            engine, older_than=before(settings.retention_messages_days), limits=limits
        ),
        "rejected": delete_oldest(
            engine,
            RejectedMessage,
            col(RejectedMessage.received_at),
            before(settings.retention_rejected_days),
            limits,
        ),
        "receipts": prune_receipts(engine, older_than=receipts_cutoff(now, settings), limits=limits),
        "audit": delete_oldest(
            engine, AuditEntry, col(AuditEntry.at), before(settings.retention_audit_days), limits
        ),
    }
    if any(done.values()):
        log.info("retention: %s", ", ".join(f"{kind} {n}" for kind, n in done.items() if n))
    return done
