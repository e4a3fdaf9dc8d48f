"""Response and request shapes of /api/v1: the public contract, separate from the tables."""

from __future__ import annotations

from datetime import date as date_type
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator
from pydantic_core import PydanticCustomError

from core.enums import (
    AuditAction,
    AuditObject,
    CallOutcome,
    CallStatus,
    CaseEventType,
    CaseKind,
    CaseStatus,
    Channel,
    CheckinSkip,
    DeviceStatus,
    DeviceVendor,
    IncidentStatus,
    Intent,
    Language,
    MonitoringState,
    OutboxStatus,
    RecipientKind,
    ResolutionCode,
    Role,
    Severity,
    SystemIncidentKind,
    WatchStatus,
)
from gateway.reading_time import clock_is_wrong

MAX_NOTE_LENGTH = 2000
# PostgreSQL text cannot hold a NUL byte: refuse it at the edge (422), not in the driver (500).
NO_NUL = r"^[^\x00]*$"


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
    urgent_notice: bool = True  # the live notice of a new 긴급 case (live.js)
    urgent_sound: bool = True  # and its short sound


class PreferencesIn(BaseModel):
    """The caller's own dashboard choices; only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    urgent_notice: bool | None = None
    urgent_sound: bool | None = None


class UrgentNotice(BaseModel):
    """A case that became 긴급 (opened so, or raised to it): one server-sent ``urgent`` event."""

    event_id: int
    case_id: int
    household_id: int
    household_code: str
    household_timezone: str
    kind: CaseKind
    explanation: str
    # The explanation in every language (by code); null on cases older than issue 17.9's mend:
    # show ``explanation`` then.
    explanation_texts: dict[str, str] | None = None
    at: datetime


class PhoneFacts(BaseModel):
    """Said by the roles that call people (API, worker, ``anbu up``); absent on a lone gateway."""

    phone: Literal["twilio", "console"] | None = Field(None, description="the transport calls go through")
    can_call: bool | None = Field(None, description="false on the console transport: nobody is called")
    warnings: list[str] | None = Field(None, description="what an operator must know now")


class LiveOut(PhoneFacts):
    status: Literal["ok", "error"]
    role: str
    failing: list[str] | None = Field(None, description="the liveness probes that failed")


class ReadyOut(PhoneFacts):
    status: Literal["ok", "error"]
    role: str
    checks: dict[str, dict[str, Any]] = Field(
        description="per dependency: ok plus its figures (database ms, broker connection, ticks' lag)"
    )


# ------------------------------------------------------------------ households


class HouseholdItem(BaseModel):
    id: int
    code: str
    timezone: str
    team_id: int
    address: str = ""
    resident_names: list[str] = []  # the residents' names (erased ones left out): whom staff look for
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


class ResidentWordsOut(BaseModel):
    """The resident's most worrying reply on the case: their words, when, and what they tell."""

    text: str | None  # None when they pressed a key rather than spoke
    at: datetime
    cause: str  # fall | help | unwell


class CaseBase(BaseModel):
    id: int
    household_id: int
    household_code: str
    household_timezone: str
    household_team_id: int | None = None  # whose members the case can be assigned to
    kind: CaseKind
    status: CaseStatus
    severity: Severity
    explanation: str
    # The explanation in every language (by code); null on cases older than issue 17.9's mend:
    # show ``explanation`` then.
    explanation_texts: dict[str, str] | None = None
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
    assigned_user_id: int | None = None  # the team member working the case (None = nobody yet)
    assigned_username: str | None = None
    # People by the names they go by, not login names or actor ids (issue 17).
    assigned_display_name: str | None = None
    acknowledged_by_name: str | None = None
    resolved_by_name: str | None = None
    # The cause in words: fall | help | unwell, from what the resident said (api.case_story).
    cause: str | None = None
    resident_words: ResidentWordsOut | None = None
    # Follow-up visits are due whatever the outcome (a self-harm case; docs/calls.md).
    follow_up_visits: bool = False


