"""The outbox: calls and messages are rows first, sent later by the outbox worker."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from core.enums import (
    CallOutcome,
    CallPurpose,
    CallStatus,
    Channel,
    Intent,
    Language,
    OutboxStatus,
    RecipientKind,
)
from core.models._base import enum_field, json_field, pk, utc


class CallAttempt(SQLModel, table=True):
    """A call to or from a resident or contact (see :class:`CallPurpose`), from queued to outcome."""

    __table_args__ = (Index("ix_call_attempt_due", "status", "next_attempt_at"),)

    id: int | None = pk()
    case_id: int | None = Field(default=None, foreign_key="alert_case.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    purpose: CallPurpose = enum_field(CallPurpose)
    recipient_kind: RecipientKind = enum_field(RecipientKind, RecipientKind.RESIDENT)
    recipient_id: int | None = None
    to_address: str = Field(max_length=32)
    language: Language = enum_field(Language, Language.KO)
    # Unguessable id used in our webhook URLs (in addition to the signature check).
    code: str = Field(max_length=64, unique=True, index=True)
    idempotency_key: str = Field(max_length=200, unique=True)
    escalation_token: str = Field(default="", max_length=64)
    status: CallStatus = enum_field(CallStatus, CallStatus.PENDING)
    attempts: int = 0
    next_attempt_at: datetime | None = utc(nullable=True)
    claim_expires_at: datetime | None = utc(nullable=True)
    provider_sid: str | None = Field(default=None, max_length=64, unique=True)
    answered_by: str | None = Field(default=None, max_length=40)
    # A call to our number: Twilio's STIR/SHAKEN verdict on the caller ID (StirVerstat), if any.
    caller_verstat: str | None = Field(default=None, max_length=40)
    outcome: CallOutcome | None = enum_field(CallOutcome, nullable=True)
    intent: Intent | None = enum_field(Intent, nullable=True)
    confidence: float | None = None
    transcript: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    gather_count: int = 0
    last_sequence: int = -1
    error: str | None = Field(default=None, max_length=400)
    created_at: datetime = utc()
    updated_at: datetime = utc()


class Notification(SQLModel, table=True):
    """An SMS (or notification call) to a contact or caseworker."""

    __table_args__ = (Index("ix_notification_due", "status", "next_attempt_at"),)

    id: int | None = pk()
    case_id: int | None = Field(default=None, foreign_key="alert_case.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    recipient_kind: RecipientKind = enum_field(RecipientKind)
    recipient_id: int | None = None
    to_address: str = Field(max_length=64)
    channel: Channel = enum_field(Channel, Channel.SMS)
    language: Language = enum_field(Language, Language.KO)
    template: str = Field(max_length=80)
    body: str = Field(sa_column=Column(Text, nullable=False))
    idempotency_key: str = Field(max_length=200, unique=True)
    escalation_token: str = Field(default="", max_length=64)
    status: OutboxStatus = enum_field(OutboxStatus, OutboxStatus.PENDING)
    attempts: int = 0
    next_attempt_at: datetime | None = utc(nullable=True)
    claim_expires_at: datetime | None = utc(nullable=True)
    provider_sid: str | None = Field(default=None, max_length=64, index=True)
    error: str | None = Field(default=None, max_length=400)
    permanent_failure: bool = False
    created_at: datetime = utc()
    sent_at: datetime | None = utc(nullable=True)


class CallPacing(SQLModel, table=True):
    """The next free outbound-call slot of one Twilio account (one row per account), shared by
    every worker process: Twilio allows one call per second per account (``notifier.pacing``)."""

    __tablename__ = "call_pacing"

    account: str = Field(primary_key=True, max_length=64)
    next_slot_at: datetime = utc()
    # Bumped by every claim: the conditional UPDATE compares it, not a timestamp.
    version: int = 0


class InboundMessage(SQLModel, table=True):
    """A text Twilio delivered to our number, by ``MessageSid``: a second delivery of the same
    message finds its row (unique key) and is not acted on again (``notifier.sms``)."""

    __tablename__ = "inbound_message"

    id: int | None = pk()
    message_sid: str = Field(max_length=64, unique=True)
    received_at: datetime = utc()


class CallReply(SQLModel, table=True):
    """What a person said or pressed on a call, stored before anything is decided from it, so
    that it is acted on even if acting fails or the database was away (``notifier.stored_replies``).

    One row per ``<Gather>`` callback (``key``: the call's code and question attempt ``n``), so a
    second delivery finds the first. ``done_at`` is set in the transaction that acts on it, which
    makes the reply count exactly once whoever (webhook or worker) gets there first.
    """

    __tablename__ = "call_reply"
    __table_args__ = (Index("ix_call_reply_pending", "done_at", "next_attempt_at"),)

    id: int | None = pk()
    key: str = Field(max_length=160, unique=True)
    code: str = Field(max_length=64, index=True)
    gather_no: int | None = None
    # The resident's words: only the Gather fields the handlers read (Digits, SpeechResult,
    # Confidence, CallSid). Deleted a week after being acted on; the case keeps an excerpt.
    params: dict[str, str] = json_field()
    received_at: datetime = utc()
    done_at: datetime | None = utc(nullable=True)
    answer: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # the TwiML given
    attempts: int = 0
    next_attempt_at: datetime | None = utc(nullable=True)
    error: str | None = Field(default=None, max_length=120)  # exception type only
