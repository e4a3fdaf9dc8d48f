"""Management API: users (admin), teams, the escalation policy (new cases take it, open cases
keep theirs), households and residents, and the check-in schedule and summaries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CallOutcome, CaseKind, Role, Severity
from core.models import Case, Household, Team, User
from notifier import lifecycle
from notifier.policy import snapshot_for_household
from tests.factories import make_checkin_call
from tests.integration.api.conftest import World

Auth = Callable[[str], dict[str, str]]


def _team_ids(engine: Engine, world: World) -> tuple[int, int]:
    with Session(engine) as session:
        own = session.get(User, world.people["caseworker_own"].id)
        other = session.get(User, world.people["caseworker_other"].id)
        assert own and other and own.team_id and other.team_id
        return own.team_id, other.team_id


def test_admin_creates_and_deactivates_a_user(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    team_a, _ = _team_ids(engine, world)
    body = {"username": "new.worker", "password": "a long password", "role": "caseworker", "team_id": team_a}
    created = app_client.post("/api/v1/users", json=body, headers=auth("admin"))
    assert created.status_code == 201, created.text
    assert "password" not in created.text and "hash" not in created.text
    user_id = created.json()["id"]

    assert app_client.post("/api/v1/users", json=body, headers=auth("admin")).status_code == 409
    no_team = app_client.post(
        "/api/v1/users", json={**body, "username": "lonely", "team_id": None}, headers=auth("admin")
    )
    assert no_team.status_code == 422 and no_team.json()["detail"][0]["loc"] == ["body", "team_id"]
    short = app_client.post(
        "/api/v1/users", json={**body, "username": "shorty", "password": "short"}, headers=auth("admin")
    )
    assert short.status_code == 422

    login = app_client.post(
        "/api/v1/auth/token", data={"username": "new.worker", "password": "a long password"}
    )
    assert login.status_code == 200
    token = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert app_client.get("/api/v1/auth/me", headers=token).status_code == 200

    off = app_client.patch(f"/api/v1/users/{user_id}", json={"is_active": False}, headers=auth("admin"))
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert app_client.get("/api/v1/auth/me", headers=token).status_code == 401  # at once, not at expiry

    listed = app_client.get("/api/v1/users", params={"active": False}, headers=auth("admin")).json()
    assert [u["username"] for u in listed["items"]] == ["new.worker"]


def test_admin_cannot_lock_themselves_out(app_client: TestClient, world: World, auth: Auth) -> None:
    admin_id = world.people["admin"].id
    for change in ({"is_active": False}, {"role": "control_room"}):
        response = app_client.patch(f"/api/v1/users/{admin_id}", json=change, headers=auth("admin"))
        assert response.status_code == 409
    assert app_client.patch(f"/api/v1/users/{admin_id}", json={}, headers=auth("admin")).status_code == 422


def test_policy_edit_is_validated_and_only_new_cases_take_it(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    team_a, _ = _team_ids(engine, world)
    with Session(engine) as session:
        team = session.get(Team, team_a)
        assert team is not None
        org_id = team.organisation_id
    url = f"/api/v1/organisations/{org_id}/escalation-policy"
    current = app_client.get(url, headers=auth("admin")).json()
    assert current["is_default"] is True and current["policy"]["steps"]

    bad = app_client.put(
        url,
        json={"policy": {"steps": [{"action": "call_resident", "wait_minutes": 0}, {"action": "fly"}]}},
        headers=auth("admin"),
    )
    assert bad.status_code == 422
    locs = [item["loc"] for item in bad.json()["detail"]]
    assert ["body", "policy", "steps", 0, "call_resident", "wait_minutes"] in locs
    assert any(loc[:4] == ["body", "policy", "steps", 1] for loc in locs)
    assert app_client.get(url, headers=auth("admin")).json()["is_default"] is True  # nothing written

    with Session(engine) as session:
        open_before = session.get(Case, world.case_a)
        assert open_before is not None
        snapshot_before = dict(open_before.policy_snapshot)

    policy = {"steps": [{"action": "notify_caseworker", "wait_minutes": 7}]}
    saved = app_client.put(url, json={"policy": policy}, headers=auth("admin"))
    assert saved.status_code == 200, saved.text
    assert saved.json()["is_default"] is False
    assert saved.json()["policy"]["steps"] == [{"action": "notify_caseworker", "wait_minutes": 7}]

    with session_scope(engine) as session:
        new_case, _ = lifecycle.open_or_redetect(
            session,
            household_id=world.household_a2,
            kind=CaseKind.DEVICE_OFFLINE,
            severity=Severity.WARNING,
            explanation="plug offline",
            policy_snapshot=snapshot_for_household(session, world.household_a2),
            now=clock.now(),
        )
        assert new_case.policy_snapshot["steps"] == [{"action": "notify_caseworker", "wait_minutes": 7}]
        still_open = session.get(Case, world.case_a)
        assert still_open is not None and still_open.policy_snapshot == snapshot_before

    reset = app_client.put(url, json={"policy": None}, headers=auth("admin"))
    assert reset.status_code == 200 and reset.json()["is_default"] is True
    assert (
        app_client.get("/api/v1/organisations/999999/escalation-policy", headers=auth("admin")).status_code
        == 404
    )


def test_household_create_edit_and_team_rules(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    team_a, team_b = _team_ids(engine, world)
    body = {
        "code": "GN-0099",
        "team_id": team_a,
        "timezone": "Asia/Seoul",
        "resident": {"name": "Park Test", "phone": "+821098765432"},
    }
    created = app_client.post("/api/v1/households", json=body, headers=auth("caseworker_own"))
    assert created.status_code == 201, created.text
    household = created.json()
    assert household["residents"][0]["name"] == "Park Test"

    assert app_client.post("/api/v1/households", json=body, headers=auth("admin")).status_code == 409
    bad_tz = app_client.post(
        "/api/v1/households",
        json={**body, "code": "GN-0100", "timezone": "Mars/Olympus"},
        headers=auth("admin"),
    )
    assert bad_tz.status_code == 422 and bad_tz.json()["detail"][0]["loc"] == ["body", "timezone"]
    other_team = app_client.post(
        "/api/v1/households",
        json={**body, "code": "GN-0101", "team_id": team_b},
        headers=auth("caseworker_own"),
    )
    assert other_team.status_code == 422

    url = f"/api/v1/households/{household['id']}"
    edited = app_client.patch(
        url, json={"address": "new address", "quiet_hours": 10}, headers=auth("caseworker_own")
    )
    assert edited.status_code == 200 and edited.json()["quiet_hours"] == 10
    move = app_client.patch(url, json={"team_id": team_b}, headers=auth("caseworker_own"))
    assert move.status_code == 422
    moved = app_client.patch(url, json={"team_id": team_b}, headers=auth("admin"))
    assert moved.status_code == 200 and moved.json()["team_id"] == team_b
    # Now in team B: caseworker_own no longer sees it at all.
    assert app_client.patch(url, json={"address": "x"}, headers=auth("caseworker_own")).status_code == 404

    resident_id = household["residents"][0]["id"]
    renamed = app_client.patch(
        f"/api/v1/residents/{resident_id}", json={"phone": None}, headers=auth("admin")
    )
    assert renamed.status_code == 200 and renamed.json()["phone"] is None
    assert (
        app_client.patch(
            f"/api/v1/residents/{resident_id}", json={"name": None}, headers=auth("admin")
        ).status_code
        == 422
    )


def test_checkin_schedule_and_summaries(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    base = f"/api/v1/households/{world.household_a}"
    empty = app_client.get(base + "/checkin-schedule", headers=auth("control_room")).json()
    assert empty["configured"] is False and empty["next_due_at"] is None

    for bad in (
        {"weekdays": [], "local_time": "10:00"},
        {"weekdays": [8], "local_time": "10:00"},
        {"weekdays": [1, 1], "local_time": "10:00"},
        {"weekdays": [1], "local_time": "25:00"},
    ):
        assert (
            app_client.put(base + "/checkin-schedule", json=bad, headers=auth("admin")).status_code == 422
        ), bad
    assert (
        app_client.put(
            base + "/checkin-schedule",
            json={"weekdays": [2], "local_time": "10:00"},
            headers=auth("control_room"),
        ).status_code
        == 403
    )

    saved = app_client.put(
        base + "/checkin-schedule",
        json={"weekdays": [4, 1], "local_time": "09:30"},
        headers=auth("caseworker_own"),
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["weekdays"] == [1, 4] and saved.json()["configured"] is True
    assert saved.json()["next_due_at"] is not None

    with session_scope(engine) as session:
        household = session.get(Household, world.household_a)
        assert household is not None
        for n, (answers, outcome) in enumerate(
            [
                (
                    {"meals": {"answer": "ok"}, "sleep": {"answer": "ok"}, "health": {"answer": "ok"}},
                    CallOutcome.OK,
                ),
                (
                    {
                        "meals": {"answer": "concern"},
                        "sleep": {"answer": "ok"},
                        "health": {"answer": "emergency"},
                    },
                    CallOutcome.EMERGENCY,
                ),
            ]
        ):
            make_checkin_call(
                session, household, at=clock.now() + timedelta(days=n), outcome=outcome, answers=answers
            )

    page = app_client.get(base + "/checkins", params={"lang": "en"}, headers=auth("caseworker_own")).json()
    assert page["total"] == 2
    newest, oldest = page["items"]
    assert newest["flags"] == ["meals_concern", "health_emergency"]
    assert newest["answers"]["health"] == "emergency"
    assert oldest["flags"] == [] and oldest["outcome"] == "ok"
    assert "Meals" in newest["summary"] or "meal" in newest["summary"].lower()
    assert app_client.get(base + "/checkins", headers=auth("caseworker_other")).status_code == 404
    assert (
        app_client.get(
            f"/api/v1/households/{world.household_b}/checkins", headers=auth("caseworker_own")
        ).status_code
        == 404
    )


def test_team_create_and_rename(app_client: TestClient, world: World, auth: Auth, engine: Engine) -> None:
    team_a, _ = _team_ids(engine, world)
    with Session(engine) as session:
        team = session.get(Team, team_a)
        assert team is not None
        org_id = team.organisation_id
    created = app_client.post(
        "/api/v1/teams", json={"name": "강남 2팀", "organisation_id": org_id}, headers=auth("admin")
    )
    assert created.status_code == 201
    no_org = app_client.post(
        "/api/v1/teams", json={"name": "x", "organisation_id": 999999}, headers=auth("admin")
    )
    assert no_org.status_code == 422
    renamed = app_client.patch(
        f"/api/v1/teams/{created.json()['id']}", json={"name": "강남 3팀"}, headers=auth("admin")
    )
    assert renamed.json()["name"] == "강남 3팀"
    with Session(engine) as session:
        assert session.exec(select(Team).where(Team.name == "강남 3팀")).one()
    assert Role.ADMIN  # the role enum is the one the API speaks


def test_household_list_searches_by_code_prefix_literally(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    with Session(engine) as session:
        codes = [h.code for h in session.exec(select(Household)).all()]
    prefix = codes[0][:3]
    found = app_client.get("/api/v1/households", params={"code": prefix}, headers=auth("admin")).json()
    assert found["total"] == sum(1 for c in codes if c.lower().startswith(prefix.lower())) > 0
    wildcard = app_client.get("/api/v1/households", params={"code": "%"}, headers=auth("admin")).json()
    assert wildcard["total"] == 0  # "%" is a character here, not "anything"


def test_form_posts_without_a_bearer_token_are_refused(
    app_client: TestClient, world: World, engine: Engine
) -> None:
    """No cookie authenticates the API, so a cross-site form post carries no credential (CSRF)."""
    app_client.cookies.set("session", "anything")
    response = app_client.post(
        "/api/v1/users",
        data={"username": "csrf.user", "password": "a long password", "role": "admin"},
    )
    assert response.status_code == 401
    with Session(engine) as session:
        assert session.exec(select(User).where(User.username == "csrf.user")).first() is None


def test_nul_bytes_are_a_422_not_a_database_error(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    """PostgreSQL text refuses NUL; found by Schemathesis (login) and checked on both databases."""
    team_a, _ = _team_ids(engine, world)
    created = app_client.post(
        "/api/v1/households",
        json={"code": "NUL-1", "team_id": team_a, "address": "a\x00b"},
        headers=auth("admin"),
    )
    assert created.status_code == 422 and created.json()["detail"][0]["loc"] == ["body", "address"]
    login = app_client.post("/api/v1/auth/token", data={"username": "\x00", "password": "x"})
    assert login.status_code == 401
    with Session(engine) as session:
        assert session.exec(select(Household).where(Household.code == "NUL-1")).first() is None