class HandoffPerson(BaseModel):
    name: str
    age: int | None
    phone: str | None


class HandoffOut(BaseModel):
    """The 119 hand-off sheet of a case (notifier/handoff.py): what a 119 call needs, printable."""

    case_id: int
    household_code: str
    household_timezone: str
    address: str
    residents: list[HandoffPerson]
    kind: CaseKind
    severity: Severity
    cause: str | None
    resident_words: ResidentWordsOut | None
    opened_at: datetime
    last_sign_at: datetime | None
    caseworker_phone: str | None  # the assignee's, else the centre's


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
    actor_kind: str = "system"  # user | contact | call | provider | system (api.case_story)
    actor_name: str | None = None  # a user's display name, a contact's name and relation


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


class CasePerson(BaseModel):
    """Who the case is about, for the case header: staff ring her from it (the view is audited)."""

    name: str
    phone: str | None
    birth_year: int | None


class CaseDetail(CaseBase):
    events: list[CaseEventOut]
    calls: list[CallAttemptOut]
    notifications: list[NotificationOut]
    residents: list[CasePerson] = Field(default_factory=list)  # erased residents left out
    household_address: str = ""


# ------------------------------------------------------------------ case actions (requests)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # No default outcome, ever (issue 17): the outcome decides what the family is told, so a
    # missing or empty one is refused with its own code, not taken as "fine".
    code: ResolutionCode | None = Field(default=None, validate_default=True)
    note: str = Field(default="", max_length=MAX_NOTE_LENGTH, pattern=NO_NUL)

    @field_validator("code", mode="before")
    @classmethod
    def _outcome_chosen(cls, value: object) -> object:
        if value is None or value == "":
            raise PydanticCustomError(
                "outcome_required", "choose the outcome: it decides what the family is told"
            )
        return value

    @property
    def outcome(self) -> ResolutionCode:
        assert self.code is not None  # the validator refused None
        return self.code


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_NOTE_LENGTH, pattern=NO_NUL)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise PydanticCustomError("text_blank", "note text must not be blank")
        return value


# ------------------------------------------------------------------ household page


class ResidentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # built straight from the table row

    id: int
    name: str
    # Full numbers: staff call residents and families from this page; the view is audited.
    phone: str | None
    language: Language
    birth_year: int | None
    erased_at: datetime | None = None  # personal data erased (docs/privacy.md)


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # built straight from the table row

    id: int
    name: str
    relation: str
    address_as: str = ""  # how they call the resident in their texts ("어머니")
    phone: str
    tier: int
    language: Language
    preferred_channel: Channel
    opted_out: bool


class DeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # built straight from the table row

    id: int
    vendor: DeviceVendor
    external_id: str
    appliance: str
    status: DeviceStatus
    online: bool | None
    last_seen_at: datetime | None
    last_power_w: float | None
    last_reading_at: datetime | None
    # The device's clock: our time minus its time (s), learned from its traffic; None until it sent
    # a time. ``clock_wrong``: off by more than 5 min, so its readings are placed by this offset and
    # staff should fix the plug's clock (NTP, time zone). docs/devices.md, "Device clocks".
    clock_offset_s: float | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def clock_wrong(self) -> bool:
        return clock_is_wrong(self.clock_offset_s)


class CaseHistoryItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: CaseKind
    status: CaseStatus
    severity: Severity
    opened_at: datetime
    resolved_at: datetime | None
    resolution_code: ResolutionCode | None


class StaffNote(BaseModel):
    """An open staff-only case shown with its explanation: an away period ended without activity,
    or an unusual pattern (never a call; see docs/detection.md)."""

    case_id: int
    kind: CaseKind
    severity: Severity
    status: CaseStatus
    opened_at: datetime
    explanation: str
    # The explanation in every language (by code); null on cases older than issue 17.9's mend:
    # show ``explanation`` then.
    explanation_texts: dict[str, str] | None = None


