"""`anbu stats`: counts an operator (or a test) can read without opening the dashboard."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from core.clock import Clock, SystemClock
from core.enums import CaseStatus, DeviceStatus, OutboxStatus
from core.models import CallAttempt, Case, Device, Household, Notification, Reading, RejectedMessage
from gateway.status import read_statuses

REJECTED_DEVICES_SHOWN = 20


def collect(engine: Engine, clock: Clock | None = None) -> dict[str, Any]:
    """Database counts, plus every gateway's live figures (messages/s, batch latency, queue depth,
    duplicates, connection) from the status rows each gateway process writes (gateway/status.py)."""
    # Read before the counts' session: on SQLite every transaction takes the write lock
    # (core/db.py), so a second session opened inside the first would wait on it.
    gateways = read_statuses(engine, (clock or SystemClock()).now())
    with Session(engine) as s:

        def count(model: Any, *where: Any) -> int:
            return int(s.exec(select(func.count()).select_from(model).where(*where)).one())

        cases_by_status = {status.value: count(Case, col(Case.status) == status) for status in CaseStatus}
        return {
            "households": count(Household),
            "devices": count(Device),
            "pending_devices": count(Device, col(Device.status) == DeviceStatus.PENDING),
            "readings": count(Reading),
            "rejected_messages": count(RejectedMessage),
            # Per device ("vendor:id"), most rejected first: a plug sending garbage stands out.
            "rejected_by_device": {
                key: n
                for key, n in s.exec(
                    select(RejectedMessage.device_key, func.count())
                    .where(col(RejectedMessage.device_key).is_not(None))
                    .group_by(col(RejectedMessage.device_key))
                    .order_by(func.count().desc(), col(RejectedMessage.device_key))
                    .limit(REJECTED_DEVICES_SHOWN)
                ).all()
                if key is not None
            },
            # Connectivity of devices that are not retired (online / offline / never heard).
            "devices_online": count(
                Device, col(Device.online).is_(True), col(Device.status) != DeviceStatus.RETIRED
            ),
            "devices_offline": count(
                Device, col(Device.online).is_(False), col(Device.status) != DeviceStatus.RETIRED
            ),
            "open_cases": cases_by_status[CaseStatus.OPEN.value],
            "active_cases": cases_by_status[CaseStatus.OPEN.value]
            + cases_by_status[CaseStatus.ACKNOWLEDGED.value],
            "cases_by_status": cases_by_status,
            "call_attempts": count(CallAttempt),
            "notifications": count(Notification),
            "notifications_sent": count(
                Notification, col(Notification.status).in_([OutboxStatus.SENT, OutboxStatus.DELIVERED])
            ),
            "gateways": gateways,
        }
