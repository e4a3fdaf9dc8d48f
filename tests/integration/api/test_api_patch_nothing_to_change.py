"""A PATCH that sends no field changes nothing and says so (api.errors.sent_changes)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, select

from core.models import Household, Resident, User
from tests.factories import load
from tests.integration.api.conftest import World

Auth = Callable[[str], dict[str, str]]


@pytest.mark.parametrize("kind", ["households", "residents", "users"])
def test_a_patch_that_sends_no_field_is_refused_and_changes_nothing(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, kind: str
) -> None:
    with Session(engine) as s:
        resident_id = s.exec(select(Resident.id).where(Resident.household_id == world.household_a)).one()
    row_id = {
        "households": world.household_a,
        "residents": resident_id,
        "users": world.people["caseworker_own"].id,
    }[kind]
    models: dict[str, type[SQLModel]] = {"households": Household, "residents": Resident, "users": User}
    model = models[kind]
    before = load(engine, model, row_id).model_dump()
    response = app_client.patch(f"/api/v1/{kind}/{row_id}", json={}, headers=auth("admin"))
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["body"], "msg": "send at least one field to change", "type": "nothing_to_change"}
    ]
    assert load(engine, model, row_id).model_dump() == before
