"""What the audit log missed (issue 13.8): logins that worked, failed or were locked out, report
downloads, and who looked through a family status link. Each entry names ids, never a name,
a password or a link's token."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import ManualClock
from core.models import AuditEntry, Contact, Team
from tests.factories import load_all
from tests.integration.api.conftest import PASSWORD, PUBLIC_BASE_URL, World

Auth = Callable[[str], dict[str, str]]
TOKEN_URL = "/api/v1/auth/token"


def _entries(engine: Engine) -> list[tuple[object, ...]]:
    return [
        (e.action.value, e.user_id, e.object_type.value, e.object_id, e.client)
        for e in load_all(engine, AuditEntry)
    ]


def _login(client: TestClient, username: str, password: str) -> int:
    status: int = client.post(TOKEN_URL, data={"username": username, "password": password}).status_code
    return status


def test_logins_that_work_fail_or_are_locked_out_are_each_on_the_record(
    app_client: TestClient, world: World, engine: Engine, clock: ManualClock
) -> None:
    admin = world.people["admin"].id
    assert _login(app_client, "admin", PASSWORD) == 200
    assert _login(app_client, "nobody-here", "whatever") == 401
    for _ in range(5):
        assert _login(app_client, "admin", "bad guess") == 401
        clock.advance(timedelta(seconds=10))
    assert _login(app_client, "admin", PASSWORD) == 429  # even the right password, while locked out

    assert _entries(engine) == [
        ("login", admin, "user", admin, "testclient"),
        # Nobody signed in: no user. An unknown name names no account (and is not stored).
        ("login_failed", None, "user", None, "testclient"),
        *[("login_failed", None, "user", admin, "testclient")] * 5,
        ("login_locked_out", None, "user", admin, "testclient"),
    ]
    with Session(engine) as session:
        roles = {e.role for e in session.exec(select(AuditEntry)).all()}
    assert roles == {world.people["admin"].role, None}


def test_an_unknown_name_or_a_password_never_lands_in_the_log(
    app_client: TestClient, world: World, engine: Engine
) -> None:
    assert _login(app_client, "correct horse battery", "admin") == 401  # fields swapped by mistake
    with Session(engine) as session:
        entry = session.exec(select(AuditEntry)).one()
    assert "correct horse" not in repr(entry.model_dump())


def test_the_login_audit_is_readable_by_admins_as_users_without_a_name(
    app_client: TestClient, world: World, auth: Auth
) -> None:
    assert _login(app_client, "admin", "bad guess") == 401
    page = app_client.get("/api/v1/audit", params={"action": "login_failed"}, headers=auth("admin"))
    assert page.status_code == 200
    [item] = page.json()["items"]
    assert (item["user_id"], item["username"], item["role"], item["object_id"]) == (
        None,
        None,
        None,
        world.people["admin"].id,
    )


def test_a_report_download_is_recorded_once_per_team_it_covers(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    with Session(engine) as session:
        teams = sorted(t.id for t in session.exec(select(Team)).all() if t.id is not None)
    own = auth("caseworker_own")
    assert app_client.get("/api/v1/reports/export.csv", headers=own).status_code == 200
    assert app_client.get("/api/v1/reports/export.csv", headers=auth("admin")).status_code == 200
    assert app_client.get("/api/v1/reports", headers=own).status_code == 200  # on screen: not a download
    caseworker, admin = world.people["caseworker_own"].id, world.people["admin"].id
    assert sorted(_entries(engine), key=str) == sorted(
        [("export", caseworker, "team", teams[0], "testclient")]
        + [("export", admin, "team", team, "testclient") for team in teams],
        key=str,
    )


def test_a_status_page_view_names_the_link_and_household_but_no_user(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    with Session(engine) as session:
        contact_id = session.exec(select(Contact.id).where(Contact.household_id == world.household_a)).first()
    made = app_client.post(
        f"/api/v1/households/{world.household_a}/status-links",
        json={"contact_id": contact_id},
        headers=auth("caseworker_own"),
    )
    link_id, url = made.json()["id"], made.json()["url"]
    assert app_client.get(url.removeprefix(PUBLIC_BASE_URL)).status_code == 200
    page = app_client.get("/api/v1/audit", params={"action": "view_status_page"}, headers=auth("admin"))
    [item] = page.json()["items"]
    assert (item["user_id"], item["object_type"], item["object_id"], item["status_link_id"]) == (
        None,
        "household",
        world.household_a,
        link_id,
    )
    assert url.rsplit("/", 1)[1] not in page.text


def test_a_move_between_teams_is_on_the_record_of_both_teams(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    """Every subject an action touched: a household or a caseworker moved from team A to B
    changes what both teams see, so both teams are named (as both households of a device move)."""
    with Session(engine) as session:
        team_a, team_b = sorted(t.id for t in session.exec(select(Team)).all() if t.id is not None)
    admin = world.people["admin"].id
    moved = app_client.patch(
        f"/api/v1/households/{world.household_a2}", json={"team_id": team_b}, headers=auth("admin")
    )
    assert moved.status_code == 200, moved.text
    assert sorted(_entries(engine), key=str) == sorted(
        [
            ("update", admin, "household", world.household_a2, "testclient"),
            ("update", admin, "team", team_a, "testclient"),
            ("update", admin, "team", team_b, "testclient"),
        ],
        key=str,
    )
    worker = world.people["caseworker_own"].id
    changed = app_client.patch(f"/api/v1/users/{worker}", json={"team_id": team_b}, headers=auth("admin"))
    assert changed.status_code == 200, changed.text
    assert _entries(engine)[3:] == [
        ("update", admin, "user", worker, "testclient"),
        ("update", admin, "team", team_a, "testclient"),
        ("update", admin, "team", team_b, "testclient"),
    ]
    # A change within the team names only the household.
    app_client.patch(f"/api/v1/households/{world.household_a2}", json={"address": "x"}, headers=auth("admin"))
    assert _entries(engine)[6:] == [("update", admin, "household", world.household_a2, "testclient")]
