"""POST /api/v1/auth/token and bearer-token checking (expiry on the injected clock)."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlmodel import col

from api.security import create_access_token, signing_key
from core.clock import ManualClock
from core.enums import Role
from core.models import User
from core.settings import Settings
from tests.integration.api.conftest import PASSWORD, World, token_for

TOKEN_URL = "/api/v1/auth/token"


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    # Tokens and the limiter do not depend on the dialect; the role/visibility tests run on both.
    return sqlite_engine


def _login(client: TestClient, username: str, password: str) -> tuple[int, dict[str, object], dict[str, str]]:
    response = client.post(TOKEN_URL, data={"username": username, "password": password})
    return response.status_code, response.json(), dict(response.headers)


def test_login_returns_a_bearer_token_that_works(
    app_client: TestClient, world: World, settings: Settings
) -> None:
    status, body, _ = _login(app_client, "admin", PASSWORD)
    assert status == 200
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_minutes * 60
    me = app_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == "admin"
    assert me.json()["role"] == "admin"


def test_token_carries_subject_role_and_clock_based_expiry(
    app_client: TestClient, world: World, settings: Settings, clock: ManualClock
) -> None:
    _, body, _ = _login(app_client, "caseworker-own", PASSWORD)
    claims = jwt.decode(
        str(body["access_token"]),
        signing_key(settings.secret_key),
        algorithms=["HS256"],
        options={"verify_exp": False},
    )
    assert claims["sub"] == str(world.people["caseworker_own"].id)
    assert claims["role"] == "caseworker"
    assert claims["exp"] == int((clock.now() + timedelta(minutes=30)).timestamp())


def test_username_is_matched_case_insensitively(app_client: TestClient, world: World) -> None:
    status, _, _ = _login(app_client, "  ADMIN ", PASSWORD)
    assert status == 200


def test_wrong_password_and_unknown_user_get_the_same_401(app_client: TestClient, world: World) -> None:
    wrong = _login(app_client, "admin", "not the password")
    unknown = _login(app_client, "nobody", PASSWORD)
    for status, body, headers in (wrong, unknown):
        assert status == 401
        assert body == {"detail": "incorrect username or password", "code": "bad_login"}
        assert headers["www-authenticate"] == "Bearer"


def test_inactive_user_cannot_log_in(app_client: TestClient, world: World, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(update(User).where(col(User.username) == "admin").values(is_active=False))
    status, _, _ = _login(app_client, "admin", PASSWORD)
    assert status == 401


def test_five_failures_in_five_minutes_lock_out_that_username_and_client(
    app_client: TestClient, world: World, clock: ManualClock
) -> None:
    for _ in range(5):
        assert _login(app_client, "admin", "bad guess")[0] == 401
        clock.advance(timedelta(seconds=10))
    # Even the right password is refused while limited: the limiter is checked first.
    status, body, headers = _login(app_client, "admin", PASSWORD)
    assert status == 429
    assert "too many" in str(body["detail"]) and body["code"] == "too_many_logins"
    # First failure at t0, now t0+50s: allowed again at t0+300s.
    assert headers["retry-after"] == "250"
    # Another username from the same client is not affected.
    assert _login(app_client, "control-room", PASSWORD)[0] == 200
    # After the oldest failure ages out, one more attempt is allowed.
    clock.advance(timedelta(seconds=251))
    assert _login(app_client, "admin", PASSWORD)[0] == 200


def test_guesses_from_many_addresses_are_slowed_per_account(
    app_client: TestClient, world: World, clock: ManualClock
) -> None:
    """Issue 13.5: one address per guess escaped the (username, address) limit entirely."""
    app = app_client.app
    statuses = []
    for n in range(12):
        with TestClient(app, client=(f"198.51.100.{n + 1}", 40000)) as client:
            statuses.append(_login(client, "admin", f"guess {n}")[0])
    assert statuses == [401] * 11 + [429]  # ten free failures, then the account waits
    with TestClient(app, client=("203.0.113.77", 40000)) as client:
        status, _, headers = _login(client, "admin", PASSWORD)  # even the owner, even the right password
    assert status == 429 and headers["retry-after"] == "1"
    clock.advance(timedelta(seconds=1))
    with TestClient(app, client=("203.0.113.77", 40000)) as client:
        assert _login(client, "admin", PASSWORD)[0] == 200


def test_successful_login_resets_the_failure_count(app_client: TestClient, world: World) -> None:
    for _ in range(4):
        assert _login(app_client, "admin", "bad guess")[0] == 401
    assert _login(app_client, "admin", PASSWORD)[0] == 200
    for _ in range(4):
        assert _login(app_client, "admin", "bad guess")[0] == 401
    assert _login(app_client, "admin", PASSWORD)[0] == 200


def test_failures_older_than_the_window_do_not_count(
    app_client: TestClient, world: World, clock: ManualClock
) -> None:
    for _ in range(4):
        _login(app_client, "admin", "bad guess")
    clock.advance(timedelta(minutes=5, seconds=1))
    _login(app_client, "admin", "bad guess")
    assert _login(app_client, "admin", PASSWORD)[0] == 200


def test_missing_form_fields_are_422(app_client: TestClient, world: World) -> None:
    response = app_client.post(TOKEN_URL, data={"username": "admin"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "password"]


def test_expired_token_is_401_with_invalid_token_challenge(
    app_client: TestClient, world: World, settings: Settings, clock: ManualClock
) -> None:
    token = token_for(world.people["admin"], settings, clock)
    headers = {"Authorization": f"Bearer {token}"}
    clock.advance(timedelta(minutes=29, seconds=59))
    assert app_client.get("/api/v1/cases", headers=headers).status_code == 200
    clock.advance(timedelta(seconds=1))
    response = app_client.get("/api/v1/cases", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_missing_token_is_401_with_bearer_challenge(app_client: TestClient, world: World) -> None:
    response = app_client.get("/api/v1/cases")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_forged_and_garbage_tokens_are_401(
    app_client: TestClient, world: World, settings: Settings, clock: ManualClock
) -> None:
    forged = create_access_token(
        user_id=world.people["admin"].id,
        role=Role.ADMIN,
        secret_key="another-secret-key-0123456789",
        lifetime_minutes=30,
        now=clock.now(),
    ).token
    unsigned = jwt.encode(
        {"sub": str(world.people["admin"].id), "role": "admin", "exp": 2**40}, key=None, algorithm="none"
    )
    for token in (forged, unsigned, "not-a-jwt"):
        response = app_client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token


def test_token_of_a_deactivated_user_stops_working(
    app_client: TestClient, world: World, settings: Settings, clock: ManualClock, engine: Engine
) -> None:
    headers = {"Authorization": f"Bearer {token_for(world.people['admin'], settings, clock)}"}
    assert app_client.get("/api/v1/cases", headers=headers).status_code == 200
    with engine.begin() as conn:
        conn.execute(update(User).where(col(User.username) == "admin").values(is_active=False))
    assert app_client.get("/api/v1/cases", headers=headers).status_code == 401


def test_role_is_read_from_the_database_not_the_token(
    app_client: TestClient, world: World, settings: Settings, clock: ManualClock, engine: Engine
) -> None:
    # A family member's token that claims "admin" must still be treated as family.
    family = world.people["family"]
    token = create_access_token(
        user_id=family.id,
        role=Role.ADMIN,
        secret_key=settings.secret_key,
        lifetime_minutes=30,
        now=clock.now(),
    ).token
    response = app_client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
