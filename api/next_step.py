"""What the escalation engine will do next for a case, in words the queue can show.

Pure, from the case row alone, using the engine's own planners so the queue never
describes a different step from the one that will run.
"""

from __future__ import annotations

from core.enums import CaseStatus
from core.models import Case
from notifier.ladder import STAFF_ONLY_KINDS, plan_staff_only_step, plan_step

FOLLOW_UP = "follow_up"  # an acknowledged case: a reminder to the person who took it


def next_actions(case: Case) -> list[str]:
    """Action names (``call_resident``, ``notify_family``, ``notify_caseworker``, ``follow_up``)
    of the step due at ``case.next_action_at``; empty when nothing is scheduled."""
    if case.next_action_at is None:
        return []
    if case.status == CaseStatus.ACKNOWLEDGED:
        return [FOLLOW_UP]
    if case.status != CaseStatus.OPEN:
        return []
    if case.kind in STAFF_ONLY_KINDS:
        plan = plan_staff_only_step(case.step_index, case.repeat_count)
    else:
        plan = plan_step(case.policy_snapshot, case.step_index, case.repeat_count)
    return [action.action for action in plan.actions]
