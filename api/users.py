"""Dashboard users: the one place that validates and creates them (CLI, demo seeding, tests)."""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session, select

from api.security import hash_password
from core.clock import SYSTEM_CLOCK
from core.db import insert_first
from core.enums import Role
from core.models import Team, User

USERNAME_RE = re.compile(r"^[a-z0-9_.-]{3,100}$")
PHONE_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # argon2 would hash megabytes happily; a login form should not
TEAM_ROLES = frozenset({Role.CASEWORKER})  # caseworkers see only their team's households


def normalise_username(username: str) -> str:
    """Usernames are stored lower-case; logins are matched the same way."""
    return username.strip().lower()


def validate_username(username: str) -> str:
    name = normalise_username(username)
    if not USERNAME_RE.fullmatch(name):
        raise ValueError(
            "username must be 3-100 characters of lower-case letters, digits, '_', '.' or '-' "
            f"(got {len(name)} characters)"
        )
    return name


def validate_password(password: str, *, allow_weak: bool = False) -> None:
    if not password:
        raise ValueError("password must not be empty")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"password must be at most {MAX_PASSWORD_LENGTH} characters")
    if len(password) < MIN_PASSWORD_LENGTH and not allow_weak:
        raise ValueError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role | str,
    team_id: int | None = None,
    display_name: str = "",
    phone: str | None = None,
    allow_weak_password: bool = False,
    now: datetime | None = None,
) -> User:
    """Validate and add a user (flushed, not committed). Raises ValueError with a clear message.

    ``allow_weak_password`` exists only for the dev demo login; callers pass it when
    ``settings.env == "dev"``.
    """
    name = validate_username(username)
    validate_password(password, allow_weak=allow_weak_password)
    try:
        role = Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {role!r}; allowed: {allowed}") from None
    if role in TEAM_ROLES and team_id is None:
        raise ValueError(f"a {role.value} user needs a team")
    if team_id is not None and session.get(Team, team_id) is None:
        raise ValueError(f"no team with id {team_id}")
    if phone is not None and not PHONE_RE.fullmatch(phone):
        raise ValueError("phone must be in E.164 form, e.g. +821012345678")
    if len(display_name) > 200:
        raise ValueError("display name must be at most 200 characters")
    if session.exec(select(User.id).where(User.username == name)).first() is not None:
        raise ValueError(f"username {name!r} is already taken")
    user = User(
        username=name,
        password_hash=hash_password(password),
        role=role,
        team_id=team_id,
        display_name=display_name,
        phone=phone,
        created_at=now or SYSTEM_CLOCK.now(),
    )
    if not insert_first(session, user):  # a concurrent insert of the same name loses here
        raise ValueError(f"username {name!r} is already taken")
    return user


def revoke_tokens(user: User) -> None:
    """End every session of *user*: tokens carry the version they were issued under."""
    user.token_version = (user.token_version or 0) + 1
