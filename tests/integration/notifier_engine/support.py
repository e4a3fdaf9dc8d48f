"""Helpers for the escalation engine and outbox tests: a recording transport, queries, policies,
an open case to work on and one outbox tick."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.clock import Clock
from core.db import session_scope
from core.enums import CaseEventType, CaseKind
from core.models import CallAttempt, Case, CaseEvent, Notification
from core.settings import Settings
from notifier import outbox
from notifier.pacing import CallPacer
from notifier.transports import Transport
from tests.factories import load, make_household, make_open_case, make_team, make_user

PUBLIC_BASE = "https://care.example.org"
FROM_NUMBER = "+15005550006"

# Policies that start with what a test needs, so it does not have to walk the default ladder.
FAMILY_FIRST: dict[str, object] = {
    "steps": [
        {"action": "notify_family", "tier": 1, "wait_minutes": 10},
        {"action": "notify_caseworker", "wait_minutes": 10},
    ]
}


@dataclass
class Sent:
    kind: str  # "call" | "sms"
    to: str
    from_: str
    url: str  # answer URL for calls, status callback for SMS
    status_url: str
    body: str = ""
    sid: str = ""
    created_at: datetime | None = None  # set by ProviderTransport: when the provider took it


@dataclass
class RecordingTransport:
    """A transport that remembers every request and can be told to fail the next ones."""

    sent: list[Sent] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)
    on_send: Any = None  # optional hook called with the Sent record before returning
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def place_call(self, *, to: str, from_: str, answer_url: str, status_callback_url: str) -> str:
        return self._send(Sent("call", to, from_, answer_url, status_callback_url), "CA")

    def send_sms(self, *, to: str, from_: str, body: str, status_callback_url: str) -> str:
        return self._send(Sent("sms", to, from_, status_callback_url, status_callback_url, body), "SM")

    def _send(self, record: Sent, prefix: str) -> str:
        with self._lock:
            if self.failures:
                raise self.failures.pop(0)
            record.sid = f"{prefix}{next(self._ids):032d}"
            self.sent.append(record)
        if self.on_send is not None:
            self.on_send(record)
        return record.sid


@dataclass
class ProviderTransport(RecordingTransport):
    """A recording transport that can also be asked what it already has (like Twilio's lists)."""

    clock: Clock | None = None
    lookup_failures: list[BaseException] = field(default_factory=list)
    lookups: int = 0

    def _send(self, record: Sent, prefix: str) -> str:
        if self.clock is not None:
            record.created_at = self.clock.now()
        return super()._send(record, prefix)

    def find_sent(
        self, *, kind: Literal["call", "sms"], to: str, from_: str, body: str | None, since: datetime
    ) -> list[str]:
        with self._lock:
            self.lookups += 1
            if self.lookup_failures:
                raise self.lookup_failures.pop(0)
            found = [
                r.sid
                for r in self.sent
                if r.kind == kind
                and r.to == to
                and r.from_ == from_
                and (kind == "call" or r.body == body)
                and r.created_at is not None
                and r.created_at >= since
            ]
        return list(reversed(found))  # newest first, like Twilio


def events(session: Session, case_id: int, type_: CaseEventType | None = None) -> list[CaseEvent]:
    stmt = select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.id))
    if type_ is not None:
        stmt = stmt.where(CaseEvent.type == type_)
    return list(session.exec(stmt).all())


def notifications(session: Session, case_id: int | None = None) -> list[Notification]:
    stmt = select(Notification).order_by(col(Notification.id))
    if case_id is not None:
        stmt = stmt.where(Notification.case_id == case_id)
    return list(session.exec(stmt).all())


def calls(session: Session, case_id: int | None = None) -> list[CallAttempt]:
    stmt = select(CallAttempt).order_by(col(CallAttempt.id))
    if case_id is not None:
        stmt = stmt.where(CallAttempt.case_id == case_id)
    return list(session.exec(stmt).all())


def load_case(engine: Engine, case_id: int) -> Case:
    return load(engine, Case, case_id)


def open_case(
    engine: Engine,
    clock: Clock,
    policy: Mapping[str, object] | None = None,
    *,
    contacts: int = 1,
    kind: CaseKind = CaseKind.INACTIVITY,
) -> int:
    """An open case on a household with *contacts* family contacts, of a team with *policy* (None:
    the default) and one caseworker."""
    with session_scope(engine) as s:
        team = make_team(s, policy=None if policy is None else dict(policy))
        hh = make_household(s, team=team, contacts=contacts)
        make_user(s, team=team)
        case = make_open_case(s, hh, now=clock.now(), kind=kind)
        assert case.id is not None
        return case.id


def send_outbox(engine: Engine, clock: Clock, settings: Settings, transport: Transport) -> int:
    """One outbox tick without call pacing. Leases follow the test's clock, standing for the
    database's (production: database_now)."""
    return outbox.tick(engine, clock, settings, transport, pacer=CallPacer(0), lease_clock=clock)
