"""The admin's erasure action: refused while a case is open unless forced, then for good."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.db import session_scope
from core.enums import AuditAction, AuditObject
from core.models import AuditEntry, Contact, Resident
from tests.integration.api.conftest import World
from tests.integration.privacy.people import where_found

Auth = Callable[[str], dict[str, str]]


def _resident(engine: Engine, household_id: int) -> Resident:
    """The household's resident, with a name and number no other household in the world has."""
    with session_scope(engine) as s:
        resident = s.exec(select(Resident).where(Resident.household_id == household_id)).one()
        resident.name, resident.phone = "홍길동에이", "+821011112222"
        s.add(resident)
        return resident


def test_erase_refuses_an_open_case_then_forced_erases_for_good(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    resident = _resident(engine, world.household_a)
    url = f"/api/v1/residents/{resident.id}/erase"
    with Session(engine) as s:
        contact_id = s.exec(select(Contact.id).where(Contact.household_id == world.household_a)).first()
    link = app_client.post(
        f"/api/v1/households/{world.household_a}/status-links",
        json={"contact_id": contact_id, "days": 7},
        headers=auth("admin"),
    ).json()["url"]
    status_path = "/" + link.split("/", 3)[3]
    assert app_client.get(status_path).status_code == 200

    refused = app_client.post(url, json={}, headers=auth("admin"))
    assert refused.status_code == 409
    assert refused.json()["code"] == "erasure_case_open"
    assert str(world.case_a) in refused.json()["detail"]
    assert app_client.post(url, json={"force": True}, headers=auth("caseworker_own")).status_code == 403

    done = app_client.post(url, json={"force": True}, headers=auth("admin"))
    assert done.status_code == 200, done.text
    assert done.json() | {"readings_deleted": 0} == {
        "resident_id": resident.id,
        "household_id": world.household_a,
        "household_erased": True,
        "already": False,
        "cases_resolved": [world.case_a],
        "readings_deleted": 0,
    }
    assert where_found(engine, [resident.name, "+821011112222"]) == set()
    with Session(engine) as s:
        entry = s.exec(select(AuditEntry).where(AuditEntry.action == AuditAction.ERASE)).one()
        assert (entry.object_type, entry.object_id, entry.user_id) == (
            AuditObject.HOUSEHOLD,
            world.household_a,
            world.people["admin"].id,
        )

    # The family's status link shows nothing any more (the contact is gone, opted out).
    assert app_client.get(status_path).status_code == 404

    again = app_client.post(url, json={}, headers=auth("admin"))
    assert again.status_code == 200 and again.json()["already"] is True

    # Watching an erased household again (directly, or by a pause that ends) is refused.
    for action, body in (("resume", None), ("pause", {"until": "2026-03-09T00:00:00+00:00"})):
        response = app_client.post(
            f"/api/v1/households/{world.household_a}/{action}", json=body, headers=auth("admin")
        )
        assert (response.status_code, response.json()["code"]) == (409, "household_erased"), action


def test_erase_of_an_unknown_resident_is_404(app_client: TestClient, world: World, auth: Auth) -> None:
    response = app_client.post("/api/v1/residents/98765/erase", json={}, headers=auth("admin"))
    assert (response.status_code, response.json()["code"]) == (404, "resident_not_found")
