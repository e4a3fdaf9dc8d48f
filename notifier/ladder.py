"""The escalation ladder, pure: what one step of a case's policy does and where its pointer goes.

:func:`plan_step` decides from the policy and the pointer (``step_index``, ``repeat_count``)
alone. ``step_index`` is the next step to run. After the last step the ladder restarts at
``repeat_from`` (``repeat_count`` + 1) until ``max_repeats``; then the pointer moves to
``len(steps)``, the *exhausted* phase: the caseworker is reminded at the last step's interval
until someone acknowledges, with ``repeat_count`` counting the reminders (0 = the first, which
also records ESCALATION_EXHAUSTED and makes the case critical). Nothing here reads the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core.enums import CaseKind, Channel
from notifier.policy import (
    CallCaseworker,
    CallControlRoom,
    CallFamily,
    CallResident,
    EscalationPolicy,
    Handoff119,
    NotifyCaseworker,
    NotifyFamily,
    policy_from_snapshot,
)
from notifier.templates import Purpose

PlannedAction = (
    CallResident
    | NotifyFamily
    | NotifyCaseworker
    | CallCaseworker
    | CallControlRoom
    | CallFamily
    | Handoff119
)

# Cases about the equipment, not the person: tell staff once, never ring the resident or family
# (principle 6: connectivity is not activity).
# Away-mode reminders and unusual-pattern findings (anomaly/) are for staff only too.
STAFF_ONLY_KINDS = frozenset(
    {
        CaseKind.DEVICE_OFFLINE,
        CaseKind.AWAY_ENDED,
        CaseKind.UNUSUAL_NIGHT_ACTIVITY,
        CaseKind.UNUSUAL_DAILY_USE,
        CaseKind.FADING_ROUTINE,
    }
)

# Findings are observations for the next review, not emergencies someone is working on: once
# acknowledged they must not send the on-duty caseworker a reminder SMS every few hours.
NO_REMINDER_KINDS = frozenset(
    {CaseKind.UNUSUAL_NIGHT_ACTIVITY, CaseKind.UNUSUAL_DAILY_USE, CaseKind.FADING_ROUTINE}
)

EMERGENCY_LABEL = "emergency"
CASEWORKER_LABEL = "caseworker"


@dataclass(frozen=True)
class StepPlan:
    """What one step does now and where the pointer goes next."""

    actions: tuple[PlannedAction, ...]
    label: str  # the "step:" part of idempotency keys
    purpose: Purpose
    next_step_index: int
    next_repeat_count: int
    wait: timedelta | None  # until the next step; None = nothing more until a person acts
    exhausted: bool = False  # the ladder is over: this is a caseworker reminder
    first_exhausted: bool = False  # the first reminder: record it and make the case critical


def plan_step(snapshot: dict[str, Any], step_index: int, repeat_count: int) -> StepPlan:
    """Pure: the step at ``step_index`` of the policy in ``snapshot`` (default policy if unusable)."""
    return plan_policy_step(policy_from_snapshot(snapshot), step_index, repeat_count)


def plan_policy_step(policy: EscalationPolicy, step_index: int, repeat_count: int) -> StepPlan:
    n = len(policy.steps)
    i, r = max(step_index, 0), max(repeat_count, 0)
    if i >= n:
        return StepPlan(
            actions=(NotifyCaseworker(),),
            label=str(n),
            purpose=Purpose.EXHAUSTED,
            next_step_index=n,
            next_repeat_count=r + 1,
            wait=timedelta(minutes=policy.exhausted_wait_minutes),
            exhausted=True,
            first_exhausted=r == 0,
        )
    step = policy.steps[i]
    if i + 1 < n:
        nxt = (i + 1, r)
    elif policy.repeat_from is not None and r < policy.max_repeats:
        nxt = (policy.repeat_from, r + 1)
    else:
        nxt = (n, 0)  # exhausted from the next run on
    return StepPlan(
        actions=(step,),
        label=str(i),
        # A hand-off step's text is the hand-off sheet, not the ladder's "no sign of life" text.
        purpose=Purpose.HANDOFF_119 if isinstance(step, Handoff119) else Purpose.LADDER,
        next_step_index=nxt[0],
        next_repeat_count=nxt[1],
        wait=timedelta(minutes=step.wait_minutes),
    )


def plan_staff_only_step(step_index: int, repeat_count: int) -> StepPlan:
    """Pure: a staff-only case tells the on-duty caseworker once and then waits for a person."""
    return StepPlan(
        actions=(NotifyCaseworker(),),
        label=str(step_index),
        purpose=Purpose.LADDER,
        next_step_index=step_index + 1,
        next_repeat_count=repeat_count,
        wait=None,
    )


def resume_after_caseworker(
    policy: EscalationPolicy, step_index: int, repeat_count: int
) -> tuple[int, int, timedelta] | None:
    """Pure: where the ladder continues once the caseworker was told out of turn.

    The pointer moves as if the next caseworker step (at or after ``step_index``) had just run,
    so the resident is not rung again and the caseworker is not told twice in a row. In the
    exhausted phase the next reminder is pushed back by one interval. None = leave it alone
    (no caseworker step ahead in this pass).
    """
    n = len(policy.steps)
    if step_index >= n:
        return step_index, repeat_count, timedelta(minutes=policy.exhausted_wait_minutes)
    for k in range(max(step_index, 0), n):
        if isinstance(policy.steps[k], NotifyCaseworker):
            plan = plan_policy_step(policy, k, repeat_count)
            assert plan.wait is not None
            return plan.next_step_index, plan.next_repeat_count, plan.wait
    return None


def self_harm_actions(policy: EscalationPolicy) -> tuple[PlannedAction, ...]:
    """Pure: whom a self-harm case reaches at once (docs/calls.md, "Self-harm protocol"): the
    on-duty caseworkers, texted **and called** (a person calls someone at risk, now), then the
    policy's ``emergency`` list — its family actions only when ``self_harm.family`` is ``tell``."""
    actions: list[PlannedAction] = [NotifyCaseworker(), CallCaseworker()]
    for action in policy.emergency:
        if isinstance(action, NotifyFamily) and not policy.self_harm_tells_family:
            continue
        if action not in actions:
            actions.append(action)
    return tuple(actions)


def select_family_tier(available_tiers: Iterable[int], wanted: int) -> int | None:
    """Pure: ``wanted`` if anyone is on it, else the next tier up that has contacts (so a gap
    in the tiers never means that nobody is told), else None."""
    higher = sorted(t for t in set(available_tiers) if t >= wanted)
    return higher[0] if higher else None


def contact_channels(preferred: Channel) -> tuple[Channel, ...]:
    """Pure: the channels a contact is notified on, SMS first.

    Everyone gets the SMS (a written record that carries the reply-to-acknowledge instruction);
    a contact who prefers calls is also called (``notifier.calls``: the alert, then "press 1").
    """
    return (Channel.SMS, Channel.CALL) if preferred == Channel.CALL else (Channel.SMS,)
