"""All SQLModel tables. Import from here: ``from core.models import Household``."""

from sqlmodel import SQLModel

from core.models.cases import Case, CaseEvent
from core.models.devices import ActivityEdge, ChannelState, Device, Reading, RejectedMessage
from core.models.households import Contact, Household, Resident
from core.models.outbox import CallAttempt, Notification
from core.models.people import Organisation, Team, User
from core.models.watches import Watch

metadata = SQLModel.metadata

__all__ = [
    "ActivityEdge",
    "CallAttempt",
    "Case",
    "CaseEvent",
    "ChannelState",
    "Contact",
    "Device",
    "Household",
    "Notification",
    "Organisation",
    "Reading",
    "RejectedMessage",
    "Resident",
    "Team",
    "User",
    "Watch",
    "metadata",
]
