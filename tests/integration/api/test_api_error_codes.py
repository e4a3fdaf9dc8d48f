"""Every API error carries a stable code the dashboard translates (api/errors.py), and 422
problems sit at the field they are about — including the escalation policy's cross-field rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from api.routes.dashboard import MESSAGES
from core.enums import AuditAction, AuditObject, Language
from core.models import AuditEntry, Team, User
from tests.integration.api.conftest import World

Auth = Callable[[str], dict[str, str]]


def _translatable(code: str) -> bool:
    keys = MESSAGES.keys(Language.KO)
    return f"error.{code}" in keys or f"validation.{code}" in keys


def _org_url(engine: Engine, world: World) -> str:
    with Session(engine) as session:
        own = session.get(User, world.people["caseworker_own"].id)
        assert own is not None and own.team_id is not None
        team = session.get(Team, own.team_id)
        assert team is not None
        return f"/api/v1/organisations/{team.organisation_id}/escalation-policy"


def test_non_422_errors_have_a_code_and_english_detail(
    app_client: TestClient, world: World, auth: Auth
) -> None:
    cases = [
        (app_client.get("/api/v1/households/999999", headers=auth("admin")), 404, "household_not_found"),
        (
            app_client.get(f"/api/v1/households/{world.household_b}", headers=auth("caseworker_own")),
            404,
            "household_not_found",
        ),
        (app_client.get("/api/v1/cases/999999", headers=auth("admin")), 404, "case_not_found"),
        (app_client.get("/api/v1/users", headers=auth("caseworker_own")), 403, "forbidden_role"),
        (app_client.get("/api/v1/cases"), 401, "not_authenticated"),
        (app_client.get("/api/v1/cases", headers={"Authorization": "Bearer nonsense"}), 401, "invalid_token"),
        (app_client.get("/api/v1/no-such-thing", headers=auth("admin")), 404, "http_404"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        body = response.json()
        assert body["code"] == code and isinstance(body["detail"], str) and body["detail"]
        assert _translatable(code), code


def test_request_validation_types_are_translatable(app_client: TestClient, world: World, auth: Auth) -> None:
    response = app_client.post(
        "/api/v1/households",
        json={"code": "", "team_id": "x", "timezone": "Asia/Seoul", "quiet_hours": 999, "extra": 1},
        headers=auth("admin"),
    )
    assert response.status_code == 422
    items = response.json()["detail"]
    by_field = {item["loc"][-1]: item for item in items}
    assert by_field["code"]["type"] == "string_too_short" and by_field["code"]["ctx"] == {"min_length": 1}
    assert by_field["team_id"]["type"] == "int_parsing"
    assert by_field["extra"]["type"] == "extra_forbidden"
    assert all(_translatable(item["type"]) for item in items), [item["type"] for item in items]


def test_route_rules_answer_with_their_own_code(app_client: TestClient, world: World, auth: Auth) -> None:
    blank = app_client.post(
        f"/api/v1/cases/{world.case_a}/notes", json={"text": "   "}, headers=auth("admin")
    )
    assert blank.status_code == 422
    assert [(i["loc"], i["type"]) for i in blank.json()["detail"]] == [(["body", "text"], "text_blank")]
    long_pause = app_client.post(
        f"/api/v1/households/{world.household_a}/pause",
        json={"until": "2099-01-01T00:00:00+09:00"},
        headers=auth("admin"),
    )
    assert long_pause.status_code == 422
    (item,) = long_pause.json()["detail"]
    assert (
        item["loc"] == ["body", "until"]
        and item["type"] == "pause_too_long"
        and item["ctx"] == {"max_days": 180}
    )
    assert _translatable("pause_too_long") and _translatable("text_blank")


def _policy_problems(app_client: TestClient, url: str, auth: Auth, policy: dict[str, Any]) -> list[Any]:
    response = app_client.put(url, json={"policy": policy}, headers=auth("admin"))
    assert response.status_code == 422, response.text
    return [(item["loc"], item["type"], item.get("ctx")) for item in response.json()["detail"]]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            {"steps": [{"action": "call_resident", "wait_minutes": 5}], "repeat_from": 3, "max_repeats": 1},
            [(["body", "policy", "repeat_from"], "policy_repeat_from_range", {"steps": 1})],
        ),
        (
            {"steps": [{"action": "call_resident", "wait_minutes": 5}], "max_repeats": 2},
            [(["body", "policy", "repeat_from"], "policy_repeat_from_missing", None)],
        ),
        (
            {
                "steps": [{"action": "call_resident", "wait_minutes": 5}],
                "quiet_hours": {"start": "22:00", "end": "22:00"},
            },
            [(["body", "policy", "quiet_hours"], "policy_quiet_hours_empty", None)],
        ),
        (
            {"steps": [{"action": "notify_family", "tier": 12, "wait_minutes": 0}]},
            [
                (["body", "policy", "steps", 0, "notify_family", "tier"], "less_than_equal", {"le": 9}),
                (
                    ["body", "policy", "steps", 0, "notify_family", "wait_minutes"],
                    "greater_than_equal",
                    {"ge": 1},
                ),
            ],
        ),
        (
            {
                "steps": [{"action": "call_resident", "wait_minutes": 5}],
                "limits": {"calls_per_household_per_day": 0},
            },
            [(["body", "policy", "limits", "calls_per_household_per_day"], "greater_than_equal", {"ge": 1})],
        ),
    ],
)
def test_policy_problems_are_at_their_field_with_a_code(
    app_client: TestClient,
    world: World,
    auth: Auth,
    engine: Engine,
    policy: dict[str, Any],
    expected: list[Any],
) -> None:
    problems = _policy_problems(app_client, _org_url(engine, world), auth, policy)
    assert problems == expected
    assert all(_translatable(code) for _, code, _ in problems)


def test_import_rows_carry_codes_and_parameters(app_client: TestClient, world: World, auth: Auth) -> None:
    text = "code,team_id,resident_name\nD-1,1,Kim\nD-1,abc,Lee\n"
    response = app_client.post(
        "/api/v1/import/households",
        files={"file": ("h.csv", text.encode(), "text/csv")},
        headers=auth("admin"),
    )
    assert response.status_code == 422
    errors = {(e["row"], e["column"]): (e["code"], e["params"]) for e in response.json()["errors"]}
    assert errors[(3, "code")] == ("csv_duplicate", {"row": 2})
    assert errors[(3, "team_id")] == ("csv_not_integer", {})
    assert all(_translatable(code) for code, _ in errors.values())


def test_viewing_team_members_is_audited(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    with Session(engine) as session:
        own = session.get(User, world.people["caseworker_own"].id)
        assert own is not None and own.team_id is not None
        team_id = own.team_id
        before = len(session.exec(select(AuditEntry)).all())
    response = app_client.get(f"/api/v1/teams/{team_id}/members", headers=auth("caseworker_own"))
    assert response.status_code == 200 and response.json()["items"]
    with Session(engine) as session:
        entries = session.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all()
    assert len(entries) == before + 1
    last = entries[-1]
    assert (last.action, last.object_type, last.object_id, last.user_id) == (
        AuditAction.VIEW,
        AuditObject.TEAM,
        team_id,
        world.people["caseworker_own"].id,
    )


def test_openapi_documents_the_error_shape(app_client: TestClient) -> None:
    schema = app_client.get("/api/v1/openapi.json").json()
    assert set(schema["components"]["schemas"]["ErrorOut"]["required"]) == {"detail", "code"}
    not_found = schema["paths"]["/api/v1/households/{household_id}"]["get"]["responses"]["404"]
    assert not_found["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
    for status in ("401", "403"):  # any /api/v1 route can refuse the caller
        refused = schema["paths"]["/api/v1/cases"]["get"]["responses"][status]
        assert refused["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}


def test_user_fields_that_cannot_be_null_are_a_422(app_client: TestClient, world: World, auth: Auth) -> None:
    # Found by schemathesis: {"display_name": null} reached a NOT NULL column (500).
    target = world.people["caseworker_own"].id
    for field in ("display_name", "role", "is_active", "language", "on_duty", "password"):
        response = app_client.patch(f"/api/v1/users/{target}", json={field: None}, headers=auth("admin"))
        assert response.status_code == 422, (field, response.text)
        (item,) = response.json()["detail"]
        assert (item["loc"], item["type"]) == (["body", field], "field_not_nullable")
    cleared = app_client.patch(f"/api/v1/users/{target}", json={"phone": None}, headers=auth("admin"))
    assert cleared.status_code == 200 and cleared.json()["phone"] is None
