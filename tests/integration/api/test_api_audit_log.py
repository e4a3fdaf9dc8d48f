"""The audit log: what is recorded for views and changes, and how admins read it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from core.clock import ManualClock
from core.models import AuditEntry
from tests.factories import load_all
from tests.integration.api.conftest import World

Auth = Callable[[str], dict[str, str]]


def test_views_and_changes_are_recorded_with_who_what_when_and_where(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    assert app_client.get(f"/api/v1/cases/{world.case_a}", headers=auth("caseworker_own")).status_code == 200
    clock.advance(timedelta(minutes=3))
    assert (
        app_client.post(f"/api/v1/cases/{world.case_a}/acknowledge", headers=auth("control_room")).status_code
        == 200
    )
    assert app_client.get(f"/api/v1/households/{world.household_a}", headers=auth("admin")).status_code == 200
    entries = load_all(engine, AuditEntry)
    summary = [(e.user_id, e.role, e.action.value, e.object_type.value, e.object_id) for e in entries]
    assert summary == [
        (world.people["caseworker_own"].id, "caseworker", "view", "case", world.case_a),
        (world.people["control_room"].id, "control_room", "acknowledge", "case", world.case_a),
        (world.people["admin"].id, "admin", "view", "household", world.household_a),
    ]
    assert entries[1].at - entries[0].at == timedelta(minutes=3)
    assert {e.client for e in entries} == {"testclient"}  # the TestClient's peer address


def test_lists_are_not_views_of_a_household_and_failures_leave_no_entry(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    app_client.get("/api/v1/cases", headers=auth("admin"))
    app_client.get("/api/v1/households", headers=auth("admin"))
    app_client.get(f"/api/v1/cases/{world.case_b}", headers=auth("caseworker_own"))  # 404: not theirs
    app_client.post(f"/api/v1/cases/{world.case_a}/resolve", json={"code": "nope"}, headers=auth("admin"))
    assert load_all(engine, AuditEntry) == []


def test_a_change_and_its_audit_entry_commit_together(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    # Acknowledging twice: the second is a 409 and must not leave an "acknowledge" entry.
    assert (
        app_client.post(f"/api/v1/cases/{world.case_a}/acknowledge", headers=auth("admin")).status_code == 200
    )
    assert (
        app_client.post(f"/api/v1/cases/{world.case_a}/acknowledge", headers=auth("admin")).status_code == 409
    )
    assert [e.action.value for e in load_all(engine, AuditEntry)] == ["acknowledge"]


def test_admin_reads_the_log_newest_first_with_filters_and_pages(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    for who in ("caseworker_own", "control_room", "admin"):
        app_client.get(f"/api/v1/cases/{world.case_a}", headers=auth(who))
        clock.advance(timedelta(minutes=1))
    app_client.get(f"/api/v1/households/{world.household_b}", headers=auth("caseworker_other"))
    admin = auth("admin")

    page = app_client.get("/api/v1/audit", params={"limit": 2}, headers=admin).json()
    assert page["total"] == 4 and page["limit"] == 2 and page["offset"] == 0
    assert [i["object_type"] for i in page["items"]] == ["household", "case"]  # newest first
    rest = app_client.get("/api/v1/audit", params={"limit": 2, "offset": 2}, headers=admin).json()
    # The first read added an audit_log entry on top, so offset 2 now starts at admin's view.
    assert rest["total"] == 5
    assert [i["role"] for i in rest["items"]] == ["admin", "control_room"]

    by_object = app_client.get(
        "/api/v1/audit", params={"object_type": "case", "object_id": world.case_a}, headers=admin
    ).json()
    assert by_object["total"] == 3
    assert {i["object_id"] for i in by_object["items"]} == {world.case_a}
    by_user = app_client.get(
        "/api/v1/audit", params={"user_id": world.people["caseworker_other"].id}, headers=admin
    ).json()
    assert [(i["object_type"], i["object_id"]) for i in by_user["items"]] == [
        ("household", world.household_b)
    ]
    assert by_user["items"][0]["username"] == world.people["caseworker_other"].username
    since = (clock.now() - timedelta(minutes=2, seconds=30)).isoformat()
    until = (clock.now() - timedelta(seconds=30)).isoformat()
    window = {"since": since, "until": until, "action": "view"}
    by_time = app_client.get("/api/v1/audit", params=window, headers=admin).json()
    assert [i["role"] for i in by_time["items"]] == ["admin", "control_room"]  # t+2, t+1; not t0 nor t+3

    # Reading the log is itself recorded, after the page was read (so it does not show itself).
    mine = app_client.get("/api/v1/audit", params={"object_type": "audit_log"}, headers=admin).json()
    assert mine["total"] >= 5 and all(i["user_id"] == world.people["admin"].id for i in mine["items"])


def test_audit_filters_refuse_bad_input_precisely(app_client: TestClient, world: World, auth: Auth) -> None:
    admin = auth("admin")
    assert app_client.get("/api/v1/audit", params={"action": "peek"}, headers=admin).status_code == 422
    assert app_client.get("/api/v1/audit", params={"limit": 0}, headers=admin).status_code == 422
    naive = app_client.get("/api/v1/audit", params={"since": "2026-03-01T00:00:00"}, headers=admin)
    assert naive.status_code == 422
    assert "timezone" in str(naive.json()["detail"])


def test_the_record_holds_ids_not_personal_data(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    app_client.post(
        f"/api/v1/cases/{world.case_a}/notes", json={"text": "Kim said she fell"}, headers=auth("admin")
    )
    app_client.get(f"/api/v1/households/{world.household_a}", headers=auth("admin"))
    columns = set(AuditEntry.model_fields)
    assert columns == {
        "id",
        "at",
        "user_id",
        "role",
        "action",
        "object_type",
        "object_id",
        "status_link_id",  # an id, never the link's token
        "client",
    }
    for entry in load_all(engine, AuditEntry):
        assert "Kim" not in entry.model_dump_json()


def test_one_look_at_a_household_page_is_one_view_entry(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    # The page asks for the household, then its day view, heatmap (7 and 30 days), check-in calls
    # and family links; each used to write its own identical "view" entry (4-5 per look).
    admin = auth("admin")
    base = f"/api/v1/households/{world.household_a}"
    page = [base, base + "/activity/day", base + "/activity?days=7", base + "/activity?days=30"]
    page += [base + "/checkins?limit=10", base + "/status-links?limit=50"]
    for path in page:
        assert app_client.get(path, headers=admin).status_code == 200, path
    views = [(e.user_id, e.action.value, e.object_id) for e in load_all(engine, AuditEntry)]
    assert views == [(world.people["admin"].id, "view", world.household_a)]

    # Looking again is another view; so is a part read on its own long after, or by someone else.
    clock.advance(timedelta(minutes=1))
    app_client.get(base, headers=admin)
    clock.advance(timedelta(minutes=15))
    for who, path in (
        ("admin", "/activity"),
        ("caseworker_own", "/activity"),
        ("caseworker_own", "/activity/day"),
    ):
        assert app_client.get(base + path, headers=auth(who)).status_code == 200
    assert [(e.user_id, e.action.value) for e in load_all(engine, AuditEntry)] == [
        (world.people["admin"].id, "view"),
        (world.people["admin"].id, "view"),
        (world.people["admin"].id, "view"),
        (world.people["caseworker_own"].id, "view"),
    ]
