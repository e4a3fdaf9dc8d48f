"""All SQLModel tables. Import from here: ``from core.models import Household``."""

from sqlmodel import SQLModel

from core.models.audit import AuditEntry
from core.models.cases import AckCode, Case, CaseAssignment, CaseEvent
from core.models.checkins import CheckinCall, CheckinSchedule
from core.models.coverage import ReadingHour, ReadingRollup, ReadingRollupCursor
from core.models.credentials import MqttCredential, MqttCredentialRevision
from core.models.devices import (
    ActivityEdge,
    ChannelState,
    Device,
    MessageReceipt,
    Reading,
    RejectedMessage,
)
from core.models.gateway_status import GatewayStatus
from core.models.house import HouseBucket, HouseState
from core.models.households import Contact, Household, Resident
from core.models.incidents import SystemIncident
from core.models.outbox import CallAttempt, CallPacing, CallReply, InboundMessage, Notification
from core.models.people import Organisation, Team, User
from core.models.routines import RoutineModel, RoutineRefit
from core.models.status_links import StatusLink
from core.models.watches import Watch

metadata = SQLModel.metadata

__all__ = [
    "AckCode",
    "ActivityEdge",
    "AuditEntry",
    "CallAttempt",
    "CallPacing",
    "CallReply",
    "Case",
    "CaseAssignment",
    "CaseEvent",
    "ChannelState",
    "CheckinCall",
    "CheckinSchedule",
    "Contact",
    "Device",
    "GatewayStatus",
    "HouseBucket",
    "HouseState",
    "Household",
    "InboundMessage",
    "MessageReceipt",
    "MqttCredential",
    "MqttCredentialRevision",
    "Notification",
    "Organisation",
    "Reading",
    "ReadingHour",
    "ReadingRollup",
    "ReadingRollupCursor",
    "RejectedMessage",
    "Resident",
    "RoutineModel",
    "RoutineRefit",
    "StatusLink",
    "SystemIncident",
    "Team",
    "User",
    "Watch",
    "metadata",
]
