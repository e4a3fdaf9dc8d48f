"""Rows of every kind retention and erasure deal with, with words that are easy to look for."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from core.enums import (
    AuditAction,
    AuditObject,
    CallPurpose,
    CallStatus,
    CaseEventType,
    EdgeKind,
    ResolutionCode,
    Role,
)
from core.models import (
    ActivityEdge,
    AuditEntry,
    CallAttempt,
    CallReply,
    Case,
    CheckinCall,
    Device,
    Household,
    MessageReceipt,
    Notification,
    Reading,
    RejectedMessage,
)
from notifier import lifecycle
from tests.factories import make_call_attempt, make_notification, make_open_case

SAID = "허리가 아파서 못 일어나요"  # what the resident said on the phone
TEXTED = "괜찮아요 손녀가 왔어요"  # what the resident texted back
SENT = "안부 알림: 김순자 님 댁"  # what we texted the family


def reading(session: Session, device: Device, at: datetime, power_w: float = 50.0) -> Reading:
    assert device.id is not None
    row = Reading(device_id=device.id, ts=at, received_at=at, power_w=power_w, energy_wh=1.0)
    session.add(row)
    return row


def edge(session: Session, device: Device, at: datetime) -> ActivityEdge:
    assert device.id is not None and device.household_id is not None
    row = ActivityEdge(
        household_id=device.household_id, device_id=device.id, ts=at, kind=EdgeKind.ON, power_w=1800.0
    )
    session.add(row)
    return row


def rejected(session: Session, at: datetime, device: Device | None = None) -> RejectedMessage:
    row = RejectedMessage(
        received_at=at,
        topic="tele/kettle/SENSOR",
        payload_excerpt='{"bad": 1}',
        payload_size=10,
        reason="unreadable",
        device_id=device.id if device else None,
    )
    session.add(row)
    return row


def receipt(session: Session, at: datetime, packet_id: int, client_id: str = "anbu-gw-1") -> MessageReceipt:
    row = MessageReceipt(client_id=client_id, packet_id=packet_id, digest=packet_id * 7, received_at=at)
    session.add(row)
    return row


def audit(session: Session, at: datetime, object_id: int = 1) -> AuditEntry:
    row = AuditEntry(
        at=at,
        user_id=1,
        role=Role.CASEWORKER,
        action=AuditAction.VIEW,
        object_type=AuditObject.HOUSEHOLD,
        object_id=object_id,
        client="10.0.0.1",
    )
    session.add(row)
    return row


def case_with_words(
    session: Session, household: Household, *, opened: datetime, closed: datetime | None
) -> tuple[Case, CallAttempt, Notification]:
    """A case with a call (transcript, speech excerpt), the resident's SMS reply, a staff note and
    a text to the family; resolved at *closed* (None: still open)."""
    case = make_open_case(session, household, now=opened)
    call = make_call_attempt(session, household, now=opened, case=case, status="completed")
    call.transcript = f"1: {SAID} -> unwell"
    # The raw reply as the gather webhook stored it before acting on it (notifier.stored_replies).
    session.add(
        CallReply(
            key=f"{call.code}:1",
            code=call.code,
            gather_no=1,
            params={"SpeechResult": SAID},
            received_at=opened,
            done_at=opened,
        )
    )
    notification = make_notification(session, household, now=opened, case=case)
    notification.body = SENT
    lifecycle.record_event(
        session,
        case,
        CaseEventType.CALL_OUTCOME,
        opened,
        actor=f"call:{call.id}",
        call_attempt_id=call.id,
        excerpt=SAID,
        intent="unwell",
    )
    resident_id = household_resident_id(session, household)
    lifecycle.add_note(session, case, actor=f"resident:{resident_id}", text=f"SMS (ok): {TEXTED}", now=opened)
    lifecycle.add_note(session, case, actor="caseworker1", text="visited, all well", now=opened)
    if closed is not None:
        lifecycle.resolve(
            session, case, actor="caseworker1", code=ResolutionCode.RESIDENT_FINE, note="fine", now=closed
        )
    session.flush()
    return case, call, notification


def checkin_call(session: Session, household: Household, at: datetime) -> tuple[CallAttempt, CheckinCall]:
    """A weekly check-in call (no case) and the answers it heard."""
    call = make_call_attempt(session, household, now=at, status="completed")
    call.purpose = CallPurpose.CHECKIN
    call.status = CallStatus.COMPLETED
    call.transcript = f"meals: {SAID}"
    assert call.id is not None and household.id is not None
    row = CheckinCall(
        household_id=household.id,
        call_attempt_id=call.id,
        scheduled_for=at,
        answers={"meals": {"answer": "concern", "input": "speech", "excerpt": SAID}},
        created_at=at,
    )
    session.add(row)
    session.flush()
    return call, row


def household_resident_id(session: Session, household: Household) -> int:
    from sqlmodel import select

    from core.models import Resident

    resident = session.exec(select(Resident).where(Resident.household_id == household.id)).first()
    assert resident is not None and resident.id is not None
    return resident.id
