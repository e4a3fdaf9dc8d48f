"""Bad input gets a precise 422 (which field, which values are allowed) and changes nothing.

Validation does not depend on the database dialect, so these run on SQLite only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from core.models import Case, CaseEvent
from tests.integration.api.conftest import World

Auth = Callable[[str], dict[str, str]]


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


def _snapshot(engine: Engine) -> tuple[list[tuple[int | None, str, int]], int]:
    with Session(engine) as session:
        cases = [
            (c.id, c.status.value, c.version) for c in session.exec(select(Case).order_by(col(Case.id))).all()
        ]
        events = session.exec(select(func.count()).select_from(CaseEvent)).one()
        return cases, int(events)


# path -> (error location, text the message must contain)
BAD_QUERIES: list[tuple[str, list[object], str]] = [
    (
        "/api/v1/cases?status=closed",
        ["query", "status", 0],
        "'open', 'acknowledged', 'cleared' or 'resolved'",
    ),
    ("/api/v1/cases?kind=fire", ["query", "kind"], "'inactivity', 'device_offline'"),
    ("/api/v1/cases?severity=high", ["query", "severity"], "'watch', 'warning', 'alert' or 'critical'"),
    ("/api/v1/cases?limit=0", ["query", "limit"], "greater than or equal to 1"),
    ("/api/v1/cases?limit=201", ["query", "limit"], "less than or equal to 200"),
    ("/api/v1/cases?offset=-1", ["query", "offset"], "greater than or equal to 0"),
    ("/api/v1/cases?household_id=abc", ["query", "household_id"], "valid integer"),
    ("/api/v1/households?limit=500", ["query", "limit"], "less than or equal to 200"),
    ("/api/v1/households?offset=-5", ["query", "offset"], "greater than or equal to 0"),
    ("/api/v1/cases/abc", ["path", "case_id"], "valid integer"),
]


def _problem(response: Any, loc: list[object], needle: str) -> str | None:
    """None when *response* is a 422 with exactly one error at *loc* mentioning *needle*."""
    if response.status_code != 422:
        return f"status {response.status_code}"
    errors = response.json()["detail"]
    if len(errors) != 1 or errors[0]["loc"] != loc or needle not in errors[0]["msg"]:
        return str(errors)
    return None


def test_invalid_query_is_a_precise_422(
    app_client: TestClient, world: World, engine: Engine, auth: Auth
) -> None:
    before = _snapshot(engine)
    problems = {
        path: _problem(app_client.get(path, headers=auth("admin")), loc, needle)
        for path, loc, needle in BAD_QUERIES
    }
    assert problems == dict.fromkeys(problems)
    assert _snapshot(engine) == before


RESOLUTION_VALUES = "'resident_fine', 'false_alarm_away', 'false_alarm_device', 'hospital', 'found_in_need', 'deceased' or 'other'"


BAD_BODIES: list[tuple[str, dict[str, object], list[object], str]] = [
    ("resolve", {"code": "all_good"}, ["body", "code"], RESOLUTION_VALUES),
    ("resolve", {}, ["body", "code"], "choose the outcome"),  # never a default (issue 17)
    ("resolve", {"code": "other", "note": "x" * 2001}, ["body", "note"], "at most 2000 characters"),
    ("resolve", {"code": "other", "colour": "red"}, ["body", "colour"], "Extra inputs are not permitted"),
    ("notes", {"text": ""}, ["body", "text"], "at least 1 character"),
    ("notes", {"text": "   "}, ["body", "text"], "must not be blank"),
    ("notes", {"text": "x" * 2001}, ["body", "text"], "at most 2000 characters"),
    ("notes", {}, ["body", "text"], "Field required"),
]


def test_invalid_action_body_is_a_precise_422_and_changes_nothing(
    app_client: TestClient, world: World, engine: Engine, auth: Auth
) -> None:
    before = _snapshot(engine)
    problems = {}
    for i, (action, body, loc, needle) in enumerate(BAD_BODIES):
        response = app_client.post(f"/api/v1/cases/{world.case_a}/{action}", json=body, headers=auth("admin"))
        problems[f"{i}:{action}:{loc[-1]}"] = _problem(response, loc, needle)
    assert problems == dict.fromkeys(problems)
    assert _snapshot(engine) == before


def test_non_json_body_is_422(app_client: TestClient, world: World, engine: Engine, auth: Auth) -> None:
    before = _snapshot(engine)
    response = app_client.post(
        f"/api/v1/cases/{world.case_a}/resolve",
        content=b"code=other",
        headers={**auth("admin"), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 422
    assert _snapshot(engine) == before
