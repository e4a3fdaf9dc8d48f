"""Sessions end when they should (issue 13.7): tokens carry the user's token version, bumped by a
password, role or team change, a deactivation and ``POST /auth/logout``. Before, a token survived a
password reset until it expired, and there was no logout at all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.integration.api.conftest import PASSWORD, World

Auth = Callable[[str], dict[str, str]]


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine  # tokens do not depend on the dialect


def _login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _me(client: TestClient, headers: dict[str, str]) -> int:
    return int(client.get("/api/v1/auth/me", headers=headers).status_code)


def _patch_user(client: TestClient, auth: Auth, user_id: int, **changes: Any) -> None:
    response = client.patch(f"/api/v1/users/{user_id}", json=changes, headers=auth("admin"))
    assert response.status_code == 200, response.text


def test_a_password_reset_ends_the_old_sessions(app_client: TestClient, world: World, auth: Auth) -> None:
    stolen = _login(app_client, "caseworker-own")
    _patch_user(app_client, auth, world.people["caseworker_own"].id, password="a brand new password")
    assert _me(app_client, stolen) == 401
    assert _me(app_client, _login(app_client, "caseworker-own", "a brand new password")) == 200


@pytest.mark.parametrize(
    "changes",
    [{"role": "control_room", "team_id": None}, {"team_id": None, "role": "admin"}],
    ids=["role", "role-and-team"],
)
def test_a_role_change_ends_the_old_sessions(
    app_client: TestClient, world: World, auth: Auth, changes: dict[str, Any]
) -> None:
    before = _login(app_client, "caseworker-own")
    _patch_user(app_client, auth, world.people["caseworker_own"].id, **changes)
    assert _me(app_client, before) == 401


def test_a_deactivated_then_reactivated_user_does_not_get_the_old_token_back(
    app_client: TestClient, world: World, auth: Auth
) -> None:
    before = _login(app_client, "caseworker-own")
    user_id = world.people["caseworker_own"].id
    _patch_user(app_client, auth, user_id, is_active=False)
    _patch_user(app_client, auth, user_id, is_active=True)
    assert _me(app_client, before) == 401


def test_a_display_name_change_keeps_the_session(app_client: TestClient, world: World, auth: Auth) -> None:
    before = _login(app_client, "caseworker-own")
    _patch_user(app_client, auth, world.people["caseworker_own"].id, display_name="Kim Caseworker")
    assert _me(app_client, before) == 200


def test_logout_ends_every_session_of_the_user_and_only_theirs(app_client: TestClient, world: World) -> None:
    laptop = _login(app_client, "caseworker-own")
    phone = _login(app_client, "caseworker-own")
    other = _login(app_client, "control-room")
    assert app_client.post("/api/v1/auth/logout", headers=laptop).status_code == 204
    assert (_me(app_client, laptop), _me(app_client, phone), _me(app_client, other)) == (401, 401, 200)
    assert app_client.post("/api/v1/auth/logout", headers=laptop).status_code == 401
    assert _me(app_client, _login(app_client, "caseworker-own")) == 200
