"""api.users.create_user: the one validated way to add a dashboard user (CLI, demo, tests)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.security import verify_password
from api.users import create_user
from core.db import session_scope
from core.enums import Role
from core.models import User
from tests.factories import make_team

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def test_creates_an_active_user_with_an_argon2id_hash(engine: Engine) -> None:
    with session_scope(engine) as session:
        team = make_team(session)
        user = create_user(
            session,
            username="Kim.Social-Worker_1",
            password="long enough pw",
            role="caseworker",
            team_id=team.id,
            display_name="김복지",
            phone="+821012345678",
            now=NOW,
        )
        user_id = user.id
    with Session(engine) as session:
        stored = session.get(User, user_id)
        assert stored is not None
        assert stored.username == "kim.social-worker_1"
        assert stored.role == Role.CASEWORKER
        assert stored.is_active
        assert stored.created_at == NOW
        assert stored.password_hash.startswith("$argon2id$")
        assert "long enough pw" not in stored.password_hash
        assert verify_password("long enough pw", stored.password_hash)


def test_duplicate_username_is_a_clear_value_error(engine: Engine) -> None:
    with session_scope(engine) as session:
        create_user(session, username="admin", password="password-1", role=Role.ADMIN, now=NOW)
    with (
        pytest.raises(ValueError, match="username 'admin' is already taken"),
        session_scope(engine) as session,
    ):
        create_user(session, username="ADMIN", password="password-2", role=Role.ADMIN, now=NOW)
    with Session(engine) as session:
        assert len(session.exec(select(User)).all()) == 1


INVALID: list[tuple[dict[str, object], str]] = [
    ({"username": "ab"}, "username must be 3-100 characters"),
    ({"username": "x" * 101}, "username must be 3-100 characters"),
    ({"username": "kim lee"}, "username must be 3-100 characters"),
    ({"username": "김복지"}, "username must be 3-100 characters"),
    ({"password": "short"}, "at least 8 characters"),
    ({"password": ""}, "must not be empty"),
    ({"role": "superuser"}, "unknown role 'superuser'; allowed: admin, caseworker, control_room, family"),
    ({"role": "caseworker", "team_id": None}, "a caseworker user needs a team"),
    ({"team_id": 999_999}, "no team with id 999999"),
    ({"phone": "010-1234-5678"}, "E.164"),
]


def test_invalid_input_is_refused_with_a_clear_message(engine: Engine) -> None:
    with Session(engine) as session:
        for kwargs, message in INVALID:
            args: dict[str, object] = {
                "username": "valid.name",
                "password": "password-ok",
                "role": "admin",
                **kwargs,
            }
            with pytest.raises(ValueError, match=message):
                create_user(session, now=NOW, **args)  # type: ignore[arg-type]
        assert session.exec(select(User)).all() == []


def test_weak_password_only_when_explicitly_allowed_for_the_demo(engine: Engine) -> None:
    with session_scope(engine) as session:
        user = create_user(
            session, username="demo", password="demo", role=Role.ADMIN, allow_weak_password=True, now=NOW
        )
        assert verify_password("demo", user.password_hash)
