"""Typed dependency aliases: the request's session, settings, clock and authenticated user.

Everything comes from ``app.state`` (set by :func:`api.app.create_app`), so the app has no
import-time globals and tests can build as many apps as they like.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from api.audit import take_pending, take_refused
from api.errors import ApiError, ErrorCode
from api.login_limiter import AccountThrottle, LoginLimiter
from api.security import InvalidToken, decode_access_token
from core.clock import Clock
from core.enums import Role
from core.models import User
from core.settings import Settings

log = logging.getLogger(__name__)
TOKEN_URL = "/api/v1/auth/token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_login_limiter(request: Request) -> LoginLimiter:
    limiter: LoginLimiter = request.app.state.login_limiter
    return limiter


def get_account_throttle(request: Request) -> AccountThrottle:
    throttle: AccountThrottle = request.app.state.account_throttle
    return throttle


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClockDep = Annotated[Clock, Depends(get_clock)]
EngineDep = Annotated[Engine, Depends(get_engine)]
LoginLimiterDep = Annotated[LoginLimiter, Depends(get_login_limiter)]
AccountThrottleDep = Annotated[AccountThrottle, Depends(get_account_throttle)]


def get_session(request: Request, engine: EngineDep) -> Iterator[Session]:
    """One session per request; a successful mutating request commits once, here.

    Used with ``scope="function"`` so the commit happens *before* the response is sent:
    a failed commit becomes an error response, never a 200 for lost work.
    """
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            _write_refused(session)
            raise
        audit_entries = take_pending(session)
        if request.method in SAFE_METHODS:
            session.rollback()  # a read changes nothing, except that it is on the record
            if not audit_entries:
                return
        session.add_all(audit_entries)
        session.commit()


def _write_refused(session: Session) -> None:
    """A failed or refused login is on the record even though its request fails; losing that
    entry (the database is down) must not hide the request's own error."""
    refused = take_refused(session)
    if not refused:
        return
    try:
        session.add_all(refused)
        session.commit()
    except SQLAlchemyError:
        session.rollback()
        log.exception("audit entries of a refused request not written n=%s", len(refused))


SessionDep = Annotated[Session, Depends(get_session, scope="function")]

_bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


def _unauthorised(detail: str, *, invalid_token: bool) -> HTTPException:
    challenge = 'Bearer error="invalid_token"' if invalid_token else "Bearer"
    code = ErrorCode.INVALID_TOKEN if invalid_token else ErrorCode.NOT_AUTHENTICATED
    return ApiError(status.HTTP_401_UNAUTHORIZED, code, detail, headers={"WWW-Authenticate": challenge})


def get_current_user(
    token: Annotated[str | None, Depends(_bearer)],
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> User:
    """The active user behind the bearer token. Role comes from the database, not the token,
    so a demotion or deactivation takes effect on the next request; a token issued before the
    user's last password or role change, logout or deactivation (an older token version) is dead."""
    if not token:
        raise _unauthorised("not authenticated", invalid_token=False)
    try:
        claims = decode_access_token(token, secret_key=settings.secret_key, now=clock.now())
    except InvalidToken:
        raise _unauthorised("invalid or expired token", invalid_token=True) from None
    user = session.get(User, claims.user_id)
    if user is None or not user.is_active or user.token_version != claims.token_version:
        raise _unauthorised("invalid or expired token", invalid_token=True)
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: Role) -> Callable[[User], User]:
    """Dependency factory: the current user, or 403 when their role is not in *roles*."""
    allowed = frozenset(roles)

    def dependency(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise ApiError(status.HTTP_403_FORBIDDEN, ErrorCode.FORBIDDEN_ROLE, "not allowed for your role")
        return user

    return dependency


# Who may do what (routes use these aliases; one place to read the policy). Which households a
# caseworker may touch (their own team's) is the second gate, in api.queries.visible_households.
# Family members never use the API: they get a signed status link.
StaffUser = Annotated[User, Depends(require_roles(Role.ADMIN, Role.CASEWORKER, Role.CONTROL_ROOM))]
# Control room is read + acknowledge (and notes): resolving cases, assigning them and changing a
# household are the caseworker's (and an admin's): one role set, so one alias.
ManagerUser = Annotated[User, Depends(require_roles(Role.ADMIN, Role.CASEWORKER))]
AdminUser = Annotated[User, Depends(require_roles(Role.ADMIN))]
