"""Floods (issue 12.6, gateway/flood.py): the pending-device cap and per-device message rates,
through ingest (both dialects) and through the gateway's batch processor.

Before, both were documented but not built: every unknown device became a row, and a device
could send as fast as the broker let it, each message a write.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import DeviceStatus
from core.models import Device, Reading, RejectedMessage
from core.settings import Settings
from gateway.batches import BatchProcessor
from gateway.ingest import InboundMessage, ingest_batch
from tests.factories import load_all, make_device
from tests.integration.gateway.test_ingest_batch import native, run


def test_past_the_pending_cap_unknown_devices_are_not_created_and_say_why(
    engine: Engine, clock: ManualClock
) -> None:
    settings = Settings(_env_file=None, pending_devices_max=3)
    now = clock.now()
    with session_scope(engine) as s:
        make_device(s, household=None, external_id="waiting")  # one already pending
    messages = [native(f"fake{n}", now - timedelta(seconds=n + 1), 5.0, received=now) for n in range(5)]
    result = run(engine, messages, now, settings)
    assert (result.pending_devices_created, result.pending_refused, result.stored) == (2, 3, 2)
    with Session(engine) as s:
        pending = s.exec(select(Device.external_id).where(Device.status == DeviceStatus.PENDING)).all()
    assert sorted(pending) == ["fake0", "fake1", "waiting"]
    refused = load_all(engine, RejectedMessage)
    assert [r.topic for r in refused] == ["anbu/fake2/reading", "anbu/fake3/reading", "anbu/fake4/reading"]
    assert all("pending device limit reached (3" in r.reason for r in refused)
    # A device already known is never refused, at the cap or not.
    again = run(engine, [native("fake0", now, 7.0, received=now)], now, settings)
    assert (again.stored, again.pending_refused) == (1, 0)


def test_over_rate_messages_are_not_stored_and_the_first_of_each_device_says_why(
    engine: Engine, clock: ManualClock
) -> None:
    settings = Settings(_env_file=None, device_rate_per_min=2, device_rate_burst=3)
    now = clock.now()
    messages = [
        native("quiet", now - timedelta(seconds=40), 3.0, received=now),
        *(native("chatty", now - timedelta(seconds=30 - n), 10.0 + n, received=now) for n in range(6)),
        native("loud", now - timedelta(seconds=20), 9.0, received=now),
    ]
    with session_scope(engine) as session:
        result = ingest_batch(
            session, messages, now=now, settings=settings, over_rate=frozenset({4, 5, 6, 7})
        )
    assert (result.stored, result.rate_limited, result.rejected) == (4, 4, 2)
    kept = {r.topic: r.reason for r in load_all(engine, RejectedMessage)}
    assert set(kept) == {"anbu/chatty/reading", "anbu/loud/reading"}
    assert "(limit 2/min, burst 3): 3 message(s)" in kept["anbu/chatty/reading"]
    assert "1 message(s)" in kept["anbu/loud/reading"]


def _processor(engine: Engine, clock: ManualClock, settings: Settings) -> BatchProcessor[InboundMessage]:
    return BatchProcessor(engine, clock, settings, message_of=lambda m: m, interrupt=threading.Event())


def test_a_device_over_its_rate_is_cut_to_its_budget_others_untouched(
    engine: Engine, clock: ManualClock
) -> None:
    settings = Settings(_env_file=None, device_rate_per_min=1, device_rate_burst=5)
    processor = _processor(engine, clock, settings)
    now = clock.now()
    start = now - timedelta(minutes=30)
    chatty = [native("chatty", start + timedelta(seconds=n), float(n), received=now) for n in range(40)]
    quiet = [native("quiet", start + timedelta(seconds=n), 3.0, received=now) for n in range(3)]
    acked: list[InboundMessage] = []

    def committed(items: Sequence[InboundMessage]) -> None:
        acked.extend(items)

    result = processor.process([*chatty[:20], *quiet, *chatty[20:]], committed)
    assert (result.stored, result.rate_limited) == (5 + 3, 35)
    assert len(acked) == 43  # over-rate messages are handled (rejected), so they are acknowledged
    with Session(engine) as s:
        stored = s.exec(select(Reading.power_w).join(Device).where(Device.external_id == "chatty")).all()
    assert sorted(w or 0.0 for w in stored) == [
        0.0,
        1.0,
        2.0,
        3.0,
        4.0,
    ]  # its budget: the first five, in arrival order
    [kept] = load_all(engine, RejectedMessage)  # one row for 35 messages: the flood buys no writes
    assert kept.topic == "anbu/chatty/reading"
    assert "over its message rate (limit 1/min, burst 5): 35 message(s)" in kept.reason
    # Its budget refills at 1 a minute; the next batch right after is over again, all of it.
    later = [native("chatty", start + timedelta(minutes=5, seconds=n), 1.0, received=now) for n in range(3)]
    assert processor.process(later, committed).rate_limited == 3
