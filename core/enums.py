"""String enums stored as text. One place for every status word."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    CASEWORKER = "caseworker"
    CONTROL_ROOM = "control_room"
    FAMILY = "family"


class Language(StrEnum):
    KO = "ko"
    EN = "en"


class MonitoringState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class DeviceVendor(StrEnum):
    NATIVE = "native"
    TASMOTA = "tasmota"
    SHELLY_GEN1 = "shelly_gen1"
    SHELLY = "shelly"  # Gen2 / Plus / Pro / Gen3+: JSON-RPC over MQTT
    ZIGBEE2MQTT = "zigbee2mqtt"
    ESPHOME = "esphome"


class DeviceStatus(StrEnum):
    PENDING = "pending"  # seen on the wire, not yet assigned to a household
    ASSIGNED = "assigned"
    RETIRED = "retired"


class WatchStatus(StrEnum):
    NEW = "new"  # no activity seen yet
    UP = "up"
    OVERDUE = "overdue"
    PAUSED = "paused"


class EdgeKind(StrEnum):
    ON = "on"
    OFF = "off"


class CaseKind(StrEnum):
    INACTIVITY = "inactivity"
    DEVICE_OFFLINE = "device_offline"
    HELP_REQUESTED = "help_requested"
    # The resident spoke of wanting to die or of harming themself (docs/calls.md, "Self-harm protocol").
    SELF_HARM_RISK = "self_harm_risk"
    # Staff-only (never a resident call): away mode ended without activity, unusual patterns.
    AWAY_ENDED = "away_ended"
    UNUSUAL_NIGHT_ACTIVITY = "unusual_night_activity"
    UNUSUAL_DAILY_USE = "unusual_daily_use"
    FADING_ROUTINE = "fading_routine"


class SystemIncidentKind(StrEnum):
    """Something wrong with Anbu itself (core/models/incidents.py), never a household's case."""

    GATEWAY_DEAF = "gateway_deaf"  # connected or not, it hears no plug for longer than they report
    GATEWAY_FLAPPING = "gateway_flapping"  # the connection keeps dropping (session taken over?)
    GATEWAY_SESSION_LOST = "gateway_session_lost"  # the broker lost the session and what it queued
    GATEWAY_DOWN = "gateway_down"  # its status row stopped being refreshed without a clean stop


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"  # a person has seen it; still active until it clears
    CLEARED = "cleared"


class CaseStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"
    RESOLVED = "resolved"


ACTIVE_CASE_STATUSES = (CaseStatus.OPEN, CaseStatus.ACKNOWLEDGED)


class Severity(StrEnum):
    WATCH = "watch"
    WARNING = "warning"
    ALERT = "alert"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.WATCH: 0, Severity.WARNING: 1, Severity.ALERT: 2, Severity.CRITICAL: 3}


class CaseEventType(StrEnum):
    OPENED = "opened"
    REDETECTED = "redetected"
    SEVERITY_RAISED = "severity_raised"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"
    RESOLVED = "resolved"
    NOTE = "note"
    STEP = "step"
    CALL_QUEUED = "call_queued"  # the engine wrote a CallAttempt; the outbox has not dialled yet
    CALL_PLACED = "call_placed"
    CALL_STATUS = "call_status"
    CALL_OUTCOME = "call_outcome"
    NOTIFICATION_QUEUED = "notification_queued"
    NOTIFICATION_SENT = "notification_sent"
    NOTIFICATION_FAILED = "notification_failed"
    NOTIFICATION_CANCELLED = "notification_cancelled"
    ESCALATION_EXHAUSTED = "escalation_exhausted"
    LIMIT_REACHED = "limit_reached"  # a rate limit held back a call or message
    ASSIGNED = "assigned"  # a staff member assigned (or unassigned) the case to a team member
    FIELD_VISIT = "field_visit"  # someone went to the home; data: visitor, visited_at, note
    # A reply that would have acknowledged the case or checked the resident in, but proved only a
    # caller ID (no code, a wrong code): recorded for staff, never acted on (notifier.ack_codes).
    REPLY_UNVERIFIED = "reply_unverified"
    # A resident at risk was put through to the suicide-prevention line (notifier.calls.crisis_line):
    # data: attempt (1..3), dial status (completed / busy / no-answer / failed), duration.
    CRISIS_LINE = "crisis_line"


