"""The queue's "what happens next" comes from the engine's own planner."""

from __future__ import annotations

from datetime import UTC, datetime

from api.next_step import next_actions
from core.enums import CaseKind, CaseStatus
from core.models import Case
from tests.factories import case_row

T = datetime(2026, 3, 2, tzinfo=UTC)
POLICY = {
    "steps": [
        {"action": "call_resident", "wait_minutes": 5},
        {"action": "notify_family", "tier": 1, "wait_minutes": 15},
        {"action": "notify_caseworker", "wait_minutes": 15},
    ],
    "repeat_from": 1,
    "max_repeats": 1,
}


def _case(**values: object) -> Case:
    return case_row(T, **{"policy_snapshot": POLICY, "next_action_at": T, **values})


def test_open_case_names_the_step_at_its_pointer() -> None:
    assert next_actions(_case(step_index=0)) == ["call_resident"]
    assert next_actions(_case(step_index=1)) == ["notify_family"]
    assert next_actions(_case(step_index=2)) == ["notify_caseworker"]
    assert next_actions(_case(step_index=3)) == ["notify_caseworker"]  # exhausted: caseworker reminders


def test_device_offline_cases_only_ever_tell_staff() -> None:
    assert next_actions(_case(kind=CaseKind.DEVICE_OFFLINE, step_index=0)) == ["notify_caseworker"]


def test_nothing_scheduled_means_nothing_next() -> None:
    assert next_actions(_case(next_action_at=None)) == []
    assert next_actions(_case(status=CaseStatus.RESOLVED)) == []
    assert next_actions(_case(status=CaseStatus.ACKNOWLEDGED)) == ["follow_up"]
