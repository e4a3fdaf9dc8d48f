"""Escalation: one policy step per due case, written as outbox rows, and escalation out of turn.

:func:`tick` finds open cases whose ``next_action_at`` has come and, for each in its own
transaction, parses the case's policy snapshot once, plans the step (:mod:`notifier.ladder`),
finds who it reaches (:mod:`notifier.recipients`), moves the pointer with
:func:`notifier.lifecycle.advance_escalation` (the fencing token and version make it a claim: a
second worker, or an acknowledgement that landed in between, makes it return False and the whole
step rolls back) and writes the rows through :func:`notifier.queueing.queue_for`, stamped with
the token. Quiet hours defer the step or skip the resident; the policy's pre-call SMS goes
before the case's first call to the resident. Nothing is sent here; the outbox sends.

:func:`escalate_now` acts on what a resident said (unwell, help) without waiting for the ladder.
Reminders and "all clear" are :mod:`notifier.followup`; check-in calls :mod:`notifier.checkins`.

A little over 450 lines: the ladder's step and the out-of-turn escalation share the same
recipient rules (quiet hours, the self-harm protocol's filters, the hand-off's own text) and the
same claim on the case; the out-of-turn half (``escalate_now`` and its helpers) is the natural
place to split if it grows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.clock import Clock
from core.db import session_scope
from core.enums import (
    ACTIVE_CASE_STATUSES,
    CaseEventType,
    CaseKind,
    CaseStatus,
    Channel,
    RecipientKind,
    Severity,
)
from core.i18n import in_every_language
from core.models import CallAttempt, Case, Household, Notification
from core.settings import Settings
from notifier import lifecycle
from notifier.ladder import (
    CASEWORKER_LABEL,
    EMERGENCY_LABEL,
    STAFF_ONLY_KINDS,
    PlannedAction,
    StepPlan,
    plan_policy_step,
    plan_staff_only_step,
    resume_after_caseworker,
    self_harm_actions,
)
from notifier.policy import (
    CallResident,
    EscalationPolicy,
    Handoff119,
    NotifyCaseworker,
    policy_from_snapshot,
    quiet_until,
    snapshot_for_household,
)
from notifier.queueing import queue_for, record_step
from notifier.recipients import Recipient, resolve_recipients
from notifier.script import CATALOGUE
from notifier.templates import Purpose

log = logging.getLogger(__name__)


class _StepLost(Exception):
    """Another worker ran this step, or the case changed: roll the step back."""


def tick(engine: Engine, clock: Clock, settings: Settings, *, limit: int = 100) -> int:
    """Run one step for each due open case; returns how many steps ran."""
    now = clock.now()
    with session_scope(engine) as session:
        due = session.exec(
            select(Case.id)
            .where(Case.status == CaseStatus.OPEN, col(Case.next_action_at) <= now)
            .order_by(col(Case.next_action_at), col(Case.id))
            .limit(limit)
        ).all()
    ran = 0
    for case_id in due:
        assert case_id is not None
        try:
            with session_scope(engine) as session:
                if not run_due_step(session, case_id, now):
                    raise _StepLost
            ran += 1
        except _StepLost:
            continue
        except Exception:  # one bad case must not stop the others from escalating
            log.exception("escalation step failed for case %s", case_id)
    return ran


def run_due_step(session: Session, case_id: int, now: datetime) -> bool:
    """Run the due step of one case in the caller's transaction. False = nothing done (not due
    any more, or the fencing token / version moved under us): the caller rolls back."""
    case = session.get(Case, case_id)
    if (
        case is None
        or case.status != CaseStatus.OPEN
        or case.next_action_at is None
        or case.next_action_at > now
    ):
        return False
    household = session.get(Household, case.household_id)
    assert household is not None
    token, step_index, repeat, old_severity = (
        case.escalation_token,
        case.step_index,
        case.repeat_count,
        case.severity,
    )
    policy = policy_from_snapshot(case.policy_snapshot)  # parsed once for the whole step
    if case.kind in STAFF_ONLY_KINDS:
        plan = plan_staff_only_step(step_index, repeat)
    else:
        plan = plan_policy_step(policy, step_index, repeat)
    recipients = resolve_recipients(session, household, plan.actions)
    quiet_end = _quiet_end(policy, case, household, plan, now)
    skipped: str | None = None
    if quiet_end is not None:
        assert policy.quiet_hours is not None
        if policy.quiet_hours.mode == "defer":
            return _defer_for_quiet_hours(session, case, plan, token=token, until=quiet_end, now=now)
        recipients = [r for r in recipients if r.kind != RecipientKind.RESIDENT]
        skipped = "quiet_hours"
    if case.kind == CaseKind.SELF_HARM_RISK:
        recipients, skipped = _self_harm_step_recipients(policy, recipients, skipped)
    if policy.pre_call_sms and case.kind not in STAFF_ONLY_KINDS:
        recipients = _with_pre_call_notice(session, case, recipients)
    if plan.wait is None:
        next_at: datetime | None = None
    elif not recipients and not plan.exhausted:
        next_at = now  # nobody to reach at this step: waiting would only delay the next one
    else:
        next_at = now + plan.wait
    # Claim first: the conditional UPDATE makes a concurrent worker (or an acknowledgement that
    # replaced the token) fail here, before any row is written.
    if not lifecycle.advance_escalation(
        session,
        case,
        token=token,
        step_index=plan.next_step_index,
        repeat_count=plan.next_repeat_count,
        next_action_at=next_at,
        severity=Severity.CRITICAL if plan.first_exhausted else None,
    ):
        return False
    if plan.first_exhausted:
        lifecycle.record_event(
            session, case, CaseEventType.ESCALATION_EXHAUSTED, now, severity=case.severity.value
        )
        if case.severity != old_severity:
            lifecycle.record_event(
                session,
                case,
                CaseEventType.SEVERITY_RAISED,
                now,
                severity=case.severity.value,
                reason="escalation_exhausted",
            )
    notices = [r for r in recipients if r.kind == RecipientKind.RESIDENT and r.channel == Channel.SMS]
    queued = queue_for(
        session,
        case,
        household,
        notices,
        label=plan.label,
        repeat=repeat,
        purpose=Purpose.PRE_CALL,
        limits=policy.limits,
        now=now,
    )
    queued += queue_for(
        session,
        case,
        household,
        [r for r in recipients if r not in notices],
        label=plan.label,
        repeat=repeat,
        purpose=plan.purpose,
        limits=policy.limits,
        now=now,
    )
    record_step(
        session,
        case,
        now,
        label=plan.label,
        repeat=repeat,
        actions=[a.action for a in plan.actions],
        purpose=plan.purpose,
        recipients=len(recipients),
        queued=queued,
        next_action_at=next_at.isoformat() if next_at else None,
        **({"skipped": skipped} if skipped else {}),
    )
    if not recipients:
        log.warning(
            "case %s (household %s): step %s reached nobody (%s)",
            case.id,
            household.code,
            plan.label,
            ",".join(a.action for a in plan.actions),
        )
    return True


def _self_harm_step_recipients(
    policy: EscalationPolicy, recipients: list[Recipient], skipped: str | None
) -> tuple[list[Recipient], str | None]:
    """A self-harm case's ladder: a person calls someone at risk, never the "are you all right?"
    robot; and the family only hears of it when the policy says so (docs/calls.md)."""
    kept = [
        r
        for r in recipients
        if r.kind != RecipientKind.RESIDENT
        and (r.kind != RecipientKind.CONTACT or policy.self_harm_tells_family)
    ]
    return kept, ("self_harm" if len(kept) < len(recipients) else skipped)


def _quiet_end(
    policy: EscalationPolicy, case: Case, household: Household, plan: StepPlan, now: datetime
) -> datetime | None:
    """When the quiet hours end, if this step would ring the resident during them for a case that
    is not an emergency (critical, or the resident asked for help: then we always call)."""
    if (
        policy.quiet_hours is None
        or case.severity == Severity.CRITICAL
        or case.kind == CaseKind.HELP_REQUESTED
        or not any(isinstance(a, CallResident) for a in plan.actions)
    ):
        return None
    return quiet_until(now, household.timezone, policy.quiet_hours)


def _defer_for_quiet_hours(
    session: Session, case: Case, plan: StepPlan, *, token: str, until: datetime, now: datetime
) -> bool:
    """Keep the pointer where it is and come back when the quiet hours end."""
    if not lifecycle.advance_escalation(
        session,
        case,
        token=token,
        step_index=case.step_index,
        repeat_count=case.repeat_count,
        next_action_at=until,
    ):
        return False
    record_step(
        session,
        case,
        now,
        label=plan.label,
        repeat=case.repeat_count,
        actions=[a.action for a in plan.actions],
        purpose=plan.purpose,
        deferred="quiet_hours",
        next_action_at=until.isoformat(),
    )
    return True


def _with_pre_call_notice(session: Session, case: Case, recipients: list[Recipient]) -> list[Recipient]:
    """Before the case's first call to a resident, text them that we are about to call."""
    residents = [r for r in recipients if r.kind == RecipientKind.RESIDENT and r.channel == Channel.CALL]
    if not residents:
        return recipients
    called = session.exec(
        select(CallAttempt.id).where(
            CallAttempt.case_id == case.id, CallAttempt.recipient_kind == RecipientKind.RESIDENT
        )
    ).first()
    if called is not None:
        return recipients
    notices = [Recipient(r.kind, r.id, r.address, r.language, Channel.SMS) for r in residents]
    return notices + recipients


