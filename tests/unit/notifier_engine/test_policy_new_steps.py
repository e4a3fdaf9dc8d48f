"""Issue 17's policy steps (a control-room call, a family voice call, a 119 hand-off) and issue
19's ``self_harm`` choices, as data: what validates, what is refused and where, what a step plans.
Before, each of these documents was refused ("action: … does not match any of the expected tags")."""

from __future__ import annotations

import re
from typing import Any

import pytest

from notifier.ladder import plan_policy_step, self_harm_actions
from notifier.policy import (
    CallCaseworker,
    CallControlRoom,
    CallControlRoomStep,
    CallFamily,
    CallFamilyStep,
    Handoff119,
    Handoff119Step,
    NotifyCaseworker,
    NotifyFamily,
    PolicyError,
    parse_policy,
)
from notifier.templates import Purpose

STEPS: list[dict[str, Any]] = [
    {"action": "call_resident", "wait_minutes": 5},
    {"action": "call_family", "tier": 2, "wait_minutes": 10},
    {"action": "call_control_room", "wait_minutes": 10},
    {"action": "handoff_119", "wait_minutes": 30},
]


def test_the_new_steps_validate_in_the_ladder_and_among_emergency_actions() -> None:
    policy = parse_policy(
        {
            "steps": STEPS,
            "emergency": [
                {"action": "handoff_119"},
                {"action": "call_family"},
                {"action": "call_control_room"},
            ],
        }
    )
    assert [type(s) for s in policy.steps[1:]] == [CallFamilyStep, CallControlRoomStep, Handoff119Step]
    assert isinstance(policy.steps[1], CallFamilyStep) and policy.steps[1].tier == 2
    assert policy.emergency == [Handoff119(), CallFamily(tier=1), CallControlRoom()]
    assert parse_policy(policy.snapshot()) == policy  # round-trips through the case snapshot


def test_a_hand_off_step_plans_the_hand_off_text_other_steps_the_ladders() -> None:
    policy = parse_policy({"steps": STEPS})
    assert [plan_policy_step(policy, i, 0).purpose for i in range(4)] == [
        Purpose.LADDER,
        Purpose.LADDER,
        Purpose.LADDER,
        Purpose.HANDOFF_119,
    ]


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ({"steps": [{"action": "call_family", "tier": 0, "wait_minutes": 5}]}, "steps.0.call_family.tier"),
        ({"steps": [{"action": "handoff_119", "tier": 1, "wait_minutes": 5}]}, "steps.0.handoff_119.tier"),
        ({"steps": [{"action": "call_control_room"}]}, "steps.0.call_control_room.wait_minutes"),
        ({"steps": [{"action": "dial_119", "wait_minutes": 5}]}, "steps.0"),
        ({"steps": STEPS, "emergency": [{"action": "call_resident"}]}, "emergency.0"),
        ({"steps": STEPS, "self_harm": {"family": "maybe"}}, "self_harm.family"),
        (
            {"steps": STEPS, "self_harm": {"control_room_after_minutes": 0}},
            "self_harm.control_room_after_minutes",
        ),
        (
            {"steps": STEPS, "self_harm": {"control_room_after_minutes": 121}},
            "self_harm.control_room_after_minutes",
        ),
        ({"steps": STEPS, "self_harm": {"tell_family": True}}, "self_harm.tell_family"),
    ],
)
def test_each_mistake_is_named_where_it_is(document: dict[str, Any], where: str) -> None:
    with pytest.raises(PolicyError, match=re.escape(where + ": ")):
        parse_policy(document)


def test_self_harm_reaches_the_caseworker_by_text_and_call_and_the_family_only_when_told() -> None:
    told = parse_policy({"steps": STEPS, "emergency": [{"action": "notify_family", "tier": 1}]})
    assert self_harm_actions(told) == (NotifyCaseworker(), CallCaseworker(), NotifyFamily(tier=1))
    not_told = parse_policy(
        {
            "steps": STEPS,
            "emergency": [{"action": "notify_family"}, {"action": "call_control_room"}],
            "self_harm": {"family": "do_not_tell"},
        }
    )
    assert self_harm_actions(not_told) == (NotifyCaseworker(), CallCaseworker(), CallControlRoom())
    assert parse_policy({"steps": STEPS}).self_harm.family == "tell"  # the default, docs/calls.md says why
