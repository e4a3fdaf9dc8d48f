"""Case assignment (team members only, shown in the queue, "assigned to me") and field visits
(recorded on the case, counted in the reports)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import AuditAction, RecipientKind, Role
from core.models import AuditEntry, Case, Household, Notification, Resident, Team, User
from tests.factories import make_user
from tests.integration.api.conftest import World

Auth = Callable[[str], dict[str, str]]


def _team_a(engine: Engine, world: World) -> int:
    with Session(engine) as session:
        user = session.get(User, world.people["caseworker_own"].id)
        assert user is not None and user.team_id is not None
        return user.team_id


def test_assign_shows_in_queue_and_filters_assigned_to_me(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    me = world.people["caseworker_own"].id
    response = app_client.post(
        f"/api/v1/cases/{world.case_a}/assign", json={"user_id": me}, headers=auth("caseworker_own")
    )
    assert response.status_code == 200, response.text
    assert response.json()["assigned_user_id"] == me
    assert response.json()["assigned_username"] == world.people["caseworker_own"].username

    mine = app_client.get(
        "/api/v1/cases", params={"assigned_user_id": me}, headers=auth("caseworker_own")
    ).json()
    assert [c["id"] for c in mine["items"]] == [world.case_a]
    unassigned = app_client.get("/api/v1/cases", params={"unassigned": True}, headers=auth("admin")).json()
    assert world.case_a not in [c["id"] for c in unassigned["items"]]
    assert world.case_b in [c["id"] for c in unassigned["items"]]

    detail = app_client.get(f"/api/v1/cases/{world.case_a}", headers=auth("admin")).json()
    assigned_events = [e for e in detail["events"] if e["type"] == "assigned"]
    assert len(assigned_events) == 1 and assigned_events[0]["data"]["user_id"] == me

    again = app_client.post(
        f"/api/v1/cases/{world.case_a}/assign", json={"user_id": me}, headers=auth("caseworker_own")
    )
    assert again.status_code == 409
    cleared = app_client.post(
        f"/api/v1/cases/{world.case_a}/assign", json={"user_id": None}, headers=auth("admin")
    )
    assert cleared.status_code == 200 and cleared.json()["assigned_user_id"] is None


def test_assign_refuses_users_outside_the_households_team(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    with session_scope(engine) as session:
        team_a = session.get(Team, _team_a(engine, world))
        inactive = make_user(session, team=team_a, role=Role.CASEWORKER)
        inactive.is_active = False
        session.add(inactive)
        session.flush()
        inactive_id = inactive.id
    for user_id in (
        world.people["caseworker_other"].id,
        world.people["control_room"].id,
        inactive_id,
        999999,
    ):
        response = app_client.post(
            f"/api/v1/cases/{world.case_a}/assign", json={"user_id": user_id}, headers=auth("admin")
        )
        assert response.status_code == 422, (user_id, response.text)
        assert response.json()["detail"][0]["loc"] == ["body", "user_id"]
    with Session(engine) as session:
        assert not session.exec(select(AuditEntry).where(AuditEntry.action == AuditAction.ASSIGN)).all()


def test_field_visit_is_validated_recorded_and_counted_in_reports(
    app_client: TestClient, world: World, auth: Auth, clock: ManualClock
) -> None:
    clock.advance(timedelta(hours=2))
    future = (clock.now() + timedelta(minutes=5)).isoformat()
    before_open = (clock.now() - timedelta(days=2)).isoformat()
    url = f"/api/v1/cases/{world.case_a}/field-visits"
    headers = auth("caseworker_own")
    for visited_at in (future, before_open):
        bad = app_client.post(url, json={"visited_at": visited_at, "note": "x"}, headers=headers)
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "visited_at"]
    naive = app_client.post(url, json={"visited_at": "2026-03-02T10:00:00", "note": "x"}, headers=headers)
    assert naive.status_code == 422
    blank = app_client.post(url, json={"visited_at": clock.now().isoformat(), "note": "  "}, headers=headers)
    assert blank.status_code == 422

    visited_at = (clock.now() - timedelta(minutes=30)).isoformat()
    response = app_client.post(
        url, json={"visited_at": visited_at, "note": "door answered, she is fine"}, headers=headers
    )
    assert response.status_code == 201, response.text
    event = response.json()
    assert event["type"] == "field_visit"
    assert event["data"]["visitor_user_id"] == world.people["caseworker_own"].id
    assert event["data"]["note"] == "door answered, she is fine"

    report = app_client.get("/api/v1/reports", headers=auth("admin")).json()
    by_team = {t["team_name"]: t for t in report["teams"]}
    assert by_team["Team A"]["field_visits"] == 1
    assert by_team["Team A"]["cases_with_field_visit"] == 1
    assert by_team["Team A"]["share_with_field_visit"] == 1.0
    assert by_team["Team B"]["field_visits"] == 0

    exported = app_client.get("/api/v1/reports/export.csv", headers=auth("admin"))
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert {r["team_name"]: r["field_visits"] for r in rows} == {"Team A": "1", "Team B": "0"}


def test_field_visit_by_another_team_member_must_be_on_the_team(
    app_client: TestClient, world: World, auth: Auth, clock: ManualClock
) -> None:
    response = app_client.post(
        f"/api/v1/cases/{world.case_a}/field-visits",
        json={
            "visited_at": clock.now().isoformat(),
            "note": "visited",
            "visitor_user_id": world.people["caseworker_other"].id,
        },
        headers=auth("admin"),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "visitor_user_id"]


def test_team_members_lists_active_users_without_phones(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    team_a = _team_a(engine, world)
    members = app_client.get(f"/api/v1/teams/{team_a}/members", headers=auth("caseworker_own")).json()
    assert [m["id"] for m in members["items"]] == [world.people["caseworker_own"].id]
    assert "phone" not in members["items"][0]


def test_the_assignment_picker_gets_ids_and_names_only_and_writes_no_audit_entry(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    with session_scope(engine) as session:
        team_a = session.get(Team, _team_a(engine, world))
        assert team_a is not None
        named = make_user(session, team=team_a, role=Role.ADMIN, username="picker-admin", password_hash="x")
        named.display_name = "김복지"
        named.phone = "+821099990001"
        gone = make_user(
            session, team=team_a, role=Role.CASEWORKER, username="picker-gone", password_hash="x"
        )
        gone.is_active = False
        unnamed = make_user(session, team=team_a, username="picker-unnamed", password_hash="x")
        unnamed.display_name = ""
        session.add_all([named, gone, unnamed])
        session.flush()
        named_id, unnamed_id = named.id, unnamed.id
    with Session(engine) as session:
        audits_before = len(session.exec(select(AuditEntry)).all())
    response = app_client.get(f"/api/v1/cases/{world.case_a}/assignees", headers=auth("caseworker_own"))
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    # Active admins and caseworkers of the household's team; not the inactive one, not the family
    # account, not the other team's caseworker. A user without a display name shows their username.
    assert {(i["id"], i["display_name"]) for i in items} == {
        (named_id, "김복지"),
        (unnamed_id, "picker-unnamed"),
        (world.people["caseworker_own"].id, "Test Worker"),
    }
    assert world.people["family"].id not in {i["id"] for i in items}
    assert world.people["caseworker_other"].id not in {i["id"] for i in items}
    assert all(set(i) == {"id", "display_name"} for i in items)  # no phone, no username, no role
    with Session(engine) as session:
        assert len(session.exec(select(AuditEntry)).all()) == audits_before
    other = app_client.get(f"/api/v1/cases/{world.case_b}/assignees", headers=auth("caseworker_own"))
    assert other.status_code == 404


def test_the_assignee_is_told_by_text_and_nobody_assigning_themself_is(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    """Issue 17.6: "an assignee is shown by login name and is not told". Before, assigning wrote
    no message at all."""
    me = world.people["caseworker_own"].id
    assert (
        app_client.post(
            f"/api/v1/cases/{world.case_a}/assign", json={"user_id": me}, headers=auth("caseworker_own")
        ).status_code
        == 200
    )
    with Session(engine) as session:
        assert not session.exec(
            select(Notification).where(Notification.template == "sms.caseworker.assigned")
        ).all()
        phone = session.get_one(User, me).phone
        case = session.get_one(Case, world.case_a)
        household = session.get_one(Household, case.household_id)
        resident_names = [
            r.name for r in session.exec(select(Resident).where(Resident.household_id == household.id))
        ]
    assert phone  # the world's caseworker has one
    # An admin assigns it to them: they are texted, once, through the outbox.
    app_client.post(f"/api/v1/cases/{world.case_a}/assign", json={"user_id": None}, headers=auth("admin"))
    assert (
        app_client.post(
            f"/api/v1/cases/{world.case_a}/assign", json={"user_id": me}, headers=auth("admin")
        ).status_code
        == 200
    )
    with Session(engine) as session:
        (text,) = session.exec(
            select(Notification).where(Notification.template == "sms.caseworker.assigned")
        ).all()
    assert (text.recipient_kind, text.recipient_id, text.to_address) == (RecipientKind.USER, me, phone)
    assert household.code in text.body and "배정" in text.body
    # Written like the other caseworker texts: the code and the kind, no name, nothing said.
    assert all(name not in text.body for name in resident_names)
