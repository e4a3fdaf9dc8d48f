"""The outbox sender: claims due ``Notification`` / ``CallAttempt`` rows and hands them to a transport.

One row at a time, in two transactions around the provider request:

1. **Claim** (committed before anything is sent): a conditional UPDATE moves the row to
   ``sending`` with a lease (``claim_expires_at = now + 60 s``) and ``attempts + 1``; only one
   worker can win it. Leases are written and judged by the **database's clock**
   (:func:`core.db.database_now`), never the worker's: worker hosts' clocks can be minutes apart,
   and a lease judged by each host's own clock is taken over while its holder still sends. In the same transaction the case's fencing token is re-checked: a row
   stamped with an old token (the case was acknowledged, cleared or resolved since it was
   queued) is cancelled instead (see :func:`should_cancel` for the rows that survive an
   acknowledgement).
2. **Send** through the transport, outside any transaction. Right before the request the
   worker checks that the row is still its own (**fence**: same attempt count, still
   ``sending``, no provider id) and renews the lease; a worker whose lease ran out while it
   waited (pacing, a slow lookup) and whose row was taken over sends nothing.
3. **Record** the provider id and status, or the error (temporary -> back to ``pending`` with
   exponential backoff; permanent or too many attempts -> ``failed``).

A worker that dies between 2 and 3 (or a request whose answer does not tell: a network error
or timeout, a 5xx, which Twilio can answer after it created the call, or a transport bug)
leaves a row whose send is **uncertain**: the provider may have it. Such a row
keeps the end of that attempt's lease in ``claim_expires_at`` (even when it goes back to
``pending``), and the next claim sees it and **asks the provider first**
(:class:`~notifier.transports.base.ReconcilingTransport`, Twilio's call and message lists): a
call / message to that number from our number created since that attempt began (a message with
the same body) and not recorded on another row is adopted as this row's send, and nothing is
sent. If the lookup itself fails the row waits and asks again; only a transport that cannot be
asked (the console) sends again. Twilio's status callbacks also record the provider id on a row
that has none (``calls.call_status``, ``sms.sms_status``), and a row that has a provider id is
never sent again.

This module is longer than most (about 580 lines) on purpose: claim, send, record, give up and
reconcile are one protocol over the lease, the attempt count and the fencing token of the same
rows, and each step's failure path depends on the others; split up, those rules would be read
in several places.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, case, or_, update
from sqlmodel import Session, col, select

from core.clock import Clock
from core.db import claim_row, database_now, session_scope
from core.enums import (
    CallOutcome,
    CallPurpose,
    CallStatus,
    CaseEventType,
    CaseKind,
    CaseStatus,
    OutboxStatus,
    Severity,
)
from core.models import CallAttempt, Case, Notification
from core.settings import Settings
from notifier import lifecycle, webhook_urls
from notifier.pacing import CallPacer
from notifier.templates import CLOSURE_TEMPLATES, SELF_HARM_STAFF_CALL, SURVIVES_ACKNOWLEDGEMENT
from notifier.transports.base import ReconcilingTransport, Transport, TransportError, mask_phone

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8
BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_CAP = timedelta(minutes=15)
CONSOLE_FROM = "anbu"  # sender shown by the console transport when no Twilio number is set
# Provider clocks and ours differ a little: look this much before the uncertain attempt began.
LOOKUP_SKEW = timedelta(seconds=30)


def backoff(attempts: int) -> timedelta:
    """Pure: wait after the ``attempts``-th failed try: 30 s, 60 s, 120 s, ... capped at 15 min."""
    delay = BACKOFF_FIRST * (1 << min(max(attempts - 1, 0), 16))
    return min(delay, BACKOFF_CAP)


def should_cancel(*, row_token: str, template: str | None, case_token: str, case_status: CaseStatus) -> bool:
    """Pure: is a queued row stale?

    A row is stale when the case's token changed since it was queued. Exception: messages whose
    news stays true after an acknowledgement (the resident asked for help or said they are
    unwell, :data:`notifier.templates.SURVIVES_ACKNOWLEDGEMENT`) still go out while the case is
    acknowledged; a clear or resolve cancels them too. "All clear" / "closed" messages
    (:data:`notifier.templates.CLOSURE_TEMPLATES`) are written after the case closed and never stale.
    """
    if row_token == case_token or template in CLOSURE_TEMPLATES:
        return False
    return not (template in SURVIVES_ACKNOWLEDGEMENT and case_status == CaseStatus.ACKNOWLEDGED)


def _call_template(row: CallAttempt, case: Case | None) -> str | None:
    """What the staleness rule calls a call row: only a staff call of a self-harm case has a name
    (it survives an acknowledgement, like that case's texts); other calls have none."""
    if row.purpose == CallPurpose.STAFF_ALERT and case is not None and case.kind == CaseKind.SELF_HARM_RISK:
        return SELF_HARM_STAFF_CALL
    return None


@dataclass(frozen=True)
class _Table:
    """What differs between the two outbox tables (their shared columns have the same names:
    status, attempts, next_attempt_at, claim_expires_at, to_address, provider_sid, error)."""

    model: type[CallAttempt] | type[Notification]
    pending: str
    sending: str
    sent: str
    failed: str
    cancelled: str
    id_field: str  # name of the row id in case events
    is_call: bool


_SMS = _Table(
    Notification,
    OutboxStatus.PENDING,
    OutboxStatus.SENDING,
    OutboxStatus.SENT,
    OutboxStatus.FAILED,
    OutboxStatus.CANCELLED,
    "notification_id",
    is_call=False,
)
_CALLS = _Table(
    CallAttempt,
    CallStatus.PENDING,
    CallStatus.SENDING,
    CallStatus.QUEUED,
    CallStatus.FAILED,
    CallStatus.CANCELLED,
    "call_attempt_id",
    is_call=True,
)


class ClaimRefused(StrEnum):
    """Why claiming a due row gave nothing to send."""

    TAKEN = "taken"  # another worker won the row (or it was no longer due)
    CANCELLED = "cancelled"  # stale (the case moved on): cancelled in the claim's transaction
    GAVE_UP = "gave_up"  # claimed too often by workers that died mid-send: failed


@dataclass(frozen=True)
class _Claim:
    table: _Table
    id: int
    case_id: int | None
    to: str
    body: str
    code: str
    attempts: int  # the lease token: a row claimed again has a higher count
    leased_at: datetime  # the database's time of the claim
    uncertain_since: datetime | None = None  # an earlier attempt may have reached the provider


def _lease_now(session: Session, lease_clock: Clock | None) -> datetime:
    """The time leases are written and judged by: the database's (a test may pass its clock)."""
    return lease_clock.now() if lease_clock is not None else database_now(session)


def tick(
    engine: Engine,
    clock: Clock,
    settings: Settings,
    transport: Transport,
    *,
    limit: int = 50,
    pacer: CallPacer | None = None,
    lease_clock: Clock | None = None,
) -> int:
    """Send what is due; returns how many rows were handled (sent, retried, failed or cancelled).

    ``lease_clock``: what leases are judged by; ``None`` (production) is the database's clock.
    A test that moves a manual clock past a lease passes that clock (it stands for the
    database's too).

    Messages go first, and again after every call: a call waits for its pacing slot
    (:mod:`notifier.pacing`), and a queue of paced calls must not hold back an emergency SMS.
    Calls are taken one at a time, most urgent first (:func:`_next_due_call`), so an emergency
    call queued during a long tick goes before the routine calls still waiting.
    """
    run = _Run(engine, clock, settings, transport, pacer or CallPacer.for_settings(settings), lease_clock)
    handled = _send_due_messages(run, limit)
    tried: set[int] = set()
    while handled < limit:
        call_id = _next_due_call(run, exclude=tried)
        if call_id is None:
            break
        tried.add(call_id)  # a row that keeps failing to be handled is not picked again this tick
        if _handle_logged(run, _CALLS, call_id):
            handled += 1
        handled += _send_due_messages(run, limit - handled)
    return handled


@dataclass(frozen=True)
class _Run:
    """One tick's collaborators."""

    engine: Engine
    clock: Clock
    settings: Settings
    transport: Transport
    pacer: CallPacer
    lease_clock: Clock | None


def _send_due_messages(run: _Run, limit: int) -> int:
    handled = 0
    for row_id in _due_ids(run, _SMS, limit):
        if _handle_logged(run, _SMS, row_id):
            handled += 1
    return handled


def _handle_logged(run: _Run, table: _Table, row_id: int) -> bool:
    try:
        return _handle(run, table, row_id)
    except Exception:  # one bad row must never stop the rest of the outbox
        log.exception("outbox: failed to handle %s %s", table.model.__name__, row_id)
        return False


def call_priority() -> ColumnElement[int]:
    """0: the case is critical or the resident asked for help; 1: another case's call;
    2: a call without a case (a scheduled check-in, never urgent)."""
    return case(
        (or_(col(Case.severity) == Severity.CRITICAL, col(Case.kind) == CaseKind.HELP_REQUESTED), 0),
        (col(CallAttempt.case_id).is_not(None), 1),
        else_=2,
    )


def _next_due_call(run: _Run, *, exclude: set[int]) -> int | None:
    with session_scope(run.engine) as session:
        stmt = (
            select(CallAttempt.id)
            .outerjoin(Case, col(Case.id) == col(CallAttempt.case_id))
            .where(_due(_CALLS, run.clock.now(), _lease_now(session, run.lease_clock)))
            .order_by(call_priority(), col(CallAttempt.id))
        )
        if exclude:
            stmt = stmt.where(col(CallAttempt.id).not_in(exclude))
        found = session.exec(stmt.limit(1)).first()
        return int(found) if found is not None else None


def _due(table: _Table, now: datetime, lease_now: datetime) -> ColumnElement[bool]:
    """Pending and past its retry time (``now``: the worker's clock; a skew moves a retry a
    little), or a lease that ran out by the database's clock (``lease_now``)."""
    m = table.model
    return or_(
        and_(
            col(m.status) == table.pending,
            or_(col(m.next_attempt_at).is_(None), col(m.next_attempt_at) <= now),
        ),
        # A worker died mid-send. Without a provider id we do not know the provider has it: retry.
        and_(
            col(m.status) == table.sending,
            or_(col(m.claim_expires_at).is_(None), col(m.claim_expires_at) <= lease_now),
            col(m.provider_sid).is_(None),
        ),
    )


def _row(session: Session, table: _Table, row_id: int) -> CallAttempt | Notification | None:
    return session.get(CallAttempt, row_id) if table.is_call else session.get(Notification, row_id)


def _due_ids(run: _Run, table: _Table, limit: int) -> list[int]:
    if limit <= 0:
        return []
    with session_scope(run.engine) as session:
        m = table.model
        due = _due(table, run.clock.now(), _lease_now(session, run.lease_clock))
        stmt = select(m.id).where(due).order_by(col(m.id)).limit(limit)
        return [int(i) for i in session.exec(stmt).all() if i is not None]


def _handle(run: _Run, table: _Table, row_id: int) -> bool:
    engine, clock, transport = run.engine, run.clock, run.transport
    claim = _claim(run, table, row_id)
    if claim is ClaimRefused.TAKEN:
        return False
    if isinstance(claim, ClaimRefused):  # cancelled or given up inside the claim transaction
        return True
    from_ = run.settings.twilio_from_number or CONSOLE_FROM
    if claim.uncertain_since is not None and isinstance(transport, ReconcilingTransport):
        try:
            found = _already_sent(engine, transport, claim, from_)
        except TransportError as exc:
            log.warning(
                "outbox: cannot look up %s %s at the provider: %s", table.model.__name__, claim.id, exc
            )
            _record_failure(
                engine, claim, TransportError(exc.message, permanent=False, code="lookup"), clock.now()
            )
            return True
        if found is not None:
            _record_sent(engine, claim, found, clock.now(), recovered=True)
            return True
    try:
        if table.is_call:
            run.pacer.wait_turn(engine)
        if not _still_ours(run, claim):
            log.warning(
                "outbox: lease on %s %s lost before sending; not sent", table.model.__name__, claim.id
            )
            return False
        sid = _send(run, claim, from_)
    except TransportError as exc:
        _record_failure(engine, claim, exc, clock.now())
        return True
    except Exception as exc:  # a transport bug: treat as temporary so the row is not lost
        log.exception("outbox: transport raised unexpectedly for %s %s", table.model.__name__, claim.id)
        _record_failure(
            engine,
            claim,
            TransportError(type(exc).__name__, permanent=False, code="unexpected", uncertain=True),
            clock.now(),
        )
        return True
    _record_sent(engine, claim, sid, clock.now())
    return True


def _send(run: _Run, claim: _Claim, from_: str) -> str:
    base = run.settings.effective_public_base_url
    if claim.table.is_call:
        return run.transport.place_call(
            to=claim.to,
            from_=from_,
            answer_url=webhook_urls.url(base, webhook_urls.VOICE_ANSWER, code=claim.code),
            status_callback_url=webhook_urls.url(base, webhook_urls.VOICE_STATUS, code=claim.code),
        )
    return run.transport.send_sms(
        to=claim.to,
        from_=from_,
        body=claim.body,
        status_callback_url=webhook_urls.url(base, webhook_urls.SMS_STATUS, id=claim.id),
    )


def _still_ours(run: _Run, claim: _Claim) -> bool:
    """The fence right before the request: the row is still ours (same attempt count, the lease
    token; still sending; no provider id), and the lease is renewed for the request. A worker
    that waited past its lease and was taken over sends nothing; one that waited past it
    untouched still holds the row. The renewed lease end also marks where a lookup starts."""
    m = claim.table.model
    with session_scope(run.engine) as session:
        lease_now = _lease_now(session, run.lease_clock)
        return claim_row(
            session,
            update(m)
            .where(
                col(m.id) == claim.id,
                col(m.attempts) == claim.attempts,
                col(m.status) == claim.table.sending,
                col(m.provider_sid).is_(None),
            )
            .values(claim_expires_at=lease_now + LEASE),
        )


def _already_sent(engine: Engine, transport: ReconcilingTransport, claim: _Claim, from_: str) -> str | None:
    """The provider id of this row's earlier, unrecorded send, if the provider has one."""
    assert claim.uncertain_since is not None
    m = claim.table.model
    sids = transport.find_sent(
        kind="call" if claim.table.is_call else "sms",
        to=claim.to,
        from_=from_,
        body=None if claim.table.is_call else claim.body,
        since=claim.uncertain_since - LOOKUP_SKEW,
    )
    if not sids:
        return None
    with session_scope(engine) as session:
        # Another row's send to the same number (a second alert, a retry) is not ours.
        taken = set(session.exec(select(m.provider_sid).where(col(m.provider_sid).in_(sids))).all())
    mine = [sid for sid in sids if sid not in taken]
    return mine[0] if mine else None


def _claim(run: _Run, table: _Table, row_id: int) -> _Claim | ClaimRefused:
    """Transaction 1: the row to send, or why there is nothing to send."""
    m = table.model
    now = run.clock.now()
    with session_scope(run.engine) as session:
        lease_now = _lease_now(session, run.lease_clock)
        # A lease end left on a row that is due again marks an attempt whose send is uncertain
        # (read before the UPDATE overwrites it; the UPDATE below decides who wins the row).
        previous_lease = session.exec(select(m.claim_expires_at).where(col(m.id) == row_id)).first()
        values: dict[str, Any] = {
            "status": table.sending,
            "claim_expires_at": lease_now + LEASE,
            "attempts": col(m.attempts) + 1,
        }
        if table.is_call:
            values["updated_at"] = now
        if not claim_row(
            session, update(m).where(col(m.id) == row_id, _due(table, now, lease_now)).values(**values)
        ):
            return ClaimRefused.TAKEN
        row = _row(session, table, row_id)
        assert row is not None and row.id is not None
        case = session.get(Case, row.case_id) if row.case_id is not None else None
        template = row.template if isinstance(row, Notification) else _call_template(row, case)
        if case is not None and should_cancel(
            row_token=row.escalation_token,
            template=template,
            case_token=case.escalation_token,
            case_status=case.status,
        ):
            _finish(session, table, row, now, status=table.cancelled)
            _event(session, case, table, CaseEventType.NOTIFICATION_CANCELLED, now, row.id)
            log.info("outbox: cancelled stale %s %s (case %s)", m.__name__, row.id, case.id)
            return ClaimRefused.CANCELLED
        if row.attempts > MAX_ATTEMPTS:  # claimed again and again by workers that died mid-send
            _give_up(session, table, row, case, now, "gave up: too many interrupted attempts", "interrupted")
            return ClaimRefused.GAVE_UP
        return _Claim(
            table=table,
            id=row.id,
            case_id=row.case_id,
            to=row.to_address,
            body=row.body if isinstance(row, Notification) else "",
            code=row.code if isinstance(row, CallAttempt) else "",
            attempts=row.attempts,
            leased_at=lease_now,
            uncertain_since=previous_lease - LEASE if previous_lease is not None else None,
        )


def _record_sent(engine: Engine, claim: _Claim, sid: str, now: datetime, *, recovered: bool = False) -> None:
    """Transaction 2 after success. The provider's status callback may already have moved the
    row on and recorded the provider id (it can arrive before we get here), so the status only
    changes if still ``sending``. ``recovered``: the send was found at the provider, not made now."""
    table, m = claim.table, claim.table.model
    with session_scope(engine) as session:
        stamp = {"updated_at": now} if table.is_call else {"sent_at": now}
        if not claim_row(
            session,
            update(m)
            .where(
                col(m.id) == claim.id,
                col(m.attempts) == claim.attempts,
                or_(col(m.provider_sid).is_(None), col(m.provider_sid) == sid),
            )
            .values(provider_sid=sid, claim_expires_at=None, error=None, **stamp),
        ):
            # Our lease ran out during the request and another worker took the row over.
            log.warning(
                "outbox: %s %s was taken over while sending; possible duplicate", m.__name__, claim.id
            )
            return
        session.execute(
            update(m)
            .where(col(m.id) == claim.id, col(m.status) == table.sending)
            .values(status=table.sent)
            .execution_options(synchronize_session=False)
        )
        case = session.get(Case, claim.case_id) if claim.case_id is not None else None
        if case is not None:
            event = CaseEventType.CALL_PLACED if table.is_call else CaseEventType.NOTIFICATION_SENT
            extra = {"recovered": True} if recovered else {}
            _event(
                session, case, table, event, now, claim.id, provider_sid=sid, to=mask_phone(claim.to), **extra
            )
    if recovered:
        log.warning("outbox: %s %s was already sent as %s; not sent again", m.__name__, claim.id, sid)
    else:
        log.info("outbox: %s %s accepted by provider as %s", m.__name__, claim.id, sid)


def _record_failure(engine: Engine, claim: _Claim, exc: TransportError, now: datetime) -> None:
    """Transaction 2 after an error: retry later, or give up."""
    table, m = claim.table, claim.table.model
    error = str(exc)[:400]
    with session_scope(engine) as session:
        row = _row(session, table, claim.id)
        if row is None or row.status != table.sending or row.attempts != claim.attempts:
            log.warning("outbox: %s %s was taken over while sending", m.__name__, claim.id)
            return
        case = session.get(Case, row.case_id) if row.case_id is not None else None
        if exc.permanent:
            _give_up(session, table, row, case, now, error, exc.code, permanent=True)
        elif claim.attempts >= MAX_ATTEMPTS:
            _give_up(
                session, table, row, case, now, f"gave up after {claim.attempts} attempts: {error}", exc.code
            )
        else:
            retry_at = now + backoff(claim.attempts)
            _finish(session, table, row, now, status=table.pending, error=error, next_attempt_at=retry_at)
            if exc.uncertain or claim.uncertain_since is not None:
                # The provider may have this send: the next claim asks it before sending again.
                row.claim_expires_at = (claim.uncertain_since or claim.leased_at) + LEASE
            log.info(
                "outbox: %s %s temporary error %s (attempt %d), retry at %s",
                m.__name__,
                claim.id,
                exc.code,
                claim.attempts,
                retry_at.isoformat(),
            )


def _give_up(
    session: Session,
    table: _Table,
    row: Any,
    case: Case | None,
    now: datetime,
    error: str,
    code: str | None,
    *,
    permanent: bool = False,
) -> None:
    extra: dict[str, Any] = (
        {"outcome": CallOutcome.FAILED} if table.is_call else {"permanent_failure": permanent}
    )
    _finish(session, table, row, now, status=table.failed, error=error[:400], **extra)
    if case is not None:
        _event(
            session,
            case,
            table,
            CaseEventType.NOTIFICATION_FAILED,
            now,
            row.id,
            code=code,
            permanent=permanent,
            attempts=row.attempts,
        )
    log.warning(
        "outbox: %s %s failed (%s, code %s, attempts %d)",
        table.model.__name__,
        row.id,
        "permanent" if permanent else "gave up",
        code,
        row.attempts,
    )


def _finish(
    session: Session,
    table: _Table,
    row: Any,
    now: datetime,
    *,
    status: str,
    **values: Any,
) -> None:
    """Leave ``sending``: the lease is released together with the new status."""
    row.status = status
    row.claim_expires_at = None
    for key, value in values.items():
        setattr(row, key, value)
    if table.is_call:
        row.updated_at = now
    session.add(row)


def _event(
    session: Session, case: Case, table: _Table, type_: CaseEventType, now: datetime, row_id: int, **data: Any
) -> None:
    data[table.id_field] = row_id
    lifecycle.record_event(session, case, type_, now, **data)
