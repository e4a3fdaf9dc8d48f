"""The check-in schedule API returns the latest skipped or held check-in, as the notifier recorded it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from core.db import session_scope
from notifier import checkins
from tests.integration.api.conftest import World


def test_the_schedule_says_which_check_in_was_skipped_and_why(
    app_client: TestClient, world: World, auth: Callable[[str], dict[str, str]], engine: Engine
) -> None:
    url = f"/api/v1/households/{world.household_a}/checkin-schedule"
    saved = app_client.put(
        url, json={"weekdays": [1, 2, 3, 4, 5, 6, 7], "local_time": "10:00"}, headers=auth("admin")
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["last_skip"] is None
    due = datetime.fromisoformat(saved.json()["next_due_at"])
    # household_a has an open case: its check-in is skipped (someone is already looking after her).
    # Only this household's schedule (place_due, not tick): the world is shared with other tests.
    with session_scope(engine) as session:
        assert checkins.place_due(session, world.household_a, due) == 0
    body = app_client.get(url, headers=auth("caseworker_own")).json()
    skip = body["last_skip"]
    assert skip["reason"] == "active_case"
    assert datetime.fromisoformat(skip["slot"]) == due
    assert datetime.fromisoformat(skip["at"]) == due
    assert skip["until"] is None
    assert datetime.fromisoformat(body["next_due_at"]) > due
