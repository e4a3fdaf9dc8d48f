"""Who works in Anbu: users (admin only), teams, organisations and their escalation policy.

Users are never deleted, only deactivated: audit entries keep pointing at them. Team members
(no phone numbers) are visible to whoever may see the team's households, for assignment.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import Session, col, select

from api import audit
from api.deps import AdminUser, ClockDep, SessionDep, StaffUser
from api.errors import unprocessable, validation_item
from api.queries import SEE_ALL_ROLES
from api.routes.cases import ASSIGNABLE_ROLES
from api.routes.pagination import DEFAULT_LIMIT, Limit, Offset, PathId, QueryId
from api.schemas import (
    MemberList,
    MemberOut,
    OrganisationList,
    OrganisationOut,
    PolicyIn,
    PolicyOut,
    TeamDetail,
    TeamIn,
    TeamPatch,
    UserIn,
    UserOut,
    UserPage,
    UserPatch,
)
from api.security import hash_password
from api.users import TEAM_ROLES, create_user
from core.enums import AuditAction, AuditObject, Role
from core.models import Organisation, Team, User
from notifier.policy import DEFAULT_POLICY, EscalationPolicy

log = logging.getLogger(__name__)
router = APIRouter(tags=["people"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such object"}}


def user_out(u: User) -> UserOut:
    assert u.id is not None
    return UserOut(
        id=u.id,
        username=u.username,
        role=u.role,
        team_id=u.team_id,
        display_name=u.display_name,
        phone=u.phone,
        language=u.language,
        on_duty=u.on_duty,
        is_active=u.is_active,
        created_at=u.created_at,
    )


# ------------------------------------------------------------------ users (admin)


@router.get("/users", response_model=UserPage, tags=["people"])
def list_users(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    clock: ClockDep,
    team_id: QueryId = None,
    role: Role | None = None,
    active: Annotated[bool | None, Query(description="true: active only; false: deactivated only")] = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> UserPage:
    stmt = select(User)
    if team_id is not None:
        stmt = stmt.where(col(User.team_id) == team_id)
    if role is not None:
        stmt = stmt.where(col(User.role) == role)
    if active is not None:
        stmt = stmt.where(col(User.is_active) == active)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(stmt.order_by(col(User.username)).limit(limit).offset(offset)).all()
    # Staff names and phone numbers are personal data too: reading the list is on the record.
    audit.record(session, request, user, AuditAction.VIEW, AuditObject.USER, None, now=clock.now())
    return UserPage(items=[user_out(u) for u in rows], total=int(total), limit=limit, offset=offset)


@router.post(
    "/users",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        409: {"description": "username taken"},
        422: {"description": "e.g. a caseworker without a team"},
    },
)
def add_user(
    body: UserIn, request: Request, session: SessionDep, user: AdminUser, clock: ClockDep
) -> UserOut:
    now = clock.now()
    try:
        created = create_user(
            session,
            username=body.username,
            password=body.password,
            role=body.role,
            team_id=body.team_id,
            display_name=body.display_name,
            phone=body.phone,
            now=now,
        )
    except ValueError as exc:
        message = str(exc)
        if "already taken" in message:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=message) from None
        where = ("team_id",) if "team" in message else ()
        raise unprocessable(message, "body", *where) from None
    created.language = body.language
    session.add(created)
    session.flush()
    audit.record(session, request, user, AuditAction.CREATE, AuditObject.USER, created.id, now=now)
    log.info("user created new_user_id=%s role=%s by user_id=%s", created.id, created.role.value, user.id)
    return user_out(created)


@router.patch(
    "/users/{user_id}",
    response_model=UserOut,
    responses={**NOT_FOUND, 409: {"description": "you cannot demote or deactivate yourself"}, 422: {}},
)
def change_user(
    user_id: PathId, body: UserPatch, request: Request, session: SessionDep, user: AdminUser, clock: ClockDep
) -> UserOut:
    target = session.get(User, user_id)
    if target is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="user not found")
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise unprocessable("send at least one field to change", "body")
    if target.id == user.id and (
        changes.get("is_active") is False or changes.get("role", Role.ADMIN) != Role.ADMIN
    ):
        # The last admin locking themselves out needs a database console to undo.
        raise HTTPException(status.HTTP_409_CONFLICT, detail="you cannot demote or deactivate yourself")
    if (
        "team_id" in changes
        and changes["team_id"] is not None
        and session.get(Team, changes["team_id"]) is None
    ):
        raise unprocessable("no such team", "body", "team_id")
    role = changes.get("role", target.role)
    team_id = changes.get("team_id", target.team_id)
    if role in TEAM_ROLES and team_id is None:
        raise unprocessable(f"a {Role(role).value} user needs a team", "body", "team_id")
    password = changes.pop("password", None)
    if password is not None:
        target.password_hash = hash_password(password)
    for name, value in changes.items():
        setattr(target, name, value)
    session.add(target)
    session.flush()
    audit.record(session, request, user, AuditAction.UPDATE, AuditObject.USER, user_id, now=clock.now())
    log.info(
        "user changed target_id=%s fields=%s by user_id=%s", user_id, sorted(body.model_fields_set), user.id
    )
    return user_out(target)


# ------------------------------------------------------------------ teams


@router.get("/teams/{team_id}/members", response_model=MemberList, responses=NOT_FOUND, tags=["teams"])
def team_members(team_id: PathId, session: SessionDep, user: StaffUser) -> MemberList:
    """Active users of a team, for the assignment picker (caseworkers: their own team only)."""
    if session.get(Team, team_id) is None or (user.role not in SEE_ALL_ROLES and user.team_id != team_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="team not found")
    rows = session.exec(
        select(User)
        .where(col(User.team_id) == team_id, col(User.is_active), col(User.role).in_(ASSIGNABLE_ROLES))
        .order_by(col(User.username))
    ).all()
    return MemberList(
        items=[
            MemberOut(id=u.id, username=u.username, display_name=u.display_name, role=u.role)
            for u in rows
            if u.id is not None
        ]
    )


@router.post(
    "/teams",
    response_model=TeamDetail,
    status_code=status.HTTP_201_CREATED,
    responses={422: {}},
    tags=["teams"],
)
def add_team(
    body: TeamIn, request: Request, session: SessionDep, user: AdminUser, clock: ClockDep
) -> TeamDetail:
    if session.get(Organisation, body.organisation_id) is None:
        raise unprocessable("no such organisation", "body", "organisation_id")
    team = Team(name=body.name.strip(), organisation_id=body.organisation_id)
    session.add(team)
    session.flush()
    assert team.id is not None
    audit.record(session, request, user, AuditAction.CREATE, AuditObject.TEAM, team.id, now=clock.now())
    return TeamDetail(id=team.id, name=team.name, organisation_id=team.organisation_id)


@router.patch("/teams/{team_id}", response_model=TeamDetail, responses=NOT_FOUND, tags=["teams"])
def rename_team(
    team_id: PathId, body: TeamPatch, request: Request, session: SessionDep, user: AdminUser, clock: ClockDep
) -> TeamDetail:
    team = session.get(Team, team_id)
    if team is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="team not found")
    team.name = body.name.strip()
    session.add(team)
    session.flush()
    audit.record(session, request, user, AuditAction.UPDATE, AuditObject.TEAM, team_id, now=clock.now())
    return TeamDetail(id=team_id, name=team.name, organisation_id=team.organisation_id)


# ------------------------------------------------------------------ organisations and policy (admin)


@router.get("/organisations", response_model=OrganisationList, tags=["organisations"])
def organisations(session: SessionDep, user: AdminUser) -> OrganisationList:
    rows = session.exec(select(Organisation).order_by(col(Organisation.name), col(Organisation.id))).all()
    return OrganisationList(
        items=[
            OrganisationOut(id=o.id, name=o.name, has_custom_policy=o.escalation_policy is not None)
            for o in rows
            if o.id is not None
        ]
    )


def _policy_out(org: Organisation) -> PolicyOut:
    assert org.id is not None
    if org.escalation_policy is None:
        return PolicyOut(organisation_id=org.id, is_default=True, policy=DEFAULT_POLICY.snapshot())
    try:
        policy = EscalationPolicy.model_validate(org.escalation_policy)
    except ValidationError:  # stored before a format change: show what the engine will actually use
        return PolicyOut(organisation_id=org.id, is_default=True, policy=DEFAULT_POLICY.snapshot())
    return PolicyOut(organisation_id=org.id, is_default=False, policy=policy.snapshot())


def _organisation(session: Session, organisation_id: int) -> Organisation:
    org = session.get(Organisation, organisation_id)
    if org is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="organisation not found")
    return org


@router.get(
    "/organisations/{organisation_id}/escalation-policy",
    response_model=PolicyOut,
    responses=NOT_FOUND,
    tags=["organisations"],
)
def get_policy(organisation_id: PathId, session: SessionDep, user: AdminUser) -> PolicyOut:
    return _policy_out(_organisation(session, organisation_id))


@router.put(
    "/organisations/{organisation_id}/escalation-policy",
    response_model=PolicyOut,
    responses={**NOT_FOUND, 422: {"description": "each problem with its path in the policy"}},
    tags=["organisations"],
)
def put_policy(
    organisation_id: PathId,
    body: PolicyIn,
    request: Request,
    session: SessionDep,
    user: AdminUser,
    clock: ClockDep,
) -> PolicyOut:
    """Replace the policy. New cases copy it when they open; open cases keep the one they started with."""
    org = _organisation(session, organisation_id)
    if body.policy is None:
        org.escalation_policy = None
    else:
        try:
            policy = EscalationPolicy.model_validate(body.policy)
        except ValidationError as exc:
            detail = [
                validation_item(("body", "policy", *(err["loc"])), err["msg"])
                for err in exc.errors(include_url=False)
            ]
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail) from None
        org.escalation_policy = policy.snapshot()
    session.add(org)
    session.flush()
    audit.record(
        session, request, user, AuditAction.UPDATE, AuditObject.ORGANISATION, organisation_id, now=clock.now()
    )
    log.info("escalation policy changed organisation_id=%s by user_id=%s", organisation_id, user.id)
    return _policy_out(org)