# ---------------------------------------------------------------- out of turn


def escalate_now(
    session: Session,
    case: Case,
    *,
    target: Literal["caseworker", "emergency"],
    now: datetime,
    reason: str,
) -> None:
    """Act on what the resident said on a call, without waiting for the ladder.

    ``caseworker`` (the resident is unwell): queue the caseworker SMS now and continue the
    ladder after its caseworker step. ``emergency`` (the resident needs help): raise the case to
    critical and queue the policy's emergency actions (caseworker and family together) now.

    Idempotent per fencing token: a second call (a retried webhook) queues nothing and records
    nothing, and ``caseworker`` after ``emergency`` adds nothing. If the case is no longer
    active (cleared or resolved while the call was going on), the request is not dropped: a
    ``help_requested`` case is opened (or the active one reused) and escalated instead.
    Runs in the caller's transaction; never commits.
    """
    if case.status not in ACTIVE_CASE_STATUSES:
        case = _help_case(session, case, target=target, now=now, reason=reason)
    assert case.id is not None
    labels = [EMERGENCY_LABEL] if target == "emergency" else [CASEWORKER_LABEL, EMERGENCY_LABEL]
    if _already_queued(session, case, labels):
        log.info("case %s: escalate_now(%s) already done for this token", case.id, target)
        return
    household = session.get(Household, case.household_id)
    assert household is not None
    policy = policy_from_snapshot(case.policy_snapshot)
    actions: tuple[PlannedAction, ...]
    if target == "emergency":
        lifecycle.raise_severity(session, case, severity=Severity.CRITICAL, reason=reason, now=now)
        if case.kind == CaseKind.SELF_HARM_RISK:
            # Caseworkers texted and called, family per policy, with texts written for it (docs/calls.md).
            actions, purpose = self_harm_actions(policy), Purpose.SELF_HARM
        else:
            actions, purpose = tuple(policy.emergency), Purpose.EMERGENCY
        label = EMERGENCY_LABEL
    else:
        actions, label, purpose = (NotifyCaseworker(),), CASEWORKER_LABEL, Purpose.UNWELL
    recipients, _ = _out_of_turn(
        session, case, household, actions, label=label, purpose=purpose, policy=policy, now=now, reason=reason
    )
    if not recipients:
        log.warning(
            "case %s (household %s): escalate_now(%s) reached nobody", case.id, household.code, target
        )
    skip_to_after_caseworker(session, case, now=now, policy=policy)


