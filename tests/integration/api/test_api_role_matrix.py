"""What each role sees in lists, and who acted. The route × role matrix is in
test_api_authz_every_route.py (it enumerates the app's routes).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from core.enums import CaseEventType
from tests.factories import case_events
from tests.integration.api.conftest import World

Auth = Callable[[str], dict[str, str]]


def test_lists_show_only_what_the_caller_may_see(app_client: TestClient, world: World, auth: Auth) -> None:
    def ids(path: str, who: str) -> set[int]:
        response = app_client.get(path, headers=auth(who))
        assert response.status_code == 200
        return {item["id"] for item in response.json()["items"]}

    all_households = {world.household_a, world.household_a2, world.household_b}
    assert ids("/api/v1/households", "admin") == all_households
    assert ids("/api/v1/households", "control_room") == all_households
    assert ids("/api/v1/households", "caseworker_own") == {world.household_a, world.household_a2}
    assert ids("/api/v1/households", "caseworker_other") == {world.household_b}

    assert ids("/api/v1/cases", "admin") == {world.case_a, world.case_b}
    assert ids("/api/v1/cases", "control_room") == {world.case_a, world.case_b}
    assert ids("/api/v1/cases", "caseworker_own") == {world.case_a}
    assert ids("/api/v1/cases", "caseworker_other") == {world.case_b}


def test_totals_count_only_visible_rows(app_client: TestClient, world: World, auth: Auth) -> None:
    response = app_client.get("/api/v1/cases", headers=auth("caseworker_other"))
    assert response.json()["total"] == 1
    response = app_client.get("/api/v1/households", headers=auth("caseworker_own"))
    assert response.json()["total"] == 2


def test_missing_case_is_404_for_everyone_who_may_look(
    app_client: TestClient, world: World, auth: Auth
) -> None:
    for who in ("admin", "caseworker_own", "control_room"):
        assert app_client.get("/api/v1/cases/999999", headers=auth(who)).status_code == 404
        assert app_client.post("/api/v1/cases/999999/acknowledge", headers=auth(who)).status_code == 404


def test_control_room_acknowledgement_is_recorded_with_its_actor(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    assert (
        app_client.post(f"/api/v1/cases/{world.case_a}/acknowledge", headers=auth("control_room")).status_code
        == 200
    )
    events = case_events(engine, world.case_a, CaseEventType.ACKNOWLEDGED)
    assert [e.actor for e in events] == ["user:control-room"]
