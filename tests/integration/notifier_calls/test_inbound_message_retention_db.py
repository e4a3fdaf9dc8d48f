"""Old ``inbound_message`` rows (MessageSid dedupe) are pruned, in bounded batches (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.clock import ManualClock
from core.db import session_scope
from core.models import InboundMessage
from core.settings import Settings
from notifier import retention, sms


def _add(engine: Engine, clock: ManualClock, *ages_days: float) -> None:
    with session_scope(engine) as s:
        for i, age in enumerate(ages_days):
            received = clock.now() - timedelta(days=age)
            s.add(InboundMessage(message_sid=f"SM{age:08.3f}-{i}", received_at=received))


def _sids(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return list(s.exec(select(InboundMessage.message_sid).order_by(col(InboundMessage.id))).all())


def test_the_tick_deletes_ids_older_than_the_retention_window_only(
    engine: Engine, clock: ManualClock
) -> None:
    _add(engine, clock, 400, 31, 30.01, 29.99, 1, 0)
    settings = Settings(_env_file=None)
    assert settings.inbound_message_retention_days == 30
    assert retention.tick(engine, clock, settings)["inbound_messages"] == 3
    assert [sid.split("-")[0] for sid in _sids(engine)] == ["SM0029.990", "SM0001.000", "SM0000.000"]
    assert retention.tick(engine, clock, settings)["inbound_messages"] == 0  # nothing more to do


def test_the_window_is_a_setting(engine: Engine, clock: ManualClock) -> None:
    _add(engine, clock, 8, 6)
    assert (
        retention.tick(engine, clock, Settings(_env_file=None, inbound_message_retention_days=7))[
            "inbound_messages"
        ]
        == 1
    )
    assert len(_sids(engine)) == 1


def test_deletes_in_batches_and_leaves_the_rest_to_the_next_tick(engine: Engine, clock: ManualClock) -> None:
    _add(engine, clock, *([40.0] * 7), 1)
    cutoff = clock.now() - timedelta(days=30)
    assert retention.prune_inbound_messages(engine, older_than=cutoff, batch_size=2, max_batches=2) == 4
    assert len(_sids(engine)) == 4
    assert retention.prune_inbound_messages(engine, older_than=cutoff, batch_size=2, max_batches=10) == 3
    assert len(_sids(engine)) == 1


def test_a_repeated_delivery_within_the_window_is_still_recognised(
    engine: Engine, clock: ManualClock
) -> None:
    with session_scope(engine) as s:
        assert sms.first_delivery(s, "SMrecent", clock.now())
    clock.advance(timedelta(days=2))
    retention.tick(engine, clock, Settings(_env_file=None))
    with session_scope(engine) as s:
        assert not sms.first_delivery(s, "SMrecent", clock.now())


def test_the_worker_runs_the_retention_tick(
    sqlite_engine: Engine, clock: ManualClock, tmp_path: Path
) -> None:
    from anbu.runtime import RETENTION_TICK_S, Running, start_ticks

    running = Running()
    settings = Settings(_env_file=None, transport="console", data_dir=tmp_path)
    runner = start_ticks(settings, sqlite_engine, clock, running)
    try:
        intervals = {tick.name: tick.interval_s for tick in runner.ticks}
        assert intervals["retention"] == RETENTION_TICK_S
        assert runner.scheduler.get_job("retention") is not None
    finally:
        running.stop()
