"""The gateway's status row (table ``gateway_status``): live figures every process publishes.

With ``anbu gateway`` × N as separate processes, neither ``anbu stats`` nor the API's ``/metrics``
can ask a gateway directly; each gateway instead upserts one small row every
``STATUS_INTERVAL_S`` seconds from its processing thread, between batches and outside any batch
transaction (one statement per ~5 s: nothing next to ingest's thousands of rows per second).
"""

from __future__ import annotations

import logging
import math
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
    client_id: str,
    share_group: str | None,
    metrics: Mapping[str, Any],
    now: datetime,
    *,
    session_lost_at: datetime | None = None,
    stopped: bool = False,
) -> GatewayStatus:
    """Map ``Gateway.metrics()`` onto a status row (pure)."""
    since_heard = metrics.get("seconds_since_heard")
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
        last_heard_at=None if since_heard is None else now - timedelta(seconds=float(since_heard)),
        deaf=bool(metrics.get("deaf", False)),
        deaf_limit_s=_finite_or_none(metrics.get("deaf_limit_s")),
        delivery_verified=bool(metrics.get("delivery_verified", False)),
        flapping=bool(metrics.get("flapping", False)),
        sessions_lost=int(metrics.get("sessions_lost", 0)),
        session_lost_at=session_lost_at,
        session_takeovers=int(metrics.get("session_takeovers", 0)),
        disconnects=int(metrics.get("disconnects", 0)),
        probe_failures=int(metrics.get("probe_failures", 0)),
        rate_limited=int(metrics.get("rate_limited", 0)),
        pending_refused=int(metrics.get("pending_refused", 0)),
        read_pauses=int(metrics.get("read_pauses", 0)),
        queue_bytes=int(metrics.get("queue_bytes", 0)),
        stopped_at=now if stopped else None,
    )


def _finite_or_none(value: Any) -> float | None:
    return None if value is None or math.isinf(float(value)) else float(value)


def write_status(engine: Engine, row: GatewayStatus) -> None:
    """Upsert by client id (merge = SELECT by key then INSERT or UPDATE; one gateway per key)."""
    with session_scope(engine) as s:
        s.merge(row)


def is_stale(updated_at: datetime, now: datetime, interval_s: float = STATUS_INTERVAL_S) -> bool:
    return now - updated_at > timedelta(seconds=STALE_AFTER_INTERVALS * interval_s)


def read_status(engine: Engine, client_id: str) -> GatewayStatus | None:
    with Session(engine) as s:
        return s.get(GatewayStatus, client_id)


def expects_session(row: GatewayStatus | None, now: datetime, session_expiry_s: float) -> bool:
    """Should the broker still hold the session a previous gateway with this client id left (pure)?

    Yes when that gateway was connected when last heard of and left less than the session expiry ago.
    """
    if row is None or not row.connected:
        return False
    return now - row.updated_at <= timedelta(seconds=session_expiry_s)


def live_gateways(session: Session, share_group: str, now: datetime) -> int:
    """Gateways sharing *share_group* that are running now (fresh, not stopped), at least 1."""
    rows = session.exec(
        select(GatewayStatus.updated_at).where(
            GatewayStatus.share_group == share_group,
            col(GatewayStatus.stopped_at).is_(None),
            GatewayStatus.connected == True,  # noqa: E712 (SQL)
        )
    ).all()
    return max(1, sum(1 for updated_at in rows if not is_stale(updated_at, now)))


def read_statuses(engine: Engine, now: datetime) -> list[dict[str, Any]]:
    """Every gateway's last row, by client id, with ``stale`` worked out against *now*."""
    with Session(engine) as s:
        rows = s.exec(select(GatewayStatus).order_by(col(GatewayStatus.client_id))).all()
    result = []
    for row in rows:
        values = row.model_dump()
        for name in ("updated_at", "last_heard_at", "session_lost_at", "stopped_at"):
            when = values[name]
            values[name] = when.isoformat() if when is not None else None
        if row.last_heard_at is not None:
            values["seconds_since_heard"] = max(0.0, (now - row.last_heard_at).total_seconds())
        values["stale"] = is_stale(row.updated_at, now)
        result.append(values)
    return result
