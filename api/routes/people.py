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
from api.errors import (
    ErrorCode,
    conflict,
    error_response,
    not_found,
    sent_changes,
    unprocessable,
    validation_item,
)
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
from api.users import TEAM_ROLES, create_user, revoke_tokens
from core.enums import AuditAction, AuditObject, Role
from core.models import Organisation, Team, User
from notifier.policy import DEFAULT_POLICY, EscalationPolicy

log = logging.getLogger(__name__)
router = APIRouter(tags=["people"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: error_response("no such object")}


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
        409: error_response("username taken"),
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
            raise conflict(ErrorCode.USERNAME_TAKEN, message) from None
        code, field = _user_problem(message)
        raise unprocessable(message, "body", field, code=code) from None
    created.language = body.language
    session.add(created)
    session.flush()
    audit.record(session, request, user, AuditAction.CREATE, AuditObject.USER, created.id, now=now)
    log.info("user created new_user_id=%s role=%s by user_id=%s", created.id, created.role.value, user.id)
    return user_out(created)


def _user_problem(message: str) -> tuple[ErrorCode, str]:
    """Which field a ``create_user`` refusal is about, and its code (the body model catches most
    of these first; this covers what only create_user knows, like team rules)."""
    if "needs a team" in message:
        return ErrorCode.TEAM_REQUIRED, "team_id"
    if "no team" in message:
        return ErrorCode.NO_SUCH_TEAM, "team_id"
    if message.startswith("password must be at least"):
        return ErrorCode.PASSWORD_TOO_SHORT, "password"
    if message.startswith("password"):
        return ErrorCode.PASSWORD_TOO_LONG, "password"
    if message.startswith("phone"):
        return ErrorCode.PHONE_FORMAT, "phone"
    if message.startswith("display name"):
        return ErrorCode.FIELD_EMPTY, "display_name"
    return ErrorCode.USERNAME_FORMAT, "username"


@router.patch(
    "/users/{user_id}",
    response_model=UserOut,
    responses={**NOT_FOUND, 409: error_response("you cannot demote or deactivate yourself"), 422: {}},
)
def change_user(
    user_id: PathId, body: UserPatch, request: Request, session: SessionDep, user: AdminUser, clock: ClockDep
) -> UserOut:
    target = session.get(User, user_id)
    if target is None:
        raise not_found(ErrorCode.USER_NOT_FOUND, "user")
    changes = sent_changes(body)
    # Only team_id and phone may be cleared; a null elsewhere would reach a NOT NULL column (500,
    # found by schemathesis).
    nulled = sorted(k for k, v in changes.items() if v is None and k not in {"team_id", "phone"})
    if nulled:
        raise unprocessable(
            "this field cannot be set to null", "body", nulled[0], code=ErrorCode.FIELD_NOT_NULLABLE
        )
    if target.id == user.id and (
        changes.get("is_active") is False or changes.get("role", Role.ADMIN) != Role.ADMIN
    ):
        # The last admin locking themselves out needs a database console to undo.
        raise conflict(ErrorCode.CANNOT_CHANGE_SELF, "you cannot demote or deactivate yourself")
    if (
        "team_id" in changes
        and changes["team_id"] is not None
        and session.get(Team, changes["team_id"]) is None
    ):
        raise unprocessable("no such team", "body", "team_id", code=ErrorCode.NO_SUCH_TEAM)
    role = changes.get("role", target.role)
    team_id = changes.get("team_id", target.team_id)
    if role in TEAM_ROLES and team_id is None:
        raise unprocessable(
            f"a {Role(role).value} user needs a team", "body", "team_id", code=ErrorCode.TEAM_REQUIRED
        )
    previous_team = target.team_id
    password = changes.pop("password", None)
    if password is not None:
        target.password_hash = hash_password(password)
    # A new password, role or team, or a deactivation ends the user's sessions: whoever holds an
    # old token (a stolen one, or the person who lost the role) must log in again.
    if (
        password is not None
        or changes.get("is_active") is False
        or any(name in changes and changes[name] != getattr(target, name) for name in ("role", "team_id"))
    ):
        revoke_tokens(target)
    for name, value in changes.items():
        setattr(target, name, value)
    session.add(target)
    session.flush()
    now = clock.now()
    audit.record(session, request, user, AuditAction.UPDATE, AuditObject.USER, user_id, now=now)
    # Who may see which households changed in both teams: both on the record.
    audit.record_team_move(session, request, user, previous_team, target.team_id, now=now)
    log.info(
        "user changed target_id=%s fields=%s by user_id=%s", user_id, sorted(body.model_fields_set), user.id
    )
    return user_out(target)


# ------------------------------------------------------------------ teams


@router.get("/teams/{team_id}/members", response_model=MemberList, responses=NOT_FOUND, tags=["teams"])
def team_members(
    team_id: PathId, request: Request, session: SessionDep, user: StaffUser, clock: ClockDep
) -> MemberList:
    """Active users of a team, for the assignment picker (caseworkers: their own team only)."""
    if session.get(Team, team_id) is None or (user.role not in SEE_ALL_ROLES and user.team_id != team_id):
        raise not_found(ErrorCode.TEAM_NOT_FOUND, "team")
    rows = session.exec(
        select(User)
        .where(col(User.team_id) == team_id, col(User.is_active), col(User.role).in_(ASSIGNABLE_ROLES))
        .order_by(col(User.username))
    ).all()
    # Staff names are personal data, as on the user list: who looked at a team's members is on record.
    audit.record(session, request, user, AuditAction.VIEW, AuditObject.TEAM, team_id, now=clock.now())
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
        raise unprocessable(
            "no such organisation", "body", "organisation_id", code=ErrorCode.NO_SUCH_ORGANISATION
        )
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
        raise not_found(ErrorCode.TEAM_NOT_FOUND, "team")
    if body.name is not None:
        team.name = body.name.strip()
    if body.phone is not None:
        team.phone = body.phone or None
    session.add(team)
    session.flush()
    audit.record(session, request, user, AuditAction.UPDATE, AuditObject.TEAM, team_id, now=clock.now())
    return TeamDetail(id=team_id, name=team.name, organisation_id=team.organisation_id, phone=team.phone)


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
        raise not_found(ErrorCode.ORGANISATION_NOT_FOUND, "organisation")
    return org


@router.get(
    "/organisations/{organisation_id}/escalation-policy",
    response_model=PolicyOut,
    responses=NOT_FOUND,
    tags=["organisations"],
)
def get_policy(organisation_id: PathId, session: SessionDep, user: AdminUser) -> PolicyOut:
    return _policy_out(_organisation(session, organisation_id))


def _plain_ctx(ctx: Any) -> dict[str, Any] | None:
    """pydantic's ctx, minus what is not JSON (a value_error carries the exception itself)."""
    if not isinstance(ctx, dict):
        return None
    plain = {k: v for k, v in ctx.items() if isinstance(v, str | int | float | bool)}
    return plain or None


def _policy_problem(err: Any, data: dict[str, Any]) -> dict[str, Any]:
    """One 422 item for a policy problem, at the field it is about and with a code.

    Field-level problems keep pydantic's type and ctx. The rules that span fields are model
    validators in notifier/policy.py, which pydantic reports as a plain ``value_error`` on the
    whole object; which rule it was is decided here from the document itself (not from the
    English message), so the dashboard can put it next to the right field in the user's language.
    """
    loc: tuple[str | int, ...] = ("body", "policy", *err["loc"])
    code, ctx = err["type"], _plain_ctx(err.get("ctx"))
    if err["type"] == "value_error":
        ctx = None
        if err["loc"] and err["loc"][-1] == "quiet_hours":
            code = ErrorCode.POLICY_QUIET_HOURS_EMPTY
        elif not err["loc"]:
            steps = data.get("steps")
            repeat_from = data.get("repeat_from")
            max_repeats = data.get("max_repeats")
            if isinstance(repeat_from, int) and isinstance(steps, list) and repeat_from >= len(steps):
                code, ctx = ErrorCode.POLICY_REPEAT_FROM_RANGE, {"steps": len(steps)}
                loc = (*loc, "repeat_from")
            elif repeat_from is None and isinstance(max_repeats, int) and max_repeats > 0:
                code = ErrorCode.POLICY_REPEAT_FROM_MISSING
                loc = (*loc, "repeat_from")
            # else: a rule this function does not know yet stays a plain value_error on the whole
            # policy (shown as "invalid value" in the summary), rather than being mislabelled.
    return validation_item(loc, err["msg"], str(code), ctx)


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
            detail = [_policy_problem(err, body.policy) for err in exc.errors(include_url=False)]
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail) from None
        org.escalation_policy = policy.snapshot()
    session.add(org)
    session.flush()
    audit.record(
        session, request, user, AuditAction.UPDATE, AuditObject.ORGANISATION, organisation_id, now=clock.now()
    )
    log.info("escalation policy changed organisation_id=%s by user_id=%s", organisation_id, user.id)
    return _policy_out(org)