class LooksAwaySuggestion(BaseModel):
    """The whole-house meter has stayed at base load for a day: perhaps away (a suggestion only)."""

    since: datetime
    peak_w: float = Field(description="95th percentile of the whole-house load since then")
    base_w: float = Field(description="the household's usual base load (week before)")


class RoutineSummary(BaseModel):
    """What the detector has learned of this household, so staff can judge its alerts."""

    learned: bool  # False: still on the fixed quiet window until enough usual days
    days_needed: int  # usual days a routine needs
    days_used: int  # usual days the current routine was fitted on (0 when not learned)
    fitted_at: datetime | None
    latest_usual_start: str | None  # local "HH:MM": every usual day had started by then
    confirmed_false_alarms: int  # "I'm fine" answers the routine has learned from


class HouseholdDetail(HouseholdItem):
    quiet_hours: float | None
    watch_explanation: str
    # watch_explanation in every language (by code); null when there is none
    watch_explanation_texts: dict[str, str] | None = None
    # The severity ladder's stage now (anomaly.watch.current_stage): watch / warning are for
    # staff only (nothing is sent), alert / critical mean an inactivity case; None = usual quiet.
    stage: Severity | None = None
    stage_since: datetime | None = None
    residents: list[ResidentOut]
    contacts: list[ContactOut]
    devices: list[DeviceOut]
    cases: list[CaseHistoryItem]  # newest first, at most the last 50
    notes: list[StaffNote] = Field(default_factory=list)  # open away reminders and pattern findings
    looks_away: LooksAwaySuggestion | None = None
    routine: RoutineSummary | None = None
    erased_at: datetime | None = None  # personal data erased: never watched again


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
    # The usual week averages [routine_since, since); it is complete only if the household's
    # switch-ons go back that far. history_since: its earliest switch-on still kept (None: none
    # yet); routine_full_from: from when a view of this many days has a complete usual week.
    routine_since: datetime
    history_since: datetime | None = None
    routine_complete: bool = False
    routine_full_from: datetime | None = None


class DaySwitchOn(BaseModel):
    at: datetime
    appliance: str | None  # the device's appliance name, as staff entered it


class ActivityDay(BaseModel):
    """One local day, hour by hour (24 local clock hours), next to the usual for that weekday:
    ``usual`` is the average of the same weekday in the ``usual_weeks`` weeks before."""

    timezone: str
    date: date_type
    until: datetime  # the end of the day, or now for today
    hours: list[int]
    usual_weeks: int
    usual: list[float]
    switch_ons: list[DaySwitchOn]  # oldest first


class PauseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: datetime = Field(description="aware timestamp; monitoring resumes by itself then")

    @field_validator("until")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise PydanticCustomError(
                "timezone_offset_required",
                "until must include a timezone offset, e.g. 2026-03-09T09:00:00+09:00",
            )
        return value


# ------------------------------------------------------------------ audit log


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    user_id: int | None  # None when nobody was signed in (a status-page view, a failed login)
    username: str | None  # None then, and when the user no longer exists
    role: Role | None
    action: AuditAction
    object_type: AuditObject
    object_id: int | None
    status_link_id: int | None  # the family status link made, revoked or looked through
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
    """The link as made: the only time its URL (a credential) is ever shown."""

    id: int
    url: str  # a credential: send it to the contact, do not log it
    expires_at: datetime


class StatusLinkItem(BaseModel):
    """A link as listed on the household page: never its URL (only a hash of it is kept)."""

    id: int
    contact_id: int
    created_by: int
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    working: bool  # neither revoked nor expired (the contact may still have opted out since)


class StatusLinkPage(BaseModel):
    items: list[StatusLinkItem]
    total: int
    limit: int
    offset: int


# ------------------------------------------------------------------ management


