"""Forgetting what is no longer needed: old ``inbound_message`` rows.

``inbound_message`` keeps one row per text Twilio delivered to our number, only so that a
repeated delivery of the same ``MessageSid`` is not acted on twice (``notifier.sms``). Twilio
retries a webhook within minutes or hours, so after ``ANBU_INBOUND_MESSAGE_RETENTION_DAYS``
(30 by default) a row has done its job. Without pruning the table grows by one row per inbound
text forever.

Rows are deleted in batches, each in its own short transaction, so a large backlog (the first
run after an upgrade) never holds a long lock that the SMS webhook would wait behind; a tick
deletes at most ``max_batches`` batches and leaves the rest to the next tick.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select
from sqlmodel import col

from core.clock import Clock
from core.db import session_scope
from core.models import InboundMessage
from core.settings import Settings

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
MAX_BATCHES_PER_TICK = 50


def prune_inbound_messages(
    engine: Engine,
    *,
    older_than: datetime,
    batch_size: int = BATCH_SIZE,
    max_batches: int = MAX_BATCHES_PER_TICK,
) -> int:
    """Delete ``inbound_message`` rows received before ``older_than``; returns how many."""
    deleted = 0
    for _ in range(max_batches):
        with session_scope(engine) as session:
            # Oldest ids first: ids grow with arrival, so the primary key finds the old rows at
            # once (``received_at`` has no index of its own).
            ids = (
                select(col(InboundMessage.id))
                .where(col(InboundMessage.received_at) < older_than)
                .order_by(col(InboundMessage.id))
                .limit(batch_size)
            )
            result = session.execute(
                delete(InboundMessage)
                .where(col(InboundMessage.id).in_(ids.scalar_subquery()))
                .execution_options(synchronize_session=False)
            )
            count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        deleted += count
        if count < batch_size:
            break
    return deleted


def tick(engine: Engine, clock: Clock, settings: Settings) -> int:
    """Prune inbound message ids older than the retention window (the ``retention`` tick)."""
    cutoff = clock.now() - timedelta(days=settings.inbound_message_retention_days)
    deleted = prune_inbound_messages(engine, older_than=cutoff)
    if deleted:
        log.info("retention: %d inbound message ids older than %s deleted", deleted, cutoff.isoformat())
    return deleted