def skip_to_after_caseworker(
    session: Session, case: Case, *, now: datetime, policy: EscalationPolicy | None = None
) -> None:
    """Move an open case's ladder on as if its next caseworker step had just run (staff were
    told out of turn): the resident is not rung again with "are you all right?" and the
    caseworker is not told twice in a row. Also used when the news went out on another case
    (a self-harm reply, ``notifier.replies``)."""
    if case.status != CaseStatus.OPEN or case.kind in STAFF_ONLY_KINDS:
        return
    policy = policy or policy_from_snapshot(case.policy_snapshot)
    resume = resume_after_caseworker(policy, case.step_index, case.repeat_count)
    if resume is None:
        return
    step_index, repeat, wait = resume
    moved = lifecycle.advance_escalation(
        session,
        case,
        token=case.escalation_token,
        step_index=step_index,
        repeat_count=repeat,
        next_action_at=now + wait,
    )
    if not moved:
        log.warning("case %s changed while escalating out of turn; ladder left as is", case.id)


VERIFY_LABEL = "verify"


def call_back_to_verify(session: Session, case: Case, *, now: datetime) -> int:
    """Call the resident back on the number on file, now: their "I'm fine" came by a channel
    that proves only caller ID (a text, a call to our number), and only their own phone can
    answer our call (:mod:`notifier.replies`). One such call per fencing token; the policy's
    daily call limit applies. Returns how many calls were queued."""
    household = session.get(Household, case.household_id)
    assert household is not None
    _, queued = _out_of_turn(
        session,
        case,
        household,
        (CallResident(),),
        label=VERIFY_LABEL,
        purpose=Purpose.LADDER,
        policy=policy_from_snapshot(case.policy_snapshot),
        now=now,
        reason="resident_ok_unverified",
    )
    return queued


