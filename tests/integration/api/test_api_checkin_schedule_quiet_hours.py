"""The household check-in schedule refuses a time inside the organisation's quiet hours (422)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from core.db import session_scope
from tests.factories import set_policy
from tests.integration.api.conftest import World


def _quiet_nights(engine: Engine, household_id: int) -> None:
    with session_scope(engine) as s:
        set_policy(
            s,
            household_id,
            {
                "steps": [{"action": "call_resident", "wait_minutes": 10}],
                "quiet_hours": {"start": "21:00", "end": "08:00"},
            },
        )


def test_a_check_in_time_inside_quiet_hours_is_refused_with_a_code(
    app_client: TestClient, world: World, auth: Callable[[str], dict[str, str]], engine: Engine
) -> None:
    _quiet_nights(engine, world.household_a)
    url = f"/api/v1/households/{world.household_a}/checkin-schedule"
    refused = app_client.put(url, json={"weekdays": [1], "local_time": "22:00"}, headers=auth("admin"))
    assert refused.status_code == 422, refused.text
    (item,) = refused.json()["detail"]
    assert (item["loc"], item["type"], item["ctx"]) == (
        ["body", "local_time"],
        "checkin_in_quiet_hours",
        {"start": "21:00", "end": "08:00"},
    )
    assert app_client.get(url, headers=auth("admin")).json()["configured"] is False  # nothing saved
    ok = app_client.put(url, json={"weekdays": [1], "local_time": "08:00"}, headers=auth("admin"))
    assert ok.status_code == 200, ok.text
    # A stopped schedule may keep any time: it places no calls.
    stopped = app_client.put(
        url, json={"weekdays": [1], "local_time": "22:00", "active": False}, headers=auth("admin")
    )
    assert stopped.status_code == 200, stopped.text
