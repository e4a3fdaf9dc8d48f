"""The escalation engine: one policy step per due case, written as outbox rows.

Pure core: :func:`plan_step` decides what a step does and when the next one is due, from the
case's policy snapshot and its pointer (``step_index``, ``repeat_count``) alone.

Shell: :func:`tick` finds open cases whose ``next_action_at`` has come and, for each in its
own transaction, moves the pointer with :func:`notifier.lifecycle.advance_escalation` (the
fencing token and version make it a claim: a second worker, or an acknowledgement that landed
in between, makes it return False and the whole step rolls back) and writes ``CallAttempt`` /
``Notification`` rows stamped with the token. Nothing is sent here; the outbox sends.

Pointer semantics: ``step_index`` is the next step to run. After the last step the ladder
restarts at ``repeat_from`` (``repeat_count`` + 1) until ``max_repeats``; then the pointer
moves to ``len(steps)``, the *exhausted* phase: the caseworker is reminded at the last step's
interval until someone acknowledges, with ``repeat_count`` counting the reminders (0 = the
first, which also records ESCALATION_EXHAUSTED and makes the case critical).

Idempotency: every row has the key
``case:{id}:tok:{token}:step:{label}:rep:{r}:{recipient_kind}:{recipient_id}:{channel}``
(unique index), so running the same step twice can never queue a second message.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.clock import Clock
from core.db import session_scope
from core.enums import (
    ACTIVE_CASE_STATUSES,
    CallStatus,
    CaseEventType,
    CaseKind,
    CaseStatus,
    Channel,
    Language,
    OutboxStatus,
    RecipientKind,
    Role,
    Severity,
)
from core.i18n import Catalogue
from core.models import CallAttempt, Case, Contact, Household, Notification, Resident, User
from core.settings import Settings
from notifier import lifecycle
from notifier.policy import (
    CallResident,
    EscalationPolicy,
    Limits,
    NotifyCaseworker,
    NotifyFamily,
    local_day_start,
    policy_from_snapshot,
    quiet_until,
    snapshot_for_household,
)
from notifier.transports.base import mask_phone

log = logging.getLogger(__name__)

MESSAGES = Catalogue(Path(__file__).with_name("messages"))

PlannedAction = CallResident | NotifyFamily | NotifyCaseworker

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


class Purpose(StrEnum):
    """Why a message is sent; with the audience it picks the SMS template."""

    LADDER = "ladder"
    EXHAUSTED = "exhausted"
    UNWELL = "unwell"
    EMERGENCY = "emergency"
    ACK_REMINDER = "ack_reminder"  # acknowledged, still not resolved (notifier.followup)
    ALL_CLEAR = "all_clear"  # the case cleared, or was resolved as fine/false alarm (notifier.followup)
    CLOSED = "closed"  # resolved with another outcome: no "all clear", the caseworker explains
    PRE_CALL = "pre_call"  # "we are about to call you" text to the resident (policy pre_call_sms)


Audience = Literal["family", "caseworker", "resident"]

# Templates that exist for an (audience, purpose) pair; anything else uses the ladder text.
SMS_TEMPLATES = frozenset(
    {
        "sms.family.ladder",
        "sms.family.emergency",
        "sms.caseworker.ladder",
        "sms.caseworker.exhausted",
        "sms.caseworker.unwell",
        "sms.caseworker.emergency",
        "sms.caseworker.ack_reminder",
        "sms.family.all_clear",
        "sms.caseworker.all_clear",
        "sms.family.closed",
        "sms.caseworker.closed",
    }
)
# To the resident themself: names no household code (they do not know it) and no case detail.
PRE_CALL_TEMPLATE = "sms.resident.pre_call"

# "The case is over" messages: sent after the case left the active states, so the fencing token
# says nothing about them; the outbox never cancels them as stale.
CLOSURE_TEMPLATES = frozenset(
    {"sms.family.all_clear", "sms.caseworker.all_clear", "sms.family.closed", "sms.caseworker.closed"}
)

# Messages whose news stays true after someone acknowledges the case: the resident asked for
# help or said they are unwell. The outbox still sends these when only an acknowledgement
# (not a clear or resolve) replaced the token. Everything else is cancelled when stale.
SURVIVES_ACKNOWLEDGEMENT = frozenset(
    {"sms.caseworker.unwell", "sms.caseworker.emergency", "sms.family.emergency"}
)


def template_for(audience: Audience, purpose: Purpose) -> str:
    key = f"sms.{audience}.{purpose.value}"
    if key in SMS_TEMPLATES:
        return key
    return PRE_CALL_TEMPLATE if audience == "resident" else f"sms.{audience}.ladder"


# ---------------------------------------------------------------- pure core


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
        purpose=Purpose.LADDER,
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


def idempotency_key(
    *,
    case_id: int,
    token: str,
    label: str,
    repeat: int,
    kind: RecipientKind,
    recipient_id: int,
    channel: Channel,
) -> str:
    return f"case:{case_id}:tok:{token}:step:{label}:rep:{repeat}:{kind.value}:{recipient_id}:{channel.value}"


# ---------------------------------------------------------------- recipients (DB reads)


@dataclass(frozen=True)
class Recipient:
    kind: RecipientKind
    id: int
    address: str
    language: Language
    channel: Channel
    audience: Audience | None  # None for the resident (a call, not an SMS)


def resolve_recipients(
    session: Session, household: Household, actions: Sequence[PlannedAction]
) -> list[Recipient]:
    """Everyone the actions reach, in action order, each (kind, id, channel) once."""
    found: list[Recipient] = []
    for action in actions:
        if isinstance(action, CallResident):
            found.extend(_residents(session, household))
        elif isinstance(action, NotifyFamily):
            found.extend(_family(session, household, action.tier))
        else:
            found.extend(_caseworkers(session, household))
    unique: dict[tuple[RecipientKind, int, Channel], Recipient] = {}
    for rec in found:
        unique.setdefault((rec.kind, rec.id, rec.channel), rec)
    return list(unique.values())


def _residents(session: Session, household: Household) -> list[Recipient]:
    rows = session.exec(
        select(Resident).where(Resident.household_id == household.id).order_by(col(Resident.id))
    ).all()
    return [
        Recipient(RecipientKind.RESIDENT, r.id, r.phone, r.language, Channel.CALL, None)
        for r in rows
        if r.id is not None and r.phone
    ]


def _family(session: Session, household: Household, tier: int) -> list[Recipient]:
    contacts = [
        c
        for c in session.exec(
            select(Contact)
            .where(Contact.household_id == household.id, col(Contact.opted_out).is_(False))
            .order_by(col(Contact.id))
        ).all()
        if c.phone and c.id is not None
    ]
    chosen = select_family_tier((c.tier for c in contacts), tier)
    return [
        Recipient(RecipientKind.CONTACT, c.id, c.phone, c.language, channel, "family")
        for c in contacts
        if c.tier == chosen and c.id is not None
        for channel in contact_channels(c.preferred_channel)
    ]


def _caseworkers(session: Session, household: Household) -> list[Recipient]:
    users = session.exec(
        select(User)
        .where(
            User.team_id == household.team_id,
            User.role == Role.CASEWORKER,
            col(User.on_duty).is_(True),
            col(User.is_active).is_(True),
        )
        .order_by(col(User.id))
    ).all()
    return [
        Recipient(RecipientKind.USER, u.id, u.phone, u.language, Channel.SMS, "caseworker")
        for u in users
        if u.id is not None and u.phone
    ]


# ---------------------------------------------------------------- writing rows


def queue_for(
    session: Session,
    case: Case,
    household: Household,
    recipients: Sequence[Recipient],
    *,
    label: str,
    repeat: int,
    purpose: Purpose,
    now: datetime,
) -> int:
    """Write one outbox row per recipient (skipping keys that exist); returns how many were new."""
    assert case.id is not None and household.id is not None
    limits = policy_from_snapshot(case.policy_snapshot).limits
    queued = 0
    for rec in recipients:
        if _over_limit(session, household, rec, purpose, limits, now):
            lifecycle.record_event(
                session,
                case,
                CaseEventType.LIMIT_REACHED,
                now,
                recipient_kind=rec.kind.value,
                recipient_id=rec.id,
                channel=rec.channel.value,
                step=label,
                repeat=repeat,
            )
            log.warning(
                "case %s (household %s): %s limit reached, %s %s not queued",
                case.id,
                household.code,
                rec.channel.value,
                rec.kind.value,
                rec.id,
            )
            continue
        key = idempotency_key(
            case_id=case.id,
            token=case.escalation_token,
            label=label,
            repeat=repeat,
            kind=rec.kind,
            recipient_id=rec.id,
            channel=rec.channel,
        )
        if rec.channel == Channel.CALL:
            call = CallAttempt(
                case_id=case.id,
                household_id=household.id,
                recipient_kind=rec.kind,
                recipient_id=rec.id,
                to_number=rec.address,
                language=rec.language,
                code=uuid.uuid4().hex,
                idempotency_key=key,
                escalation_token=case.escalation_token,
                status=CallStatus.PENDING,
                created_at=now,
                updated_at=now,
            )
            if _insert_once(session, call, CallAttempt, key):
                queued += 1
                lifecycle.record_event(
                    session,
                    case,
                    CaseEventType.CALL_QUEUED,
                    now,
                    call_attempt_id=call.id,
                    recipient_kind=rec.kind.value,
                    recipient_id=rec.id,
                    to=mask_phone(rec.address),
                    step=label,
                    repeat=repeat,
                )
            continue
        assert rec.audience is not None
        template = template_for(rec.audience, purpose)
        note = Notification(
            case_id=case.id,
            household_id=household.id,
            recipient_kind=rec.kind,
            recipient_id=rec.id,
            to_address=rec.address,
            channel=rec.channel,
            language=rec.language,
            template=template,
            body=sms_body(template, rec.language, household_code=household.code, case=case),
            idempotency_key=key,
            escalation_token=case.escalation_token,
            status=OutboxStatus.PENDING,
            created_at=now,
        )
        if _insert_once(session, note, Notification, key):
            queued += 1
            lifecycle.record_event(
                session,
                case,
                CaseEventType.NOTIFICATION_QUEUED,
                now,
                notification_id=note.id,
                recipient_kind=rec.kind.value,
                recipient_id=rec.id,
                channel=rec.channel.value,
                template=template,
                to=mask_phone(rec.address),
                step=label,
                repeat=repeat,
            )
    return queued


def limit_applies(rec: Recipient, purpose: Purpose) -> bool:
    """Pure: caps hold back calls and family texts, never an emergency, a caseworker or a closure."""
    if purpose in (Purpose.EMERGENCY, Purpose.ALL_CLEAR, Purpose.CLOSED) or rec.kind == RecipientKind.USER:
        return False
    return rec.channel == Channel.CALL or rec.kind == RecipientKind.CONTACT


def _over_limit(
    session: Session, household: Household, rec: Recipient, purpose: Purpose, limits: Limits, now: datetime
) -> bool:
    if not limit_applies(rec, purpose):
        return False
    assert household.id is not None
    if rec.channel == Channel.CALL:
        return calls_today(session, household, now) >= limits.calls_per_household_per_day
    count_sms = select(func.count()).where(
        Notification.household_id == household.id,
        Notification.recipient_kind == RecipientKind.CONTACT,
        col(Notification.created_at) >= local_day_start(now, household.timezone),
        Notification.status != OutboxStatus.CANCELLED,
    )
    return session.exec(count_sms).one() >= limits.family_sms_per_household_per_day


def calls_today(session: Session, household: Household, now: datetime) -> int:
    """Calls queued for the household since its local midnight, as the daily limit counts them:
    ladder calls, calls to family who prefer calls and scheduled check-in calls; not cancelled
    rows, and not calls to our number (the resident or family rang us)."""
    count_calls = select(func.count()).where(
        CallAttempt.household_id == household.id,
        col(CallAttempt.created_at) >= local_day_start(now, household.timezone),
        CallAttempt.status != CallStatus.CANCELED,
        col(CallAttempt.idempotency_key).not_like("inbound:%"),
    )
    return int(session.exec(count_calls).one())


def sms_body(template: str, language: Language, *, household_code: str, case: Case) -> str:
    """The SMS text: household code and what kind of alert it is, never the resident's name."""
    return MESSAGES.text(
        template,
        language,
        code=household_code,
        kind=MESSAGES.text(f"notify.kind.{case.kind.value}", language),
        severity=MESSAGES.text(f"notify.severity.{case.severity.value}", language),
    )


