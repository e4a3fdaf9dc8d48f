"""One row per running gateway process: its live figures, so ``anbu stats`` and ``/metrics`` see every gateway."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from core.models._base import utc


class GatewayStatus(SQLModel, table=True):
    """Written by the gateway every few seconds (gateway/status.py); a row not refreshed is stale.

    Keyed by the MQTT client id: the broker allows one session per client id, so two live gateways
    never share one. Counts only, no device ids or personal data.
    """

    __tablename__ = "gateway_status"

    client_id: str = Field(primary_key=True, max_length=200)
    share_group: str | None = Field(default=None, max_length=200)
    updated_at: datetime = utc()
    connected: bool = False
    generation: int = 0
    msgs_per_s: float = 0.0
    batch_ms_p50: float = 0.0
    batch_ms_p99: float = 0.0
    queue_depth: int = 0
    # Totals since the process started; BIGINT: at 20,000 msg/s a 32-bit count overflows in a day.
    received: int = Field(default=0, sa_type=BigInteger)
    stored: int = Field(default=0, sa_type=BigInteger)
    duplicates: int = Field(default=0, sa_type=BigInteger)
    rejected: int = Field(default=0, sa_type=BigInteger)
    batches: int = Field(default=0, sa_type=BigInteger)
    # Is it really hearing (gateway/link.py, gateway/hearing.py)? The incidents tick reads these.
    last_heard_at: datetime | None = utc(nullable=True)  # the latest message from a plug
    deaf: bool = False
    deaf_limit_s: float | None = None  # None: no assigned plug is expected to speak
    delivery_verified: bool = False  # a delivery probe came back on the current connection
    flapping: bool = False
    sessions_lost: int = Field(default=0, sa_type=BigInteger)
    session_lost_at: datetime | None = utc(nullable=True)  # the latest, kept across restarts
    session_takeovers: int = Field(default=0, sa_type=BigInteger)
    disconnects: int = Field(default=0, sa_type=BigInteger)
    probe_failures: int = Field(default=0, sa_type=BigInteger)
    # Floods (ingest and the bounded queue).
    rate_limited: int = Field(default=0, sa_type=BigInteger)
    pending_refused: int = Field(default=0, sa_type=BigInteger)
    read_pauses: int = Field(default=0, sa_type=BigInteger)
    queue_bytes: int = Field(default=0, sa_type=BigInteger)
    stopped_at: datetime | None = utc(nullable=True)  # a clean stop: a silent row is then not an incident
    # A group member that died: who drained and retired its broker session (gateway/rescue.py).
    rescued_by: str | None = Field(default=None, max_length=200)
    rescued_at: datetime | None = utc(nullable=True)  # claimed
    rescue_finished_at: datetime | None = utc(nullable=True)  # drained and retired
