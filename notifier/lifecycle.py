"""The case state machine: one declarative table, a pure ``transition``, and thin ``apply`` shells.

No other module writes ``Case.status``. Every change is a conditional UPDATE on ``version``
(so two workers cannot both win), bumps the fencing token where escalation must stop, and
appends a CaseEvent. Callers own the transaction: nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, insert, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from core.bulk import table_of
from core.db import claim_row, insert_or_find
from core.enums import ACTIVE_CASE_STATUSES, CaseEventType, CaseKind, CaseStatus, ResolutionCode, Severity
from core.i18n import DEFAULT_LANGUAGE, Texts
from core.models import Case, CaseEvent


class CaseAction(StrEnum):
    DETECT = "detect"  # the condition is (still) present
    RAISE = "raise"  # something worse was learned (e.g. the resident asked for help)
    ACKNOWLEDGE = "acknowledge"  # a person takes ownership
    CLEAR = "clear"  # the condition ended (activity resumed, resident said OK)
    RESOLVE = "resolve"  # a person closes it with an outcome


class IllegalTransition(Exception):
    def __init__(self, status: CaseStatus, action: CaseAction) -> None:
        super().__init__(f"cannot {action.value} a case that is {status.value}")
        self.status = status
        self.action = action


class CaseConflict(Exception):
    """The case changed under us twice in a row; the caller should retry the whole unit of work."""


@dataclass(frozen=True)
class Decision:
    new_status: CaseStatus
    new_token: bool  # invalidates pending escalation steps and unsent notifications
    escalating: bool  # whether the engine should keep working on the case afterwards


_O, _A, _C, _R = CaseStatus.OPEN, CaseStatus.ACKNOWLEDGED, CaseStatus.CLEARED, CaseStatus.RESOLVED

# (from, action) -> decision. Anything absent is illegal and raises.
TRANSITIONS: dict[tuple[CaseStatus, CaseAction], Decision] = {
    (_O, CaseAction.DETECT): Decision(_O, new_token=False, escalating=True),
    (_A, CaseAction.DETECT): Decision(_A, new_token=False, escalating=False),
    (_O, CaseAction.RAISE): Decision(_O, new_token=False, escalating=True),
    (_A, CaseAction.RAISE): Decision(_A, new_token=False, escalating=False),
    (_O, CaseAction.ACKNOWLEDGE): Decision(_A, new_token=True, escalating=False),
    (_C, CaseAction.ACKNOWLEDGE): Decision(_C, new_token=False, escalating=False),
    (_O, CaseAction.CLEAR): Decision(_C, new_token=True, escalating=False),
    # The owner decides when an acknowledged case is over; clearing only records the fact.
    (_A, CaseAction.CLEAR): Decision(_A, new_token=False, escalating=False),
    (_O, CaseAction.RESOLVE): Decision(_R, new_token=True, escalating=False),
    (_A, CaseAction.RESOLVE): Decision(_R, new_token=True, escalating=False),
    (_C, CaseAction.RESOLVE): Decision(_R, new_token=True, escalating=False),
}


def transition(status: CaseStatus, action: CaseAction) -> Decision:
    """Pure: what ``action`` does to a case in ``status``. Raises :class:`IllegalTransition`."""
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        raise IllegalTransition(status, action) from None


def new_token() -> str:
    return uuid.uuid4().hex


# ---------------------------------------------------------------- shells (DB)


def active_case(session: Session, household_id: int, kind: CaseKind) -> Case | None:
    stmt = select(Case).where(
        Case.household_id == household_id,
        Case.kind == kind,
        col(Case.status).in_(ACTIVE_CASE_STATUSES),
    )
    return session.exec(stmt).first()


def active_cases(session: Session, household_ids: Collection[int], kind: CaseKind) -> dict[int, Case]:
    """:func:`active_case` for many households in one query: their active case of *kind*, by
    household (one at most each: the partial unique index)."""
    if not household_ids:
        return {}
    stmt = select(Case).where(
        col(Case.household_id).in_(household_ids),
        Case.kind == kind,
        col(Case.status).in_(ACTIVE_CASE_STATUSES),
    )
    return {case.household_id: case for case in session.exec(stmt).all()}


def open_or_redetect(
    session: Session,
    *,
    household_id: int,
    kind: CaseKind,
    severity: Severity,
    explanation: str | Texts,
    policy_snapshot: dict[str, Any],
    now: datetime,
    actor: str = "system",
    follow_up_visits: bool = False,
) -> tuple[Case, bool]:
    """Open a case, or re-detect the active one (one active case per household and kind).
    ``explanation``: a text, or the same text in every language (:func:`core.i18n.in_every_language`).
    ``follow_up_visits``: the new case calls for follow-up visits (a self-harm case).

    Returns ``(case, opened)``. A concurrent opener loses on the partial unique index and
    falls back to re-detecting the winner's case.
    """
    existing = active_case(session, household_id, kind)
    if existing is None:
        case, opened = insert_or_find(
            session,
            Case(
                **new_case_values(
                    household_id=household_id,
                    kind=kind,
                    severity=severity,
                    explanation=explanation,
                    policy_snapshot=policy_snapshot,
                    now=now,
                    follow_up_visits=follow_up_visits,
                )
            ),
            lambda: active_case(session, household_id, kind),
        )
        if opened:
            _event(
                session,
                case,
                CaseEventType.OPENED,
                now,
                actor,
                severity=severity.value,
                explanation=case.explanation,
            )
            return case, True
        existing = case
    assert existing is not None
    # Re-detection races are benign (several sweepers saw the same silence): reload and retry.
    for attempt in range(3):
        try:
            redetect(session, existing, severity=severity, explanation=explanation, now=now, actor=actor)
            break
        except CaseConflict:
            if attempt == 2:
                raise
            session.refresh(existing)
    return existing, False


def new_case_values(
    *,
    household_id: int,
    kind: CaseKind,
    severity: Severity,
    explanation: str | Texts,
    policy_snapshot: dict[str, Any],
    now: datetime,
    follow_up_visits: bool = False,
) -> dict[str, Any]:
    """The row of a newly opened case: what :func:`open_or_redetect` inserts, and ``notifier.opening``
    for many in one statement (as columns: building each through the model cost ~0.5 ms a case,
    a fifth of a tick opening 500)."""
    text, texts = _explanation(explanation)
    return {
        "household_id": household_id,
        "kind": kind,
        "status": CaseStatus.OPEN,
        "severity": severity,
        "explanation": text,
        "explanation_texts": texts,
        "opened_at": now,
        "last_seen_at": now,
        "policy_snapshot": policy_snapshot,
        "step_index": 0,
        "next_action_at": now,
        "escalation_token": new_token(),
        "follow_up_visits": follow_up_visits,
    }


def _explanation(explanation: str | Texts) -> tuple[str, dict[str, str] | None]:
    """(the default-language text, the texts in every language or None for a plain text)."""
    if isinstance(explanation, str):
        return explanation, None
    return explanation.get(DEFAULT_LANGUAGE.value, ""), dict(explanation)


def redetect(
    session: Session,
    case: Case,
    *,
    severity: Severity,
    explanation: str | Texts,
    now: datetime,
    actor: str = "system",
) -> Case:
    transition(case.status, CaseAction.DETECT)
    text, texts = _explanation(explanation)
    values: dict[str, Any] = {"last_seen_at": now}
    if text:  # a new explanation replaces the old in every language (no stale translation)
        values.update(explanation=text, explanation_texts=texts)
    raised = severity.rank > case.severity.rank
    if raised:
        values["severity"] = severity
    _write(session, case, values)
    if raised:
        _event(session, case, CaseEventType.SEVERITY_RAISED, now, actor, severity=severity.value)
    return case


def raise_severity(
    session: Session, case: Case, *, severity: Severity, reason: str, now: datetime, actor: str = "system"
) -> Case:
    """Something worse was learned: raise severity and, if still escalating, act now."""
    _write(session, case, _raise_values(case, severity, now))
    _event(session, case, CaseEventType.SEVERITY_RAISED, now, actor, severity=severity.value, reason=reason)
    return case


def raise_many(
    session: Session,
    cases: Sequence[Case],
    *,
    severity: Severity,
    reason: str,
    now: datetime,
    actor: str = "system",
) -> None:
    """:func:`raise_severity` for many cases (a district's overdue households reaching the critical
    stage together), written as :func:`clear_many` writes: :class:`CaseConflict` with no case
    mirrored if any changed concurrently, for the caller to roll back and go one by one."""
    _write_many(session, [(case, _raise_values(case, severity, now)) for case in cases])
    for case in cases:
        _event(
            session, case, CaseEventType.SEVERITY_RAISED, now, actor, severity=severity.value, reason=reason
        )


def _raise_values(case: Case, severity: Severity, now: datetime) -> dict[str, Any]:
    decision = transition(case.status, CaseAction.RAISE)
    values: dict[str, Any] = {"last_seen_at": now}
    if severity.rank > case.severity.rank:
        values["severity"] = severity
    if decision.escalating:
        values["next_action_at"] = now
    return values


def acknowledge(session: Session, case: Case, *, actor: str, now: datetime) -> Case:
    decision = transition(case.status, CaseAction.ACKNOWLEDGE)
    if decision.new_status == case.status:  # acknowledging a cleared case: a review mark only
        _write(session, case, {"acknowledged_at": now, "acknowledged_by": actor})
    else:
        _write(session, case, _apply_decision(decision, acknowledged_at=now, acknowledged_by=actor))
    _event(session, case, CaseEventType.ACKNOWLEDGED, now, actor)
    return case


def clear(session: Session, case: Case, *, reason: str, now: datetime, actor: str = "system") -> Case:
    _write(session, case, _clear_values(case, reason, now))
    _event(session, case, CaseEventType.CLEARED, now, actor, reason=reason)
    return case


def clear_many(
    session: Session, cases: Sequence[Case], *, reason: str, now: datetime, actor: str = "system"
) -> None:
    """:func:`clear` for many cases (a district's plugs back after a power cut): their conditional
    UPDATEs sent together, one statement for each kind of change, and their events in one more.
    If any case changed concurrently, :class:`CaseConflict` is raised with no case mirrored: the
    caller rolls its transaction back and clears them one at a time."""
    _write_many(session, [(case, _clear_values(case, reason, now)) for case in cases])
    for case in cases:
        _event(session, case, CaseEventType.CLEARED, now, actor, reason=reason)


def _clear_values(case: Case, reason: str, now: datetime) -> dict[str, Any]:
    decision = transition(case.status, CaseAction.CLEAR)
    if decision.new_status == case.status:  # cleared already: note the reason again only
        return {"cleared_at": now, "clear_reason": reason}
    return _apply_decision(decision, cleared_at=now, clear_reason=reason)


def resolve(
    session: Session,
    case: Case,
    *,
    actor: str,
    code: ResolutionCode,
    note: str | None,
    now: datetime,
) -> Case:
    decision = transition(case.status, CaseAction.RESOLVE)
    _write(
        session,
        case,
        _apply_decision(
            decision, resolved_at=now, resolved_by=actor, resolution_code=code, resolution_note=note
        ),
    )
    _event(session, case, CaseEventType.RESOLVED, now, actor, code=code.value, note=note or "")
    return case


def add_note(session: Session, case: Case, *, actor: str, text: str, now: datetime) -> CaseEvent:
    return _event(session, case, CaseEventType.NOTE, now, actor, text=text)


def record_event(
    session: Session, case: Case, type_: CaseEventType, now: datetime, actor: str = "system", **data: Any
) -> CaseEvent:
    """Append an event that does not change case state (calls, notifications, steps)."""
    return _event(session, case, type_, now, actor, **data)


def record_events(
    session: Session,
    events: Sequence[tuple[Case, CaseEventType, dict[str, Any]]],
    now: datetime,
    actor: str,
) -> None:
    """:func:`record_event` for many cases in one executemany, building no event objects (a tick
    that opens hundreds of cases reads none of them back)."""
    if events:
        session.execute(
            insert(CaseEvent),
            [
                {"case_id": case.id, "at": now, "type": type_, "actor": actor, "data": data}
                for case, type_, data in events
            ],
        )


def advance_escalation(
    session: Session,
    case: Case,
    *,
    token: str,
    step_index: int,
    repeat_count: int,
    next_action_at: datetime | None,
    severity: Severity | None = None,
) -> bool:
    """Move the escalation pointer, only if ``token`` is still the case's fencing token.

    Returns False (and changes nothing) when the case was acknowledged, cleared or
    resolved since the caller read it: a stale step must never fire.
    """
    if case.escalation_token != token or case.status != CaseStatus.OPEN:
        return False
    values: dict[str, Any] = {
        "step_index": step_index,
        "repeat_count": repeat_count,
        "next_action_at": next_action_at,
    }
    if severity is not None and severity.rank > case.severity.rank:
        values["severity"] = severity
    try:
        _write(session, case, values, expect_token=token)
    except CaseConflict:
        return False
    return True


def schedule_reminder(session: Session, case: Case, *, next_action_at: datetime) -> bool:
    """Set when an *acknowledged* case is next reminded about (it stays acknowledged).

    A conditional UPDATE on ``version``, so of two workers only one wins: False (nothing
    changed) when the case is no longer acknowledged or changed since the caller read it.
    """
    if case.status != CaseStatus.ACKNOWLEDGED:
        return False
    try:
        _write(session, case, {"next_action_at": next_action_at})
    except CaseConflict:
        return False
    return True


# ---------------------------------------------------------------- internals


def _apply_decision(decision: Decision, **values: Any) -> dict[str, Any]:
    values["status"] = decision.new_status
    if decision.new_token:
        values["escalation_token"] = new_token()
    if not decision.escalating:
        values["next_action_at"] = None
    return values


def _write(session: Session, case: Case, values: dict[str, Any], *, expect_token: str | None = None) -> None:
    """Conditional UPDATE on (id, version[, token]); refreshes ``case`` on success."""
    assert case.id is not None
    stmt = update(Case).where(col(Case.id) == case.id, col(Case.version) == case.version)
    if expect_token is not None:
        stmt = stmt.where(col(Case.escalation_token) == expect_token)
    if not claim_row(session, stmt.values(version=case.version + 1, **values)):
        raise CaseConflict(f"case {case.id} changed concurrently (version {case.version})")
    _mirror(case, values)


def _mirror(case: Case, values: dict[str, Any]) -> None:
    """The write, on the loaded object, without marking it dirty (no second UPDATE)."""
    for key, value in values.items():
        set_committed_value(case, key, value)
    set_committed_value(case, "version", case.version + 1)


def _write_many(session: Session, writes: Sequence[tuple[Case, dict[str, Any]]]) -> None:
    """:func:`_write` for many cases: the conditional UPDATEs on (id, version) of the cases that
    change the same columns go as one executemany; the cases are mirrored only once every row
    was found at its version."""
    shapes: dict[tuple[str, ...], list[tuple[Case, dict[str, Any]]]] = {}
    for case, values in writes:
        shapes.setdefault(tuple(sorted(values)), []).append((case, values))
    table = table_of(Case)
    for columns, group in shapes.items():
        stmt = (
            update(table)
            .where(table.c.id == bindparam("w_id"), table.c.version == bindparam("w_version"))
            .values(version=bindparam("w_next"), **{c: bindparam(f"w_{c}") for c in columns})
        )
        rows = [
            {"w_id": case.id, "w_version": case.version, "w_next": case.version + 1}
            | {f"w_{c}": values[c] for c in columns}
            for case, values in group
        ]
        written = cast(CursorResult[Any], session.execute(stmt, rows)).rowcount
        if written != len(rows):
            raise CaseConflict(f"{len(rows) - written} of {len(rows)} cases changed concurrently")
    for case, values in writes:
        _mirror(case, values)


def _event(
    session: Session, case: Case, type_: CaseEventType, now: datetime, actor: str, **data: Any
) -> CaseEvent:
    assert case.id is not None
    event = CaseEvent(case_id=case.id, at=now, type=type_, actor=actor, data=data)
    session.add(event)
    return event