class DevicePage(BaseModel):
    items: list[DeviceOut]
    total: int
    limit: int
    offset: int


class IncidentOut(BaseModel):
    """A system incident (gateway/incidents.py): about Anbu itself, never a household."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: SystemIncidentKind
    source: str  # the gateway's MQTT client id
    status: IncidentStatus
    opened_at: datetime
    last_seen_at: datetime
    detections: int
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    cleared_at: datetime | None
    detail: dict[str, Any]  # figures for the explanation: silent_s, limit_s, disconnects, lost_at, ...


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    total: int
    limit: int
    offset: int


class AssignDeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    household_id: int = Field(ge=1, le=2**31 - 1)
    appliance: str = Field(
        min_length=1, max_length=60, pattern=NO_NUL, description="e.g. kettle, tv, rice_cooker"
    )


class ImportErrorOut(BaseModel):
    row: int  # line in the file; the header is line 1, 0 = the file as a whole
    column: str | None
    message: str  # English
    code: str  # stable, for translation (``error.<code>`` in the dashboard's catalogues)
    params: dict[str, str | int] = Field(default_factory=dict)  # filled into the translation


class ImportReport(BaseModel):
    dry_run: bool
    rows: int  # good rows read
    created: int  # rows written (0 on a dry run or when any row has an error)
    errors: list[ImportErrorOut]


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    relation: str = Field(default="", max_length=100, pattern=NO_NUL)
    address_as: str = Field(
        default="", max_length=50, pattern=NO_NUL, description='how they call the resident, e.g. "어머니"'
    )
    phone: str = Field(pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164, e.g. +821012345678")
    tier: int = Field(default=1, ge=1, le=9)
    language: Language = Language.KO
    preferred_channel: Channel = Channel.SMS
    opted_out: bool = False


class ContactPatch(BaseModel):
    """Only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=NO_NUL)
    relation: str | None = Field(default=None, max_length=100, pattern=NO_NUL)
    address_as: str | None = Field(default=None, max_length=50, pattern=NO_NUL)
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
    field_visits: int = 0  # field visits recorded on the cases opened in the period
    cases_with_field_visit: int = 0
    share_with_field_visit: float | None = None  # cases_with_field_visit / cases_opened


class ReportWeek(BaseModel):
    """Cases opened in one 7-day slice of the period (the last may be shorter), for the charts."""

    start: datetime
    end: datetime
    cases_opened: int
    by_kind: dict[str, int]  # CaseKind value -> cases
    # How they ended: a resolution code, cleared_by_resident / cleared_by_activity / cleared_other,
    # or still_open.
    by_outcome: dict[str, int]


class AckBucket(BaseModel):
    """Cases acknowledged within ``upto_minutes`` (and after the bucket before); the last two
    buckets: later than every limit (``upto_minutes`` null) and ``never`` acknowledged."""

    key: str
    upto_minutes: int | None
    cases: int


class ReportOut(BaseModel):
    since: datetime
    until: datetime
    teams: list[TeamReport]
    # Every team of the report together: the reports page's charts.
    weeks: list[ReportWeek] = []
    time_to_acknowledge: list[AckBucket] = []


# ------------------------------------------------------------------ assignment and field visits


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise PydanticCustomError(
            "timezone_offset_required",
            f"{name} must include a timezone offset, e.g. 2026-03-09T09:00:00+09:00",
        )
    return value


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: int | None = Field(
        ge=1, le=2**31 - 1, description="an active user of the household's team; null unassigns"
    )


class AssigneeOut(BaseModel):
    """Someone who may take a case, as the assignment picker needs them: nothing more."""

    id: int
    display_name: str  # the user's display name, or their username when they have none


class AssigneeList(BaseModel):
    items: list[AssigneeOut]


class ClosurePreviewOut(BaseModel):
    """What resolving with ``code`` would text the family already told (nothing when none was)."""

    code: ResolutionCode
    family_told: int  # how many family members would get it
    language: Language | None  # the message's language: the first such family member's
    message: str | None


