"""`anbu stats`: counts an operator (or a test) can read without opening the dashboard."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from core.enums import CaseStatus, DeviceStatus, OutboxStatus
from core.models import CallAttempt, Case, Device, Household, Notification, Reading, RejectedMessage


def collect(engine: Engine) -> dict[str, Any]:
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
            "open_cases": cases_by_status[CaseStatus.OPEN.value],
            "active_cases": cases_by_status[CaseStatus.OPEN.value]
            + cases_by_status[CaseStatus.ACKNOWLEDGED.value],
            "cases_by_status": cases_by_status,
            "call_attempts": count(CallAttempt),
            "notifications": count(Notification),
            "notifications_sent": count(
                Notification, col(Notification.status).in_([OutboxStatus.SENT, OutboxStatus.DELIVERED])
            ),
        }
