"""Issue 17's policy steps through the API: each mistake is a 422 at its own path with a code the
dashboard translates; a valid policy with every new step is saved; and the 119 hand-off sheet of
a case (what a 119 call needs), for staff who may see the case, audited. Before: the steps were
refused as unknown actions and there was no hand-off sheet (404)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.db import session_scope
from core.enums import AuditAction
from core.models import AuditEntry, Case, Household, Resident, Team, User, Watch
from tests.integration.api.conftest import World

Auth = Callable[[str], dict[str, str]]
STEPS = [
    {"action": "call_resident", "wait_minutes": 5},
    {"action": "call_family", "tier": 1, "wait_minutes": 10},
    {"action": "call_control_room", "wait_minutes": 10},
    {"action": "handoff_119", "wait_minutes": 30},
]


def _policy_url(engine: Engine, world: World) -> str:
    with Session(engine) as session:
        user = session.get_one(User, world.people["caseworker_own"].id)
        team = session.get_one(Team, user.team_id)
    return f"/api/v1/organisations/{team.organisation_id}/escalation-policy"


def test_each_mistake_in_the_new_steps_is_a_422_at_its_path(
    app_client: TestClient, engine: Engine, world: World, auth: Auth
) -> None:
    url = _policy_url(engine, world)
    bad = app_client.put(
        url,
        json={
            "policy": {
                "steps": [
                    {"action": "call_family", "tier": 10, "wait_minutes": 5},
                    {"action": "handoff_119"},
                    {"action": "dial_119", "wait_minutes": 5},
                ],
                "emergency": [{"action": "call_resident"}],
                "self_harm": {"family": "maybe", "control_room_after_minutes": 0},
            }
        },
        headers=auth("admin"),
    )
    assert bad.status_code == 422
    found = {tuple(item["loc"]): item["type"] for item in bad.json()["detail"]}
    assert found == {
        ("body", "policy", "steps", 0, "call_family", "tier"): "less_than_equal",
        ("body", "policy", "steps", 1, "handoff_119", "wait_minutes"): "missing",
        ("body", "policy", "steps", 2): "union_tag_invalid",
        ("body", "policy", "emergency", 0): "union_tag_invalid",
        ("body", "policy", "self_harm", "family"): "literal_error",
        ("body", "policy", "self_harm", "control_room_after_minutes"): "greater_than_equal",
    }
    tags = next(i for i in bad.json()["detail"] if i["loc"][-1] == 2)["ctx"]["expected_tags"]
    assert all(name in tags for name in ("call_family", "call_control_room", "handoff_119"))
    assert app_client.get(url, headers=auth("admin")).json()["is_default"] is True  # nothing written


def test_a_policy_with_every_new_step_is_saved_as_sent(
    app_client: TestClient, engine: Engine, world: World, auth: Auth
) -> None:
    url = _policy_url(engine, world)
    policy = {
        "steps": STEPS,
        "emergency": [{"action": "notify_caseworker"}, {"action": "handoff_119"}],
        "self_harm": {"family": "do_not_tell", "control_room_after_minutes": 5},
    }
    saved = app_client.put(url, json={"policy": policy}, headers=auth("admin"))
    assert saved.status_code == 200, saved.text
    body = saved.json()["policy"]
    assert body["steps"] == STEPS and body["emergency"] == policy["emergency"]
    assert body["self_harm"] == policy["self_harm"]


def test_the_hand_off_sheet_says_what_a_119_call_needs_and_is_audited(
    app_client: TestClient, engine: Engine, world: World, auth: Auth
) -> None:
    with session_scope(engine) as s:
        case = s.get_one(Case, world.case_a)
        household = s.get_one(Household, case.household_id)
        household.address = "부산시 해운대구 1"
        resident = s.exec(select(Resident).where(Resident.household_id == household.id)).first()
        assert resident is not None
        resident.birth_year = 1940
        assert household.id is not None
        watch = s.get(Watch, household.id) or Watch(household_id=household.id, updated_at=case.opened_at)
        watch.last_activity_at = case.opened_at - timedelta(hours=12)
        s.add(watch)
        name, phone = resident.name, resident.phone
    sheet = app_client.get(f"/api/v1/cases/{world.case_a}/handoff", headers=auth("caseworker_own"))
    assert sheet.status_code == 200, sheet.text
    got = sheet.json()
    assert got["address"] == "부산시 해운대구 1"
    assert {"name": name, "phone": phone} == {k: got["residents"][0][k] for k in ("name", "phone")}
    assert got["residents"][0]["age"] is not None and got["residents"][0]["age"] >= 85
    assert got["last_sign_at"] is not None and got["kind"] == "inactivity"
    other = app_client.get(f"/api/v1/cases/{world.case_a}/handoff", headers=auth("caseworker_other"))
    assert other.status_code == 404  # another team's caseworker does not see the case
    with Session(engine) as s:
        views = s.exec(
            select(AuditEntry).where(
                col(AuditEntry.action) == AuditAction.VIEW, col(AuditEntry.object_id) == world.case_a
            )
        ).all()
    assert views