class QuietAfterClosingOut(BaseModel):
    """A household overdue (quiet longer than usual) with no case open: its last closed case."""

    household_id: int
    household_code: str
    household_timezone: str
    last_sign_at: datetime | None
    case_id: int | None
    closed_at: datetime | None
    resolution_code: ResolutionCode | None


class QuietAfterClosingList(BaseModel):
    items: list[QuietAfterClosingOut]


class FieldVisitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    visited_at: datetime = Field(description="when someone was at the home; aware, not in the future")
    visitor_user_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="who went (a user of the team); default: you"
    )
    note: str = Field(min_length=1, max_length=MAX_NOTE_LENGTH, pattern=NO_NUL, description="what was found")

    @field_validator("visited_at")
    @classmethod
    def _aware_visit(cls, value: datetime) -> datetime:
        return _aware(value, "visited_at")

    @field_validator("note")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise PydanticCustomError("text_blank", "note must not be blank")
        return value


# ------------------------------------------------------------------ users, teams, organisations


class UserOut(BaseModel):
    id: int
    username: str
    role: Role
    team_id: int | None
    display_name: str
    phone: str | None
    language: Language
    on_duty: bool
    is_active: bool
    created_at: datetime


class UserPage(BaseModel):
    items: list[UserOut]
    total: int
    limit: int
    offset: int


class MemberOut(BaseModel):
    """A team member as an assignment picker shows them (no phone numbers)."""

    id: int
    username: str
    display_name: str
    role: Role


class MemberList(BaseModel):
    items: list[MemberOut]


USERNAME_PATTERN = r"^[a-z0-9_.-]{3,100}$"
PHONE_PATTERN = r"^\+[1-9][0-9]{6,14}$"


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME_PATTERN, description="lower-case letters, digits, _ . -")
    password: str = Field(min_length=8, max_length=1024)
    role: Role
    team_id: int | None = Field(default=None, ge=1, le=2**31 - 1, description="required for caseworkers")
    display_name: str = Field(default="", max_length=200, pattern=NO_NUL)
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN, description="E.164, for duty SMS")
    language: Language = Language.KO


class UserPatch(BaseModel):
    """Only the fields sent are changed; ``is_active: false`` deactivates (no delete: the audit
    log keeps pointing at the user)."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    team_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    display_name: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN)
    language: Language | None = None
    on_duty: bool | None = None
    is_active: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1024)


class TeamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    organisation_id: int = Field(ge=1, le=2**31 - 1)


class TeamPatch(BaseModel):
    """Only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=NO_NUL)
    # The centre's number families are given when the caseworker has none on file ("": none).
    phone: str | None = Field(default=None, pattern=r"^(\+[1-9][0-9]{6,14})?$")


class TeamDetail(BaseModel):
    id: int
    name: str
    organisation_id: int
    phone: str | None = None


class OrganisationOut(BaseModel):
    id: int
    name: str
    has_custom_policy: bool


class OrganisationList(BaseModel):
    items: list[OrganisationOut]


class PolicyOut(BaseModel):
    organisation_id: int
    is_default: bool  # no policy of its own: the built-in default applies
    policy: dict[str, Any]  # the effective policy, every field filled in


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: dict[str, Any] | None = Field(
        description="the policy document (see docs/calls.md); null returns to the built-in default"
    )


# ------------------------------------------------------------------ household management


class ResidentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN)
    language: Language = Language.KO
    birth_year: int | None = Field(default=None, ge=1900, le=2100)


