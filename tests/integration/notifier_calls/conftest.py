"""Fixtures and helpers for the call and SMS webhook handler tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import Language
from core.models import Case, Contact, Resident
from tests.factories import make_household, make_open_case, make_watch


@dataclass
class Home:
    household_id: int
    code: str
    case_id: int | None
    contact_id: int
    contact_phone: str
    resident_id: int
    resident_phone: str


def make_home(
    engine: Engine,
    clock: ManualClock,
    *,
    with_case: bool = True,
    language: Language = Language.KO,
    resident_phone: str = "+821012345678",
    address: str | None = None,
) -> Home:
    """A household silent for 14 h, with its one contact and resident, and an open case unless not."""
    with session_scope(engine) as s:
        hh = make_household(s, language=language, resident_phone=resident_phone)
        if address is not None:
            hh.address = address
        make_watch(s, hh, last_activity_at=clock.now() - timedelta(hours=14))
        case = make_open_case(s, hh, now=clock.now()) if with_case else None
        contact = s.exec(select(Contact).where(Contact.household_id == hh.id)).one()
        resident = s.exec(select(Resident).where(Resident.household_id == hh.id)).one()
        assert hh.id is not None and contact.id is not None and resident.id is not None
        assert resident.phone is not None
        return Home(
            hh.id, hh.code, case.id if case else None, contact.id, contact.phone, resident.id, resident.phone
        )


@dataclass
class EscalationRecorder:
    """Stands in for notifier.escalation.escalate_now and remembers what it was asked."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False

    def __call__(self, session: Session, case: Case, *, target: str, now: Any, reason: str) -> None:
        self.calls.append({"case_id": case.id, "target": target, "now": now, "reason": reason})
        if self.fail:
            raise RuntimeError("engine is broken")


@pytest.fixture
def escalations(monkeypatch: pytest.MonkeyPatch) -> EscalationRecorder:
    recorder = EscalationRecorder()
    monkeypatch.setattr("notifier.escalation.escalate_now", recorder)
    return recorder
