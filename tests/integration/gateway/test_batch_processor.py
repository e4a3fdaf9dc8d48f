"""Commit-then-ack: a database outage is waited out, a poison message is isolated, nothing is lost."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, func, select

from core.clock import ManualClock
from core.models import Reading, RejectedMessage
from core.settings import Settings
from gateway.batches import Backoff, BatchProcessor, Interrupted
from gateway.ingest import BatchResult, InboundMessage, ingest_batch

SETTINGS = Settings(_env_file=None)
FAST = Backoff(initial_s=0.001, max_s=0.002)


def _messages(clock: ManualClock, n: int, *, poison_at: int | None = None) -> list[InboundMessage]:
    now = clock.now()
    out = []
    for i in range(n):
        device = "poison" if i == poison_at else f"d{i}"
        body = json.dumps({"v": 1, "ts": now.timestamp() - i, "power_w": float(i)}).encode()
        out.append(InboundMessage(f"anbu/{device}/reading", body, now))
    return out


def _processor(
    engine: Engine, clock: ManualClock, ingest: Any, interrupt: threading.Event | None = None
) -> BatchProcessor[InboundMessage]:
    return BatchProcessor(
        engine,
        clock,
        SETTINGS,
        message_of=lambda m: m,
        interrupt=interrupt or threading.Event(),
        ingest=ingest,
        backoff=FAST,
    )


def _count(engine: Engine, model: type) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def _down() -> OperationalError:
    return OperationalError("INSERT ...", {}, Exception("server closed the connection"))


def test_database_outage_is_retried_and_acked_only_after_commit(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    failures = [_down(), _down()]
    committed: list[Sequence[InboundMessage]] = []

    def flaky(session: Session, messages: Sequence[InboundMessage], **kw: Any) -> BatchResult:
        if failures:
            assert committed == []  # nothing may be acknowledged while the batch is not stored
            raise failures.pop()
        return ingest_batch(session, messages, **kw)

    processor = _processor(sqlite_engine, clock, flaky)
    batch = _messages(clock, 5)
    result = processor.process(batch, committed.append)

    assert result.stored == 5
    assert committed == [batch]
    assert processor.db_retries == 2
    assert _count(sqlite_engine, Reading) == 5


def test_poison_message_is_isolated_and_kept_as_rejected(sqlite_engine: Engine, clock: ManualClock) -> None:
    def crashes_on_poison(session: Session, messages: Sequence[InboundMessage], **kw: Any) -> BatchResult:
        result = ingest_batch(session, messages, **kw)
        if any("poison" in m.topic for m in messages):
            raise ValueError("bug meets odd input")  # after writing: the rollback must undo it
        return result

    committed: list[Sequence[InboundMessage]] = []
    processor = _processor(sqlite_engine, clock, crashes_on_poison)
    batch = _messages(clock, 8, poison_at=5)
    result = processor.process(batch, committed.append)

    # Every message acknowledged exactly once, in arrival order.
    assert [m for run in committed for m in run] == batch
    assert (result.stored, result.rejected) == (7, 1)
    assert processor.poison_messages == 1
    assert _count(sqlite_engine, Reading) == 7
    with Session(sqlite_engine) as s:
        rejected = s.exec(select(RejectedMessage)).one()
    assert rejected.topic == "anbu/poison/reading"
    assert rejected.reason == "internal error while ingesting: ValueError"
    assert rejected.device_key == "native:poison"


def test_forced_shutdown_during_an_outage_acks_nothing(sqlite_engine: Engine, clock: ManualClock) -> None:
    def down(session: Session, messages: Sequence[InboundMessage], **kw: Any) -> BatchResult:
        raise _down()

    interrupt = threading.Event()
    interrupt.set()
    committed: list[Sequence[InboundMessage]] = []
    processor = _processor(sqlite_engine, clock, down, interrupt)
    with pytest.raises(Interrupted):
        processor.process(_messages(clock, 3), committed.append)
    assert committed == []
    assert _count(sqlite_engine, Reading) == 0


def test_one_off_integrity_race_passes_on_retry(sqlite_engine: Engine, clock: ManualClock) -> None:
    calls = []

    def races_once(session: Session, messages: Sequence[InboundMessage], **kw: Any) -> BatchResult:
        calls.append(len(messages))
        if len(calls) == 1:
            raise RuntimeError("duplicate key from a concurrent gateway")
        return ingest_batch(session, messages, **kw)

    committed: list[Sequence[InboundMessage]] = []
    result = _processor(sqlite_engine, clock, races_once).process(_messages(clock, 4), committed.append)
    assert calls == [4, 4]  # retried whole, not split
    assert result.stored == 4 and len(committed) == 1
