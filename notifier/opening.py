"""Opening many cases in one transaction: what :func:`notifier.lifecycle.open_or_redetect` does
for each, in a handful of statements for all of them (issue 15).

A district power cut takes 1 % of 100k households offline at once, and the connectivity tick
then opens 1,000 ``device_offline`` cases; opened one by one, each cost ~12 round trips to the
database (a transaction, the household, its plugs, its active case twice, its policy, a
savepoint, the insert, the event), ~60 ms a case on a loaded PostgreSQL: 60 s for one tick.
Here the cases of a batch are inserted in one flush, their ``opened`` events in another.

The same safety as one by one: the active cases of the batch's households are read first and
those re-detected through the lifecycle; the new ones are inserted in one savepoint, and when
the partial unique index refuses one (another worker opened it since we looked) the savepoint is
rolled back and every opening of the batch goes through ``open_or_redetect`` one by one, which
re-detects the winner's case. The rows written (case, ``opened`` event) are those
``open_or_redetect`` writes: the case is :func:`notifier.lifecycle.new_case_values`' for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.enums import CaseEventType, CaseKind, Severity
from core.i18n import Texts
from core.models import Case
from notifier import lifecycle


@dataclass(frozen=True)
class Opening:
    """One ``open_or_redetect`` call's arguments (without the session, ``now`` and ``actor``)."""

    household_id: int
    kind: CaseKind
    severity: Severity
    explanation: str | Texts
    policy_snapshot: dict[str, Any]
    follow_up_visits: bool = False

    def arguments(self) -> dict[str, Any]:
        """The fields as keyword arguments (not copied, unlike ``dataclasses.asdict``)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


def open_many(
    session: Session, openings: Sequence[Opening], *, now: datetime, actor: str = "system"
) -> list[tuple[Case, bool]]:
    """``[open_or_redetect(session, **opening, now=now, actor=actor) for opening in openings]``,
    in a few statements: ``(case, opened)`` for each opening, in order. Callers own the
    transaction (nothing here commits)."""
    keys = [(o.household_id, o.kind) for o in openings]
    if len(set(keys)) < len(keys):  # the same household and kind twice: the second re-detects
        return [_one(session, o, now, actor) for o in openings]
    active = _active_cases(session, openings)
    fresh = [
        lifecycle.new_case_values(**o.arguments(), now=now)
        for o in openings
        if (o.household_id, o.kind) not in active
    ]
    cases: list[Case] = []
    if fresh:
        try:
            with session.begin_nested():
                # One INSERT … RETURNING, the cases loaded from its rows (in the order given).
                cases = list(
                    session.scalars(insert(Case).returning(Case, sort_by_parameter_order=True), fresh)
                )
        except IntegrityError:
            # Another opener won a race since we looked: each one with the lifecycle's own
            # race handling (it re-detects the winner's case).
            return [_one(session, o, now, actor) for o in openings]
        lifecycle.record_events(
            session,
            [
                (
                    case,
                    CaseEventType.OPENED,
                    {"severity": case.severity.value, "explanation": case.explanation},
                )
                for case in cases
            ],
            now,
            actor,
        )
    opened = {(c.household_id, c.kind): c for c in cases}
    return [
        (opened[key], True) if key in opened else _one(session, o, now, actor)
        for key, o in zip(keys, openings, strict=True)
    ]


def _one(session: Session, o: Opening, now: datetime, actor: str) -> tuple[Case, bool]:
    return lifecycle.open_or_redetect(session, **o.arguments(), now=now, actor=actor)


def _active_cases(session: Session, openings: Sequence[Opening]) -> set[tuple[int, CaseKind]]:
    """The (household, kind) pairs of the batch that have an active case already: the
    lifecycle's :func:`~notifier.lifecycle.active_cases`, one query for each kind."""
    households: dict[CaseKind, set[int]] = {}
    for o in openings:
        households.setdefault(o.kind, set()).add(o.household_id)
    return {
        (household_id, kind)
        for kind, ids in households.items()
        for household_id in lifecycle.active_cases(session, ids, kind)
    }
