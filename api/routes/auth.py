"""Log in (password → bearer token), "who am I", and the caller's own dashboard preferences."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlmodel import Session, select

from api import audit
from api.deps import (
    AccountThrottleDep,
    ClockDep,
    CurrentUser,
    LoginLimiterDep,
    SessionDep,
    SettingsDep,
    StaffUser,
)
from api.errors import ApiError, ErrorCode, unprocessable
from api.login_limiter import LoginLimiter
from api.schemas import MeOut, PreferencesIn, TokenOut
from api.security import burn_verification, create_access_token, verify_password
from api.users import USERNAME_RE, normalise_username, revoke_tokens
from core.enums import AuditAction, AuditObject
from core.models import User

log = logging.getLogger(__name__)
router = APIRouter(prefix="/auth", tags=["auth"])

BAD_LOGIN = "incorrect username or password"


@router.post("/token", response_model=TokenOut)
def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    limiter: LoginLimiterDep,
    throttle: AccountThrottleDep,
) -> TokenOut:
    now = clock.now()
    username = normalise_username(form.username)
    client = request.client.host if request.client else "unknown"
    key = LoginLimiter.key(username, client)
    # Checked before the password: a limited client learns nothing, even with the right one.
    waits = [w for w in (limiter.retry_after(key, now), throttle.retry_after(username, now)) if w]
    wait = max(waits) if waits else None
    if wait is not None:
        log.warning("login rate-limited user_key=%s client=%s", _user_ref(username), client)
        _audit(session, request, AuditAction.LOGIN_LOCKED_OUT, _account(session, username), now=now)
        raise ApiError(
            status.HTTP_429_TOO_MANY_REQUESTS,
            ErrorCode.TOO_MANY_LOGINS,
            "too many failed logins; try again later",
            headers={"Retry-After": str(wait)},
        )
    user = _account(session, username)
    if user is None:
        burn_verification(form.password)  # an unknown name costs as much as a wrong password
        ok = False
    else:
        ok = verify_password(form.password, user.password_hash) and user.is_active
    if not ok or user is None or user.id is None:
        limiter.record_failure(key, now)
        if throttle.record_failure(username, now):
            log.warning("login failures for one account from many tries user_key=%s", _user_ref(username))
        log.info("login failed client=%s", client)
        _audit(session, request, AuditAction.LOGIN_FAILED, user, now=now)
        raise ApiError(
            status.HTTP_401_UNAUTHORIZED,
            ErrorCode.BAD_LOGIN,
            BAD_LOGIN,
            headers={"WWW-Authenticate": "Bearer"},
        )
    limiter.reset(key)
    throttle.reset(username)
    token = create_access_token(
        user_id=user.id,
        role=user.role,
        token_version=user.token_version,
        secret_key=settings.secret_key,
        lifetime_minutes=settings.access_token_minutes,
        now=now,
    )
    log.info("login ok user_id=%s", user.id)
    audit.record(session, request, user, AuditAction.LOGIN, AuditObject.USER, user.id, now=now)
    return TokenOut(access_token=token.token, expires_in=token.expires_in)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(user: CurrentUser, session: SessionDep) -> Response:
    """End every session of the caller (all their tokens, on every device)."""
    revoke_tokens(user)
    session.add(user)
    log.info("logout user_id=%s", user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=MeOut)
def me(user: CurrentUser) -> MeOut:
    return _me(user)


@router.patch("/me/preferences", response_model=MeOut)
def set_preferences(
    body: PreferencesIn, request: Request, session: SessionDep, user: StaffUser, clock: ClockDep
) -> MeOut:
    """The caller's own choices (the live notice of new 긴급 cases and its sound), kept on the
    account so they follow the user to any browser; a change like any other, on the record."""
    changes = body.model_dump(exclude_none=True)
    if not changes:
        raise unprocessable("send at least one field to change", "body", code=ErrorCode.NOTHING_TO_CHANGE)
    for name, value in changes.items():
        setattr(user, name, value)
    session.add(user)
    audit.record(session, request, user, AuditAction.UPDATE, AuditObject.USER, user.id, now=clock.now())
    return _me(user)


def _me(user: User) -> MeOut:
    assert user.id is not None
    return MeOut(
        id=user.id,
        username=user.username,
        role=user.role,
        team_id=user.team_id,
        display_name=user.display_name,
        urgent_notice=user.urgent_notice,
        urgent_sound=user.urgent_sound,
    )


def _account(session: Session, username: str) -> User | None:
    # A name no user can have (e.g. with a NUL byte, which PostgreSQL text refuses) is not looked up.
    if not USERNAME_RE.fullmatch(username):
        return None
    return session.exec(select(User).where(User.username == username)).first()


def _audit(
    session: Session, request: Request, action: AuditAction, account: User | None, *, now: datetime
) -> None:
    """A failed or refused login, on the record although the request fails. Nobody is signed in,
    so no user; the object is the account tried, when the name is one (never the name itself:
    a mistyped password in the name field must not land in the log)."""
    audit.record(
        session,
        request,
        None,
        action,
        AuditObject.USER,
        account.id if account else None,
        now=now,
        even_if_refused=True,
    )


def _user_ref(username: str) -> str:
    # Usernames may be personal (a name); log a short stable fingerprint instead.
    return hashlib.sha256(username.encode("utf-8")).hexdigest()[:10]