class ResidentPatch(BaseModel):
    """Only the fields sent are changed (send ``phone: null`` to remove the number)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=NO_NUL)
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN)
    language: Language | None = None
    birth_year: int | None = Field(default=None, ge=1900, le=2100)


class HouseholdIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    team_id: int = Field(ge=1, le=2**31 - 1)
    timezone: str = Field(default="Asia/Seoul", max_length=64, pattern=NO_NUL)
    address: str = Field(default="", max_length=400, pattern=NO_NUL)
    quiet_hours: float | None = Field(default=None, gt=0, le=72)
    resident: ResidentIn | None = None


class HouseholdPatch(BaseModel):
    """Only the fields sent are changed; moving to another team is for admins."""

    model_config = ConfigDict(extra="forbid")

    code: str | None = Field(default=None, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    team_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    timezone: str | None = Field(default=None, max_length=64, pattern=NO_NUL)
    address: str | None = Field(default=None, max_length=400, pattern=NO_NUL)
    quiet_hours: float | None = Field(default=None, gt=0, le=72)


# ------------------------------------------------------------------ scheduled check-ins


class CheckinSkipOut(BaseModel):
    """The latest scheduled check-in that was skipped, or held (``reason: quiet_hours``)."""

    at: datetime  # when the notifier decided
    slot: datetime  # the scheduled moment it concerned
    reason: CheckinSkip
    until: datetime | None  # a held call: when it will be placed


class CheckinScheduleOut(BaseModel):
    household_id: int
    configured: bool  # False: no schedule yet (the fields show the defaults)
    weekdays: list[int]  # ISO: 1 = Monday ... 7 = Sunday, in the household's time zone
    local_time: str  # HH:MM
    active: bool
    next_due_at: datetime | None
    last_skip: CheckinSkipOut | None = None


class CheckinScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weekdays: list[int] = Field(min_length=1, max_length=7, description="ISO weekdays 1-7")
    local_time: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM, 24 h")
    active: bool = True

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if any(not 1 <= d <= 7 for d in value):
            raise PydanticCustomError("weekday_range", "weekdays are ISO numbers, 1 (Monday) to 7 (Sunday)")
        if len(set(value)) != len(value):
            raise PydanticCustomError("weekday_repeated", "each weekday at most once")
        return sorted(value)


class CheckinOut(BaseModel):
    id: int
    scheduled_for: datetime
    call_status: CallStatus
    outcome: CallOutcome | None
    answers: dict[str, str]  # meals / sleep / health -> ok, concern, emergency, unclear
    flags: list[str]  # worrying answers, e.g. "meals_concern"
    summary: str  # one line in the caller's language


class CheckinPage(BaseModel):
    items: list[CheckinOut]
    total: int
    limit: int
    offset: int


# ------------------------------------------------------------------ district overview (issue 17)

OverviewMeasure = Literal[
    "households",
    "watched",
    "paused",
    "quiet",
    "stage_watch",
    "stage_warning",
    "stage_alert",
    "stage_critical",
    "offline",
    "quiet_after_closing",
]


class OverviewCounts(BaseModel):
    """How many households are in each state (api/overview.py defines each one)."""

    households: int = 0
    watched: int = 0
    paused: int = 0
    quiet: int = 0
    stage_watch: int = 0
    stage_warning: int = 0
    stage_alert: int = 0
    stage_critical: int = 0
    offline: int = 0
    quiet_after_closing: int = 0


class OverviewDong(BaseModel):
    dong: str = Field(description='the neighbourhood named in the address; "" when none is')
    counts: OverviewCounts


class OverviewTeam(BaseModel):
    team_id: int
    team_name: str
    counts: OverviewCounts
    dongs: list[OverviewDong]


class OverviewOut(BaseModel):
    generated_at: datetime
    counts: OverviewCounts
    teams: list[OverviewTeam]


class OverviewHousehold(BaseModel):
    household_id: int
    household_code: str
    household_timezone: str
    team_id: int
    team_name: str
    dong: str
    monitoring: MonitoringState
    last_sign_at: datetime | None
    stage: Severity | None = Field(description="the severity of its most severe open case")


class OverviewHouseholdList(BaseModel):
    items: list[OverviewHousehold]
    total: int
    limit: int
    offset: int
