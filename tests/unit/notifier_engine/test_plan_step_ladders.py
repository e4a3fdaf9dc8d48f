"""plan_step is pure: walk whole ladders (repeats, exhaustion) without a database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core.enums import Channel, RecipientKind
from notifier.ladder import (
    StepPlan,
    contact_channels,
    plan_staff_only_step,
    plan_step,
    resume_after_caseworker,
    select_family_tier,
)
from notifier.policy import DEFAULT_POLICY, parse_policy
from notifier.queueing import idempotency_key
from notifier.templates import Purpose, template_for


def walk(snapshot: dict[str, Any], runs: int) -> list[tuple[StepPlan, int, int]]:
    """Run plan_step ``runs`` times from a fresh case; returns (plan, step_index, repeat) of each run."""
    i, r = 0, 0
    seen = []
    for _ in range(runs):
        plan = plan_step(snapshot, i, r)
        seen.append((plan, i, r))
        i, r = plan.next_step_index, plan.next_repeat_count
    return seen


def describe(plan: StepPlan) -> tuple[str, str, int | None]:
    action = plan.actions[0]
    name = action.action + (f":{action.tier}" if action.action == "notify_family" else "")
    minutes = None if plan.wait is None else int(plan.wait / timedelta(minutes=1))
    return plan.label, name, minutes


def test_the_default_ladder_from_first_call_to_exhaustion() -> None:
    runs = walk(DEFAULT_POLICY.snapshot(), 16)
    assert [describe(p) for p, _, _ in runs] == [
        ("0", "call_resident", 5),
        ("1", "call_resident", 10),
        ("2", "notify_family:1", 15),
        ("3", "notify_caseworker", 15),
        # repeat 1..3 from the family step
        ("2", "notify_family:1", 15),
        ("3", "notify_caseworker", 15),
        ("2", "notify_family:1", 15),
        ("3", "notify_caseworker", 15),
        ("2", "notify_family:1", 15),
        ("3", "notify_caseworker", 15),
        # exhausted: the caseworker is reminded at the last step's interval, for ever
        ("4", "notify_caseworker", 15),
        ("4", "notify_caseworker", 15),
        ("4", "notify_caseworker", 15),
        ("4", "notify_caseworker", 15),
        ("4", "notify_caseworker", 15),
        ("4", "notify_caseworker", 15),
    ]
    # The ladder's passes, then the reminders counted from 0 (the first is the one recorded).
    assert [r for _, _, r in runs] == [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 0, 1, 2, 3, 4, 5]
    assert [p.exhausted for p, _, _ in runs] == [False] * 10 + [True] * 6
    assert [p.first_exhausted for p, _, _ in runs] == [False] * 10 + [True] + [False] * 5
    assert {p.purpose for p, _, _ in runs[:10]} == {Purpose.LADDER}
    assert {p.purpose for p, _, _ in runs[10:]} == {Purpose.EXHAUSTED}


def test_every_run_of_a_ladder_has_its_own_label_and_repeat() -> None:
    runs = walk(DEFAULT_POLICY.snapshot(), 40)
    keys = [(p.label, r) for p, _, r in runs]
    assert len(set(keys)) == len(keys)


def test_a_ladder_without_repeats_is_exhausted_after_its_last_step() -> None:
    doc = {"steps": [{"action": "notify_caseworker", "wait_minutes": 30}]}
    runs = walk(doc, 3)
    assert [describe(p) for p, _, _ in runs] == [
        ("0", "notify_caseworker", 30),
        ("1", "notify_caseworker", 30),
        ("1", "notify_caseworker", 30),
    ]
    assert [p.first_exhausted for p, _, _ in runs] == [False, True, False]


def test_repeat_from_zero_runs_the_whole_ladder_again() -> None:
    doc = {
        "steps": [
            {"action": "call_resident", "wait_minutes": 3},
            {"action": "notify_family", "tier": 2, "wait_minutes": 7},
        ],
        "repeat_from": 0,
        "max_repeats": 1,
    }
    assert [describe(p) for p, _, _ in walk(doc, 5)] == [
        ("0", "call_resident", 3),
        ("1", "notify_family:2", 7),
        ("0", "call_resident", 3),
        ("1", "notify_family:2", 7),
        ("2", "notify_caseworker", 7),
    ]


def test_a_pointer_out_of_range_is_treated_as_exhausted_not_an_error() -> None:
    plan = plan_step(DEFAULT_POLICY.snapshot(), 99, 5)
    assert plan.exhausted and not plan.first_exhausted
    assert plan.actions[0].action == "notify_caseworker"


def test_an_empty_snapshot_runs_the_default_ladder() -> None:
    assert [describe(p) for p, _, _ in walk({}, 4)] == [
        describe(p) for p, _, _ in walk(DEFAULT_POLICY.snapshot(), 4)
    ]


def test_staff_only_cases_tell_the_caseworker_once_and_stop() -> None:
    plan = plan_staff_only_step(0, 0)
    assert [a.action for a in plan.actions] == ["notify_caseworker"]
    assert plan.wait is None
    assert (plan.next_step_index, plan.next_repeat_count) == (1, 0)
    # The label is the step part of the message's idempotency key; the purpose picks its text.
    assert (plan.label, plan.purpose) == ("0", Purpose.LADDER)
    assert plan_staff_only_step(2, 1).label == "2"


def test_after_an_out_of_turn_caseworker_alert_the_ladder_skips_past_the_caseworker_step() -> None:
    # At the first call: continue as if step 3 (caseworker) had run -> family again, repeat 1.
    assert resume_after_caseworker(DEFAULT_POLICY, 0, 0) == (2, 1, timedelta(minutes=15))
    assert resume_after_caseworker(DEFAULT_POLICY, 3, 2) == (2, 3, timedelta(minutes=15))
    # Last pass: the caseworker step leads to exhaustion.
    assert resume_after_caseworker(DEFAULT_POLICY, 2, 3) == (4, 0, timedelta(minutes=15))
    # Exhausted: just push the next reminder back.
    assert resume_after_caseworker(DEFAULT_POLICY, 4, 2) == (4, 2, timedelta(minutes=15))
    no_caseworker = parse_policy({"steps": [{"action": "call_resident", "wait_minutes": 5}]})
    assert resume_after_caseworker(no_caseworker, 0, 0) is None


def test_an_out_of_turn_caseworker_alert_skips_to_the_next_caseworker_step_at_or_after_the_pointer() -> None:
    policy = parse_policy(
        {
            "steps": [
                {"action": "notify_caseworker", "wait_minutes": 5},
                {"action": "call_resident", "wait_minutes": 10},
                {"action": "notify_family", "tier": 1, "wait_minutes": 20},
                {"action": "notify_caseworker", "wait_minutes": 30},
            ],
            "repeat_from": 1,
            "max_repeats": 2,
        }
    )
    # At step 0 the caseworker step is the pointer's own: continue as if it had just run.
    assert resume_after_caseworker(policy, 0, 0) == (1, 0, timedelta(minutes=5))
    # Past it, the next one ahead counts, never the one already behind the pointer.
    assert resume_after_caseworker(policy, 2, 0) == (1, 1, timedelta(minutes=30))


def test_family_tier_falls_through_to_the_next_tier_that_has_contacts() -> None:
    assert select_family_tier([1, 2, 2], 1) == 1
    assert select_family_tier([2, 3], 1) == 2
    assert select_family_tier([1, 3], 2) == 3
    assert select_family_tier([1], 2) is None
    assert select_family_tier([], 1) is None


def test_contacts_get_sms_first_whatever_they_prefer() -> None:
    assert contact_channels(Channel.SMS)[0] == Channel.SMS
    assert contact_channels(Channel.CALL)[0] == Channel.SMS


def test_idempotency_key_names_every_part() -> None:
    key = idempotency_key(
        case_id=7,
        token="abc",
        label="2",
        repeat=1,
        kind=RecipientKind.CONTACT,
        recipient_id=9,
        channel=Channel.SMS,
    )
    assert key == "case:7:tok:abc:step:2:rep:1:contact:9:sms"


def test_templates_exist_for_each_audience_and_purpose_or_fall_back_to_the_ladder_text() -> None:
    assert template_for("family", Purpose.LADDER) == "sms.family.ladder"
    assert template_for("family", Purpose.EMERGENCY) == "sms.family.emergency"
    assert template_for("family", Purpose.EXHAUSTED) == "sms.family.ladder"
    assert template_for("caseworker", Purpose.UNWELL) == "sms.caseworker.unwell"
    assert template_for("caseworker", Purpose.EXHAUSTED) == "sms.caseworker.exhausted"


_step = st.one_of(
    st.builds(lambda w: {"action": "call_resident", "wait_minutes": w}, st.integers(1, 120)),
    st.builds(
        lambda w, t: {"action": "notify_family", "tier": t, "wait_minutes": w},
        st.integers(1, 120),
        st.integers(1, 9),
    ),
    st.builds(lambda w: {"action": "notify_caseworker", "wait_minutes": w}, st.integers(1, 120)),
)


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    steps = draw(st.lists(_step, min_size=1, max_size=6))
    repeat_from = draw(st.none() | st.integers(0, len(steps) - 1))
    max_repeats = 0 if repeat_from is None else draw(st.integers(0, 4))
    return {"steps": steps, "repeat_from": repeat_from, "max_repeats": max_repeats}


@settings(max_examples=200, deadline=None)
@given(policies())
def test_every_valid_ladder_reaches_exhaustion_exactly_once_and_then_stays(doc: dict[str, Any]) -> None:
    n = len(doc["steps"])
    repeat_from = doc["repeat_from"] or 0
    ladder_runs = n + doc["max_repeats"] * (n - repeat_from)
    runs = walk(doc, ladder_runs + 5)
    assert not any(p.exhausted for p, _, _ in runs[:ladder_runs])
    assert all(p.exhausted for p, _, _ in runs[ladder_runs:])
    assert sum(p.first_exhausted for p, _, _ in runs) == 1
    assert all(p.wait is not None and p.wait >= timedelta(minutes=1) for p, _, _ in runs)
    assert all(r <= doc["max_repeats"] for _, i, r in runs if i < n)
    keys = [(p.label, r) for p, _, r in runs]
    assert len(set(keys)) == len(keys)