def _insert_once(session: Session, row: CallAttempt | Notification, model: type[Any], key: str) -> bool:
    """Insert unless a row with this idempotency key exists. A concurrent insert of the same key
    loses on the unique index inside a savepoint, so the caller's transaction survives."""
    exists = session.exec(select(model.id).where(model.idempotency_key == key)).first()
    if exists is not None:
        return False
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


# ---------------------------------------------------------------- the tick


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
    # Imported here: followup builds on this module (queue_for, resolve_recipients).
    from notifier import checkins, followup

    return ran + followup.tick(engine, now, limit=limit) + checkins.tick(engine, now, limit=limit)


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
    if case.kind in STAFF_ONLY_KINDS:
        plan = plan_staff_only_step(step_index, repeat)
    else:
        plan = plan_step(case.policy_snapshot, step_index, repeat)
    recipients = resolve_recipients(session, household, plan.actions)
    policy = policy_from_snapshot(case.policy_snapshot)
    quiet_end = _quiet_end(policy, case, household, plan, now)
    skipped: str | None = None
    if quiet_end is not None:
        assert policy.quiet_hours is not None
        if policy.quiet_hours.mode == "defer":
            return _defer_for_quiet_hours(session, case, plan, token=token, until=quiet_end, now=now)
        recipients = [r for r in recipients if r.kind != RecipientKind.RESIDENT]
        skipped = "quiet_hours"
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
        session, case, household, notices, label=plan.label, repeat=repeat, purpose=Purpose.PRE_CALL, now=now
    )
    queued += queue_for(
        session,
        case,
        household,
        [r for r in recipients if r not in notices],
        label=plan.label,
        repeat=repeat,
        purpose=plan.purpose,
        now=now,
    )
    lifecycle.record_event(
        session,
        case,
        CaseEventType.STEP,
        now,
        step=plan.label,
        repeat=repeat,
        actions=[a.action for a in plan.actions],
        purpose=plan.purpose.value,
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
    lifecycle.record_event(
        session,
        case,
        CaseEventType.STEP,
        now,
        step=plan.label,
        repeat=case.repeat_count,
        actions=[a.action for a in plan.actions],
        purpose=plan.purpose.value,
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
    notices = [Recipient(r.kind, r.id, r.address, r.language, Channel.SMS, "resident") for r in residents]
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
        actions, label, purpose = tuple(policy.emergency), EMERGENCY_LABEL, Purpose.EMERGENCY
    else:
        actions, label, purpose = (NotifyCaseworker(),), CASEWORKER_LABEL, Purpose.UNWELL
    recipients = resolve_recipients(session, household, actions)
    queued = queue_for(session, case, household, recipients, label=label, repeat=0, purpose=purpose, now=now)
    lifecycle.record_event(
        session,
        case,
        CaseEventType.STEP,
        now,
        step=label,
        repeat=0,
        actions=[a.action for a in actions],
        purpose=purpose.value,
        reason=reason,
        recipients=len(recipients),
        queued=queued,
    )
    if not recipients:
        log.warning(
            "case %s (household %s): escalate_now(%s) reached nobody", case.id, household.code, target
        )
    if case.status == CaseStatus.OPEN and case.kind not in STAFF_ONLY_KINDS:
        resume = resume_after_caseworker(policy, case.step_index, case.repeat_count)
        if resume is not None:
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


def _help_case(
    session: Session, stale: Case, *, target: Literal["caseworker", "emergency"], now: datetime, reason: str
) -> Case:
    case, opened = lifecycle.open_or_redetect(
        session,
        household_id=stale.household_id,
        kind=CaseKind.HELP_REQUESTED,
        severity=Severity.CRITICAL if target == "emergency" else Severity.ALERT,
        explanation=f"{reason} (case {stale.id} was already {stale.status.value})",
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
