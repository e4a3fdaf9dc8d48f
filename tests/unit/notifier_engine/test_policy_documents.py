"""The escalation policy as data: the default ladder, validation errors, snapshots."""

from __future__ import annotations

import json
from typing import Any

import pytest

from notifier.policy import (
    DEFAULT_POLICY,
    CallResidentStep,
    NotifyCaseworker,
    NotifyCaseworkerStep,
    NotifyFamily,
    NotifyFamilyStep,
    PolicyError,
    parse_policy,
    policy_from_snapshot,
)


def test_default_policy_is_the_agreed_ladder() -> None:
    steps = DEFAULT_POLICY.steps
    assert [type(s) for s in steps] == [
        CallResidentStep,
        CallResidentStep,
        NotifyFamilyStep,
        NotifyCaseworkerStep,
    ]
    assert [s.wait_minutes for s in steps] == [5, 10, 15, 15]
    assert isinstance(steps[2], NotifyFamilyStep) and steps[2].tier == 1
    assert DEFAULT_POLICY.repeat_from == 2
    assert DEFAULT_POLICY.max_repeats == 3
    assert DEFAULT_POLICY.emergency == [NotifyCaseworker(), NotifyFamily(tier=1)]
    assert DEFAULT_POLICY.exhausted_wait_minutes == 15


def test_snapshot_is_plain_json_and_round_trips() -> None:
    snapshot = DEFAULT_POLICY.snapshot()
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert snapshot["steps"][0] == {"action": "call_resident", "wait_minutes": 5}
    assert snapshot["steps"][2] == {"action": "notify_family", "tier": 1, "wait_minutes": 15}
    assert parse_policy(snapshot) == DEFAULT_POLICY


def _policy(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "steps": [
            {"action": "call_resident", "wait_minutes": 5},
            {"action": "notify_caseworker", "wait_minutes": 10},
        ]
    }
    doc.update(overrides)
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_policy(steps=[]), "steps: List should have at least 1 item"),
        (_policy(repeat_from=2), "repeat_from=2 is not a step index"),
        (_policy(max_repeats=2), "max_repeats is set but repeat_from is missing"),
        (
            _policy(steps=[{"action": "call_resident", "wait_minutes": 0}]),
            "steps.0.call_resident.wait_minutes: Input should be greater than or equal to 1",
        ),
        (_policy(steps=[{"action": "call_resident"}]), "steps.0.call_resident.wait_minutes: Field required"),
        (_policy(steps=[{"action": "send_pigeon", "wait_minutes": 5}]), "steps.0: Input tag 'send_pigeon'"),
        (
            _policy(steps=[{"action": "notify_family", "tier": 0, "wait_minutes": 5}]),
            "steps.0.notify_family.tier: Input should be greater than or equal to 1",
        ),
        (
            _policy(steps=[{"action": "call_resident", "wait_minutes": 5, "volume": 11}]),
            "steps.0.call_resident.volume: Extra inputs are not permitted",
        ),
        (_policy(emergency=[{"action": "call_resident"}]), "emergency.0: Input tag 'call_resident'"),
        (_policy(emergency=[]), "emergency: List should have at least 1 item"),
    ],
)
def test_invalid_policies_are_refused_with_a_precise_reason(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(doc)
    assert message in str(err.value)


def test_a_policy_without_emergency_gets_caseworker_and_family() -> None:
    policy = parse_policy(_policy())
    assert policy.emergency == [NotifyCaseworker(), NotifyFamily(tier=1)]
    assert policy.max_repeats == 0 and policy.repeat_from is None


@pytest.mark.parametrize("snapshot", [{}, None, {"steps": "nonsense"}, {"version": 99}])
def test_a_case_with_an_unusable_snapshot_still_runs_on_the_default(snapshot: Any) -> None:
    assert policy_from_snapshot(snapshot) == DEFAULT_POLICY


def test_a_valid_snapshot_is_used_as_is() -> None:
    doc = _policy(repeat_from=0, max_repeats=1)
    assert policy_from_snapshot(doc) == parse_policy(doc)
    assert policy_from_snapshot(doc) != DEFAULT_POLICY
