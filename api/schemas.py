"""Response and request shapes of /api/v1: the public contract, separate from the tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.enums import (
    AuditAction,
    AuditObject,
    CallOutcome,
    CallStatus,
    CaseEventType,
    CaseKind,
    CaseStatus,
    Channel,
    DeviceStatus,
    DeviceVendor,
    Intent,
    Language,
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


class TeamOut(BaseModel):
    id: int
    name: str


class TeamList(BaseModel):
    items: list[TeamOut]


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
    # What happens at next_action_at: call_resident, notify_family, notify_caseworker, follow_up.
    next_actions: list[str]
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


# ------------------------------------------------------------------ household page


class ResidentOut(BaseModel):
    id: int
    name: str
    # Full numbers: staff call residents and families from this page; the view is audited.
    phone: str | None
    language: Language
    birth_year: int | None


class ContactOut(BaseModel):
    id: int
    name: str
    relation: str
    phone: str
    tier: int
    language: Language
    preferred_channel: Channel
    opted_out: bool


class DeviceOut(BaseModel):
    id: int
    vendor: DeviceVendor
    external_id: str
    appliance: str
    status: DeviceStatus
    online: bool | None
    last_seen_at: datetime | None
    last_power_w: float | None
    last_reading_at: datetime | None


class CaseHistoryItem(BaseModel):
    id: int
    kind: CaseKind
    status: CaseStatus
    severity: Severity
    opened_at: datetime
    resolved_at: datetime | None
    resolution_code: ResolutionCode | None


class HouseholdDetail(HouseholdItem):
    quiet_hours: float | None
    watch_explanation: str
    residents: list[ResidentOut]
    contacts: list[ContactOut]
    devices: list[DeviceOut]
    cases: list[CaseHistoryItem]  # newest first, at most the last 50


class ActivityHeatmap(BaseModel):
    """Switch-on counts by hour of week, in the household's timezone (rows Monday..Sunday, 24 columns).

    ``recent`` covers the last ``days`` days; ``routine`` is the average week over the
    ``routine_weeks`` weeks before that: what this household usually looks like.
    """

    timezone: str
    days: int
    since: datetime
    until: datetime
    recent: list[list[int]]
    routine_weeks: int
    routine: list[list[float]]


class PauseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: datetime = Field(description="aware timestamp; monitoring resumes by itself then")

    @field_validator("until")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("until must include a timezone offset, e.g. 2026-03-09T09:00:00+09:00")
        return value


# ------------------------------------------------------------------ audit log


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    user_id: int
    username: str | None  # None when the user no longer exists
    role: Role
    action: AuditAction
    object_type: AuditObject
    object_id: int | None
    client: str


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    total: int
    limit: int
    offset: int


# ------------------------------------------------------------------ family status links


class StatusLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_id: int = Field(
        ge=1, le=2**31 - 1, description="the family member the link is for (of this household)"
    )
    days: int = Field(default=7, ge=1, le=30, description="how long the link works")


class StatusLinkOut(BaseModel):
    url: str  # a credential: send it to the contact, do not log it
    expires_at: datetime


# ------------------------------------------------------------------ management


class DeviceList(BaseModel):
    items: list[DeviceOut]


class AssignDeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    household_id: int = Field(ge=1, le=2**31 - 1)
    appliance: str = Field(min_length=1, max_length=60, description="e.g. kettle, tv, rice_cooker")


class ImportErrorOut(BaseModel):
    row: int  # line in the file; the header is line 1, 0 = the file as a whole
    column: str | None
    message: str


class ImportReport(BaseModel):
    dry_run: bool
    rows: int  # good rows read
    created: int  # rows written (0 on a dry run or when any row has an error)
    errors: list[ImportErrorOut]


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    relation: str = Field(default="", max_length=100)
    phone: str = Field(pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164, e.g. +821012345678")
    tier: int = Field(default=1, ge=1, le=9)
    language: Language = Language.KO
    preferred_channel: Channel = Channel.SMS
    opted_out: bool = False


class ContactPatch(BaseModel):
    """Only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    relation: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$")
    tier: int | None = Field(default=None, ge=1, le=9)
    language: Language | None = None
    preferred_channel: Channel | None = None
    opted_out: bool | None = None


# ------------------------------------------------------------------ reports


class TeamReport(BaseModel):
    team_id: int
    team_name: str
    cases_opened: int
    closed: int  # cleared or resolved, of the cases opened in the period
    cleared_by_resident: int  # the resident said they were fine (AI call, SMS reply)
    cleared_by_activity: int  # appliances in use again before anyone had to act
    resolved_by_staff: int
    share_closed_without_staff: float | None  # (by resident + by activity) / closed
    median_minutes_to_acknowledge: float | None
    by_outcome: dict[str, int]  # staff resolutions by outcome code
    false_alarm_rate: dict[str, float]  # false_alarm_* outcomes / closed


class ReportOut(BaseModel):
    since: datetime
    until: datetime
    teams: list[TeamReport]
