"""Response and request shapes of /api/v1: the public contract, separate from the tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.enums import (
    CallOutcome,
    CallStatus,
    CaseEventType,
    CaseKind,
    CaseStatus,
    Channel,
    Intent,
    MonitoringState,
    OutboxStatus,
    RecipientKind,
    ResolutionCode,
    Role,
    Severity,
    WatchStatus,
)

MAX_NOTE_LENGTH = 2000


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class MeOut(BaseModel):
    id: int
    username: str
    role: Role
    team_id: int | None
    display_name: str


class HealthOut(BaseModel):
    status: str
    database: str


# ------------------------------------------------------------------ households


class HouseholdItem(BaseModel):
    id: int
    code: str
    timezone: str
    team_id: int
    monitoring: MonitoringState
    paused_until: datetime | None
    watch_status: WatchStatus | None  # None until the household has a watch row
    last_activity_at: datetime | None
    alert_after: datetime | None
    open_cases: int  # open or acknowledged


class HouseholdPage(BaseModel):
    items: list[HouseholdItem]
    total: int
    limit: int
    offset: int


# ------------------------------------------------------------------ cases


class CaseBase(BaseModel):
    id: int
    household_id: int
    household_code: str
    household_timezone: str
    kind: CaseKind
    status: CaseStatus
    severity: Severity
    explanation: str
    opened_at: datetime
    last_seen_at: datetime
    next_action_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    cleared_at: datetime | None
    clear_reason: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_code: ResolutionCode | None
    resolution_note: str | None
    step_index: int
    repeat_count: int


class CallSummary(BaseModel):
    id: int
    recipient_kind: RecipientKind
    status: CallStatus
    outcome: CallOutcome | None
    created_at: datetime


class NotificationSummary(BaseModel):
    id: int
    recipient_kind: RecipientKind
    channel: Channel
    status: OutboxStatus
    template: str
    created_at: datetime


class CaseItem(CaseBase):
    """A row of the queue, with a short account of what has been done so far."""

    calls: list[CallSummary]
    notifications: list[NotificationSummary]


class CasePage(BaseModel):
    items: list[CaseItem]
    total: int
    limit: int
    offset: int


class CaseEventOut(BaseModel):
    id: int
    at: datetime
    type: CaseEventType
    actor: str
    data: dict[str, Any]


class CallAttemptOut(BaseModel):
    id: int
    recipient_kind: RecipientKind
    to: str  # masked
    language: str
    status: CallStatus
    attempts: int
    answered_by: str | None
    outcome: CallOutcome | None
    intent: Intent | None
    confidence: float | None
    transcript: str
    error: str | None
    created_at: datetime
    updated_at: datetime


class NotificationOut(BaseModel):
    id: int
    recipient_kind: RecipientKind
    to: str  # masked
    channel: Channel
    language: str
    template: str
    status: OutboxStatus
    attempts: int
    error: str | None
    permanent_failure: bool
    created_at: datetime
    sent_at: datetime | None


class CaseDetail(CaseBase):
    events: list[CaseEventOut]
    calls: list[CallAttemptOut]
    notifications: list[NotificationOut]


# ------------------------------------------------------------------ case actions (requests)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: ResolutionCode
    note: str = Field(default="", max_length=MAX_NOTE_LENGTH)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_NOTE_LENGTH)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("note text must not be blank")
        return value