class ResolutionCode(StrEnum):
    RESIDENT_FINE = "resident_fine"
    FALSE_ALARM_AWAY = "false_alarm_away"
    FALSE_ALARM_DEVICE = "false_alarm_device"
    HOSPITAL = "hospital"
    FOUND_IN_NEED = "found_in_need"
    DECEASED = "deceased"
    OTHER = "other"


class Channel(StrEnum):
    SMS = "sms"
    CALL = "call"


class CallPurpose(StrEnum):
    """Why a call exists; it decides what the call says and what a key press on it means."""

    WELLNESS = "wellness"  # the escalation ladder rings the resident: "are you all right?"
    CHECKIN = "checkin"  # the weekly scheduled check-in: three short questions
    CONTACT_ALERT = "contact_alert"  # a family member who prefers calls hears the alert, "press 1"
    INBOUND = "inbound"  # the resident or a family member rang our number
    # A caseworker or the control room hears the alert, "press 1" takes the case on and connects
    # them to the resident (the self-harm protocol, the policy's call_control_room step).
    STAFF_ALERT = "staff_alert"


class RecipientKind(StrEnum):
    RESIDENT = "resident"
    CONTACT = "contact"
    USER = "user"


class OutboxStatus(StrEnum):
    """Status of an outbox row (Notification or CallAttempt) before the provider takes over."""

    PENDING = "pending"
    SENDING = "sending"  # claimed by a worker under a lease
    SENT = "sent"  # the provider accepted it
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


class CallStatus(StrEnum):
    """Twilio's call status vocabulary, plus our own pre-provider states."""

    PENDING = "pending"
    SENDING = "sending"
    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELLED = "canceled"  # Twilio's spelling is the stored value; the name matches OutboxStatus


TERMINAL_CALL_STATUSES = frozenset(
    {CallStatus.COMPLETED, CallStatus.BUSY, CallStatus.FAILED, CallStatus.NO_ANSWER, CallStatus.CANCELLED}
)


class CallOutcome(StrEnum):
    OK = "ok"
    UNWELL = "unwell"
    EMERGENCY = "emergency"
    UNCLEAR = "unclear"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    FAILED = "failed"
    ACKNOWLEDGED = "acknowledged"  # a contact keyed 1 on a notification or inbound call


class CheckinSkip(StrEnum):
    """Why a scheduled check-in call was not placed when due (shown on the household page)."""

    QUIET_HOURS = "quiet_hours"  # held, not lost: placed when the quiet hours end
    PAUSED = "paused"
    ACTIVE_CASE = "active_case"
    CALL_LIMIT = "call_limit"
    TOO_LATE = "too_late"


class Intent(StrEnum):
    OK = "ok"
    UNWELL = "unwell"
    EMERGENCY = "emergency"
    UNCLEAR = "unclear"


class Risk(StrEnum):
    """A named danger in a resident's reply that calls for its own protocol (docs/calls.md)."""

    SELF_HARM = "self_harm"


class AuditAction(StrEnum):
    """What a dashboard/API user did, as recorded in the audit log."""

    VIEW = "view"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    NOTE = "note"
    PAUSE = "pause"
    RESUME = "resume"
    ASSIGN = "assign"
    FIELD_VISIT = "field_visit"
    ISSUE_CREDENTIALS = "issue_credentials"  # a device added (or claimed) with new MQTT credentials
    ROTATE_CREDENTIALS = "rotate_credentials"
    REVOKE_CREDENTIALS = "revoke_credentials"
    ERASE = "erase"  # a resident's personal data erased (notifier/erasure.py)
    CREATE_STATUS_LINK = "create_status_link"
    REVOKE_STATUS_LINK = "revoke_status_link"
    VIEW_STATUS_PAGE = "view_status_page"  # by whoever holds the link: no user, the link's id
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"  # unknown name, wrong password or inactive account
    LOGIN_LOCKED_OUT = "login_locked_out"  # refused unchecked: too many recent failures
    EXPORT = "export"  # a download (the report CSV), one entry per team it covers


class AuditObject(StrEnum):
    """The kind of thing an audit entry is about (its id is in ``object_id``)."""

    HOUSEHOLD = "household"
    CASE = "case"
    AUDIT_LOG = "audit_log"
    USER = "user"
    TEAM = "team"
    ORGANISATION = "organisation"  # its escalation policy
    MQTT_IDENTITY = "mqtt_identity"  # a device's (or Zigbee2MQTT bridge's) MQTT credentials
    RESIDENT = "resident"
