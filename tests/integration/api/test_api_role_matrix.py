"""Every /api/v1 route × every kind of caller → the expected status (and nothing leaks).

The case under test belongs to team A: "caseworker_own" is in team A, "caseworker_other"
in team B. Not-visible cases answer 404, like missing ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseEventType, CaseStatus
from core.models import Case, CaseEvent, Household, Team
from tests.factories import make_household
from tests.integration.api.conftest import WHO, World, open_case

Auth = Callable[[str], dict[str, str]]

# route name -> {who: expected status}
EXPECTED: dict[str, dict[str, int]] = {
    "list_households": {
        "admin": 200,
        "caseworker_own": 200,
        "caseworker_other": 200,
        "control_room": 200,
        "family": 403,
        "anonymous": 401,
    },
    "list_cases": {
        "admin": 200,
        "caseworker_own": 200,
        "caseworker_other": 200,
        "control_room": 200,
        "family": 403,
        "anonymous": 401,
    },
    "get_case": {
        "admin": 200,
        "caseworker_own": 200,
        "caseworker_other": 404,
        "control_room": 200,
        "family": 403,
        "anonymous": 401,
    },
    "acknowledge": {
        "admin": 200,
        "caseworker_own": 200,
        "caseworker_other": 404,
        "control_room": 200,
        "family": 403,
        "anonymous": 401,
    },
    "resolve": {
        "admin": 200,
        "caseworker_own": 200,
        "caseworker_other": 404,
        "control_room": 403,
        "family": 403,
        "anonymous": 401,
    },
    "add_note": {
        "admin": 201,
        "caseworker_own": 201,
        "caseworker_other": 404,
        "control_room": 201,
        "family": 403,
        "anonymous": 401,
    },
}
MUTATING = frozenset({"acknowledge", "resolve", "add_note"})


def _call(client: TestClient, route: str, case_id: int, headers: dict[str, str]) -> int:
    return int(_response(client, route, case_id, headers).status_code)


def _response(client: TestClient, route: str, case_id: int, headers: dict[str, str]) -> Any:
    base = "/api/v1"
    if route == "list_households":
        return client.get(f"{base}/households", headers=headers)
    if route == "list_cases":
        return client.get(f"{base}/cases", headers=headers)
    if route == "get_case":
        return client.get(f"{base}/cases/{case_id}", headers=headers)
    if route == "acknowledge":
        return client.post(f"{base}/cases/{case_id}/acknowledge", headers=headers)
    if route == "resolve":
        body = {"code": "resident_fine", "note": "spoke to her"}
        return client.post(f"{base}/cases/{case_id}/resolve", json=body, headers=headers)
    if route == "add_note":
        return client.post(f"{base}/cases/{case_id}/notes", json={"text": "n"}, headers=headers)
    raise AssertionError(route)


def _case_state(engine: Engine, case_id: int) -> tuple[CaseStatus, int, int]:
    with Session(engine) as session:
        case = session.get(Case, case_id)
        assert case is not None
        events = session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id)).all()
        return case.status, case.version, len(events)


def _fresh_team_a_case(engine: Engine, world: World, clock: ManualClock) -> int:
    """A new open case in a new team-A household, so each caller acts on an untouched case."""
    with session_scope(engine) as session:
        household = session.get(Household, world.household_a)
        assert household is not None
        team = session.get(Team, household.team_id)
        new_household = make_household(session, team=team)
        assert new_household.id is not None
        case = open_case(session, new_household.id, clock)
        assert case.id is not None
        return case.id


@pytest.mark.parametrize("route", list(EXPECTED))
def test_route_by_role(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock, route: str
) -> None:
    actual: dict[str, int] = {}
    unexpected_change: list[str] = []
    for who in WHO:
        case_id = _fresh_team_a_case(engine, world, clock) if route in MUTATING else world.case_a
        before = _case_state(engine, case_id)
        actual[who] = _call(app_client, route, case_id, auth(who))
        changed = _case_state(engine, case_id) != before
        should_change = route in MUTATING and actual[who] < 300
        if changed != should_change:
            unexpected_change.append(who)
    assert actual == EXPECTED[route]
    assert unexpected_change == [], "refused/read-only requests must change nothing; successful actions must"


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
    with Session(engine) as session:
        events = session.exec(
            select(CaseEvent).where(
                CaseEvent.case_id == world.case_a, CaseEvent.type == CaseEventType.ACKNOWLEDGED
            )
        ).all()
    assert [e.actor for e in events] == ["user:control-room"]
