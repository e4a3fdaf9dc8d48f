"""The gateway's status row (table ``gateway_status``): live figures every process publishes.

With ``anbu gateway`` × N as separate processes, neither ``anbu stats`` nor the API's ``/metrics``
can ask a gateway directly; each gateway instead upserts one small row every
``STATUS_INTERVAL_S`` seconds from its processing thread, between batches and outside any batch
transaction (one statement per ~5 s: nothing next to ingest's thousands of rows per second).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.db import session_scope
from core.models import GatewayStatus

log = logging.getLogger(__name__)

STATUS_INTERVAL_S = 5.0
# A row not refreshed for this many intervals belongs to a gateway that stopped, hung or lost its
# database: shown as stale rather than hidden, so a dead gateway stands out.
STALE_AFTER_INTERVALS = 3


def status_row(
    client_id: str, share_group: str | None, metrics: Mapping[str, Any], now: datetime
) -> GatewayStatus:
    """Map ``Gateway.metrics()`` onto a status row (pure)."""
    return GatewayStatus(
        client_id=client_id,
        share_group=share_group,
        updated_at=now,
        connected=bool(metrics["connected"]),
        generation=int(metrics["generation"]),
        msgs_per_s=float(metrics["messages_per_s"]),
        batch_ms_p50=float(metrics["batch_ms_p50"]),
        batch_ms_p99=float(metrics["batch_ms_p99"]),
        queue_depth=int(metrics["queue_depth"]),
        received=int(metrics["received"]),
        stored=int(metrics["stored"]),
        duplicates=int(metrics["duplicates"]),
        rejected=int(metrics["rejected"]),
        batches=int(metrics["batches"]),
    )


def write_status(engine: Engine, row: GatewayStatus) -> None:
    """Upsert by client id (merge = SELECT by key then INSERT or UPDATE; one gateway per key)."""
    with session_scope(engine) as s:
        s.merge(row)


def is_stale(updated_at: datetime, now: datetime, interval_s: float = STATUS_INTERVAL_S) -> bool:
    return now - updated_at > timedelta(seconds=STALE_AFTER_INTERVALS * interval_s)


def read_statuses(engine: Engine, now: datetime) -> list[dict[str, Any]]:
    """Every gateway's last row, by client id, with ``stale`` worked out against *now*."""
    with Session(engine) as s:
        rows = s.exec(select(GatewayStatus).order_by(col(GatewayStatus.client_id))).all()
    result = []
    for row in rows:
        values = row.model_dump()
        values["updated_at"] = row.updated_at.isoformat()
        values["stale"] = is_stale(row.updated_at, now)
        result.append(values)
    return result
