"""Fixtures for the call and SMS webhook handler tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlmodel import Session

from core.models import Case


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