def _out_of_turn(
    session: Session,
    case: Case,
    household: Household,
    actions: Sequence[PlannedAction],
    *,
    label: str,
    purpose: Purpose,
    policy: EscalationPolicy,
    now: datetime,
    reason: str,
) -> tuple[list[Recipient], int]:
    """Queue ``actions`` now, outside the ladder (repeat 0 of ``label``: once per fencing
    token), and record the step; returns who they reach and how many rows were new."""
    recipients, queued = [], 0
    # A hand-off's text is the hand-off sheet, whatever else this moment sends (docs/calls.md).
    handoffs = [a for a in actions if isinstance(a, Handoff119)]
    others = [a for a in actions if not isinstance(a, Handoff119)]
    for group, why in ((others, purpose), (handoffs, Purpose.HANDOFF_119)):
        if not group:
            continue
        reached = resolve_recipients(session, household, group)
        queued += queue_for(
            session,
            case,
            household,
            reached,
            label=label,
            repeat=0,
            purpose=why,
            limits=policy.limits,
            now=now,
        )
        recipients += [r for r in reached if r not in recipients]
    record_step(
        session,
        case,
        now,
        label=label,
        repeat=0,
        actions=[a.action for a in actions],
        purpose=purpose,
        reason=reason,
        recipients=len(recipients),
        queued=queued,
    )
    return recipients, queued


def _help_case(
    session: Session, stale: Case, *, target: Literal["caseworker", "emergency"], now: datetime, reason: str
) -> Case:
    case, opened = lifecycle.open_or_redetect(
        session,
        household_id=stale.household_id,
        kind=CaseKind.HELP_REQUESTED,
        severity=Severity.CRITICAL if target == "emergency" else Severity.ALERT,
        # stale is cleared or resolved: the catalogue says which, in every language
        explanation=in_every_language(
            lambda language: CATALOGUE.text(
                f"case.explanation.help_after_{stale.status.value}", language, case=stale.id, reason=reason
            )
        ),
        policy_snapshot=snapshot_for_household(session, stale.household_id),
        now=now,
    )
    log.warning(
        "case %s is %s; %s help_requested case %s for escalate_now(%s)",
        stale.id,
        stale.status.value,
        "opened" if opened else "reused",
        case.id,
        target,
    )
    return case


def _already_queued(session: Session, case: Case, labels: Sequence[str]) -> bool:
    for label in labels:
        prefix = f"case:{case.id}:tok:{case.escalation_token}:step:{label}:"
        for model in (Notification, CallAttempt):
            hit = session.exec(
                select(model.id).where(col(model.idempotency_key).startswith(prefix, autoescape=True))
            ).first()
            if hit is not None:
                return True
    return False
