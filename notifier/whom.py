"""Whom a family member should ring about a case, and the number: the caseworker working it, or
the centre (issue 17: "지금 바로 연락해 주세요" without whom or a number is no help at night)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from core.models import Case, CaseAssignment, Household, Team, User


def caseworker_phone(session: Session, case: Case) -> str | None:
    """The assignee's number, else that of whoever resolved or took the case on (if active and
    on file), else the household's team's (the centre's) number; None when there is none."""
    assert case.id is not None
    candidates: list[User | None] = []
    assignment = session.get(CaseAssignment, case.id)
    if assignment is not None:
        candidates.append(session.get(User, assignment.user_id))
    for actor in (case.resolved_by, case.acknowledged_by):
        if actor and actor.startswith("user:"):
            username = actor.removeprefix("user:")
            candidates.append(session.exec(select(User).where(col(User.username) == username)).first())
    for user in candidates:
        if user is not None and user.is_active and user.phone:
            return user.phone
    household = session.get(Household, case.household_id)
    return centre_phone(session, household) if household is not None else None


def centre_phone(session: Session, household: Household) -> str | None:
    """The household's team's (the centre's) number, if it has one."""
    team = session.get(Team, household.team_id)
    return team.phone if team is not None and team.phone else None
