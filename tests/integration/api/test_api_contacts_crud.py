"""Contacts through the API: add, change only what was sent, remove (which ends status links)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from core.models import Contact
from tests.integration.api.conftest import World

Auth = Callable[[str], dict[str, str]]


def test_add_change_and_remove_a_contact(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    who = auth("caseworker_own")
    added = app_client.post(
        f"/api/v1/households/{world.household_a}/contacts",
        json={"name": "이웃 박씨", "relation": "neighbour", "phone": "+821055512345", "tier": 2},
        headers=who,
    )
    assert added.status_code == 201
    contact_id = added.json()["id"]
    assert added.json()["preferred_channel"] == "sms" and added.json()["language"] == "ko"

    changed = app_client.patch(f"/api/v1/contacts/{contact_id}", json={"opted_out": True}, headers=who)
    assert changed.status_code == 200
    assert (changed.json()["opted_out"], changed.json()["tier"], changed.json()["name"]) == (
        True,
        2,
        "이웃 박씨",
    )

    link = app_client.post(
        f"/api/v1/households/{world.household_a}/status-links", json={"contact_id": contact_id}, headers=who
    )
    assert link.status_code == 422  # opted out: no status link
    app_client.patch(f"/api/v1/contacts/{contact_id}", json={"opted_out": False}, headers=who)
    url = app_client.post(
        f"/api/v1/households/{world.household_a}/status-links", json={"contact_id": contact_id}, headers=who
    ).json()["url"]
    path = url.removeprefix("https://care.example.org")
    assert app_client.get(path).status_code == 200

    assert app_client.delete(f"/api/v1/contacts/{contact_id}", headers=who).status_code == 204
    with Session(engine) as session:
        assert session.get(Contact, contact_id) is None
    assert app_client.get(path).status_code == 404  # removing the contact ended their link
    assert app_client.delete(f"/api/v1/contacts/{contact_id}", headers=who).status_code == 404


def test_bad_contact_input_is_refused_precisely(app_client: TestClient, world: World, auth: Auth) -> None:
    who = auth("admin")
    path = f"/api/v1/households/{world.household_a}/contacts"
    assert app_client.post(path, json={"name": "x", "phone": "010-1234-5678"}, headers=who).status_code == 422
    assert app_client.post(path, json={"name": "", "phone": "+821055512345"}, headers=who).status_code == 422
    assert (
        app_client.post(
            path, json={"name": "x", "phone": "+821055512345", "tier": 10}, headers=who
        ).status_code
        == 422
    )
    assert (
        app_client.post(
            path, json={"name": "x", "phone": "+821055512345", "email": "a"}, headers=who
        ).status_code
        == 422
    )
    contact_id = app_client.post(path, json={"name": "x", "phone": "+821055512345"}, headers=who).json()["id"]
    nulled = app_client.patch(f"/api/v1/contacts/{contact_id}", json={"name": None}, headers=who)
    assert nulled.status_code == 422 and "null" in str(nulled.json()["detail"])
