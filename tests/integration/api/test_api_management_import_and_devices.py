"""Management through the API: CSV import (all rows or none) and pending device assignment."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from core.db import session_scope
from core.enums import AuditObject, DeviceStatus
from core.models import AuditEntry, Contact, Device, Household, Resident, Team
from tests.factories import EPOCH, make_device
from tests.integration.api.conftest import World

Auth = Callable[[str], dict[str, str]]


def _team_of(engine: Engine, household_id: int) -> int:
    with Session(engine) as session:
        household = session.get(Household, household_id)
        assert household is not None
        return household.team_id


def _upload(client: TestClient, path: str, text: str | bytes, who: str, auth: Auth, **params: object) -> Any:
    data = text.encode() if isinstance(text, str) else text
    return client.post(path, files={"file": ("x.csv", data, "text/csv")}, params=params, headers=auth(who))


def _count(engine: Engine, model: type[Household] | type[Contact] | type[Resident]) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def test_households_import_writes_every_row_or_none(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    team_a = _team_of(engine, world.household_a)
    before = _count(engine, Household)
    bad = (
        f"code,team_id,resident_name,resident_phone\nN-1,{team_a},Kim,+821012345678\nN-2,{team_a},Lee,12345\n"
    )
    response = _upload(app_client, "/api/v1/import/households", bad, "caseworker_own", auth)
    assert response.status_code == 422
    report = response.json()
    assert report["created"] == 0 and report["rows"] == 1
    assert report["errors"] == [
        {
            "row": 3,
            "column": "resident_phone",
            "message": "not a phone number (e.g. 010-1234-5678 or +821012345678)",
            "code": "csv_phone",
            "params": {},
        }
    ]
    assert report["detail"] == [  # the same problem in FastAPI's usual 422 shape
        {
            "loc": ["body", "file", 3, "resident_phone"],
            "msg": "not a phone number (e.g. 010-1234-5678 or +821012345678)",
            "type": "csv_phone",
        }
    ]
    assert _count(engine, Household) == before  # the good row was not written either

    good = bad.replace("12345\n", "+821098765432\n")
    dry = _upload(app_client, "/api/v1/import/households", good, "caseworker_own", auth, dry_run="true")
    assert dry.json() == {"dry_run": True, "rows": 2, "created": 0, "errors": []}
    assert _count(engine, Household) == before

    done = _upload(app_client, "/api/v1/import/households", good, "caseworker_own", auth)
    assert done.json()["created"] == 2
    with Session(engine) as session:
        created = session.exec(select(Household).where(Household.code == "N-1")).one()
        residents = session.exec(select(Resident).where(Resident.household_id == created.id)).all()
    assert created.team_id == team_a and [r.name for r in residents] == ["Kim"]

    again = _upload(app_client, "/api/v1/import/households", good, "caseworker_own", auth)
    assert {e["message"] for e in again.json()["errors"]} == {"a household with this code already exists"}


def test_caseworker_imports_only_into_their_own_team(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    team_b = _team_of(engine, world.household_b)
    text = f"code,team_id,resident_name\nX-1,{team_b},Kim\nX-2,999,Lee\n"
    response = _upload(app_client, "/api/v1/import/households", text, "caseworker_own", auth)
    assert response.status_code == 422
    assert [(e["row"], e["message"]) for e in response.json()["errors"]] == [
        (2, "you may import only into your own team"),
        (3, "no such team"),
    ]
    assert (
        _upload(
            app_client, "/api/v1/import/households", text.replace("X-2,999", f"X-2,{team_b}"), "admin", auth
        ).status_code
        == 200
    )


def test_a_centres_own_spreadsheet_imports_as_written(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    """Issue 17, item 8: Korean headers, the team by the name the dashboard shows and numbers
    as people write them; the team name is checked like the id was (own team, known, unique)."""
    text = (
        "가구코드,팀,어르신 이름,전화번호,주소\n"
        "K-1,Team A,김순자,010-1234-5678,서울 강남구 1\n"
        "K-2,team a,이영희,01098765432,\n"
    )
    done = _upload(app_client, "/api/v1/import/households", text.encode("cp949"), "caseworker_own", auth)
    assert done.status_code == 200, done.json()
    assert done.json() == {"dry_run": False, "rows": 2, "created": 2, "errors": []}
    team_a = _team_of(engine, world.household_a)
    with Session(engine) as session:
        rows = session.exec(
            select(Household.code, Household.team_id, Resident.phone)
            .join(Resident, col(Resident.household_id) == col(Household.id))
            .where(col(Household.code).in_(["K-1", "K-2"]))
            .order_by(col(Household.code))
        ).all()
    assert rows == [("K-1", team_a, "+821012345678"), ("K-2", team_a, "+821098765432")]

    refused = _upload(
        app_client,
        "/api/v1/import/households",
        "가구코드,팀,어르신 이름\nK-3,Team B,박\nK-4,없는 팀,최\n",
        "caseworker_own",
        auth,
    )
    assert refused.status_code == 422
    assert [(e["row"], e["column"], e["code"]) for e in refused.json()["errors"]] == [
        (2, "팀", "own_team_only"),
        (3, "팀", "no_such_team"),
    ]


def test_a_team_name_two_teams_share_is_a_row_error(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    team_b = _team_of(engine, world.household_b)
    with Session(engine) as session:
        team = session.get(Team, team_b)
        assert team is not None
        team.name = "Team A"
        session.add(team)
        session.commit()
    response = _upload(
        app_client, "/api/v1/import/households", "code,team,resident_name\nD-1,Team A,Kim\n", "admin", auth
    )
    assert response.status_code == 422
    assert [(e["column"], e["code"]) for e in response.json()["errors"]] == [("team", "csv_team_ambiguous")]
    by_id = _upload(
        app_client,
        "/api/v1/import/households",
        f"code,team_id,resident_name\nD-1,{team_b},Kim\n",
        "admin",
        auth,
    )
    assert by_id.status_code == 200, by_id.json()


def test_contacts_import_reads_korean_excel_files(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    with Session(engine) as session:
        code = session.get(Household, world.household_a)
        assert code is not None
        household_code = code.code
    text = f"household_code,name,relation,phone,tier\n{household_code},김딸,딸,+821077711111,1\n"
    before = _count(engine, Contact)
    response = _upload(app_client, "/api/v1/import/contacts", text.encode("cp949"), "caseworker_own", auth)
    assert response.status_code == 200, response.json()
    with Session(engine) as session:
        names = session.exec(select(Contact.name).where(Contact.household_id == world.household_a)).all()
    assert "김딸" in names and _count(engine, Contact) == before + 1


def test_contacts_for_a_household_you_may_not_see_are_row_errors(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    with Session(engine) as session:
        other = session.get(Household, world.household_b)
        assert other is not None
    text = f"household_code,name,phone\n{other.code},Kim,+821077711111\nNOPE,Lee,+821077711112\n"
    response = _upload(app_client, "/api/v1/import/contacts", text, "caseworker_own", auth)
    assert [e["row"] for e in response.json()["errors"]] == [2, 3]


def test_pending_devices_are_listed_and_assigned(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    with session_scope(engine) as session:
        device = make_device(session, household=None, external_id="plug-77")
        device_id = device.id
    listed = app_client.get("/api/v1/devices/pending", headers=auth("caseworker_own")).json()
    assert [d["external_id"] for d in listed["items"]] == ["plug-77"]

    other = app_client.post(
        f"/api/v1/devices/{device_id}/assign",
        json={"household_id": world.household_b, "appliance": "tv"},
        headers=auth("caseworker_own"),
    )
    assert other.status_code == 404  # not their household
    blank = app_client.post(
        f"/api/v1/devices/{device_id}/assign",
        json={"household_id": world.household_a, "appliance": "  "},
        headers=auth("caseworker_own"),
    )
    assert blank.status_code == 422
    ok = app_client.post(
        f"/api/v1/devices/{device_id}/assign",
        json={"household_id": world.household_a, "appliance": "rice_cooker"},
        headers=auth("caseworker_own"),
    )
    assert ok.status_code == 200 and ok.json()["status"] == "assigned"
    with Session(engine) as session:
        stored = session.get(Device, device_id)
        assert stored is not None
        assert (stored.household_id, stored.appliance, stored.status) == (
            world.household_a,
            "rice_cooker",
            DeviceStatus.ASSIGNED,
        )
    assert app_client.get("/api/v1/devices/pending", headers=auth("admin")).json()["items"] == []


def test_pending_devices_come_a_page_at_a_time_most_recent_first(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    # A flood of unknown devices (issue 12.6) must not become one response.
    with session_scope(engine) as session:
        for n in range(7):
            device = make_device(session, household=None, external_id=f"flood-{n}")
            device.last_seen_at = EPOCH + timedelta(minutes=n)
    pages = [
        app_client.get(
            "/api/v1/devices/pending", params={"limit": 3, "offset": offset}, headers=auth("admin")
        ).json()
        for offset in (0, 3, 6)
    ]
    assert [p["total"] for p in pages] == [7, 7, 7]
    assert [[d["external_id"] for d in p["items"]] for p in pages] == [
        ["flood-6", "flood-5", "flood-4"],
        ["flood-3", "flood-2", "flood-1"],
        ["flood-0"],
    ]
    default = app_client.get("/api/v1/devices/pending", headers=auth("admin")).json()
    assert default["limit"] == 50 and len(default["items"]) == 7
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}):
        response = app_client.get("/api/v1/devices/pending", params=bad, headers=auth("admin"))
        assert response.status_code == 422, bad


def test_oversized_or_undecodable_files_are_refused(app_client: TestClient, world: World, auth: Auth) -> None:
    huge = b"code,team_id,resident_name\n" + b"x" * (2 * 1024 * 1024 + 10)
    assert _upload(app_client, "/api/v1/import/households", huge, "admin", auth).status_code == 413
    binary = b"\xff\xfe\x00\x81\x00\xff"
    assert _upload(app_client, "/api/v1/import/households", binary, "admin", auth).status_code == 400


def _audited_households(engine: Engine) -> list[int | None]:
    with Session(engine) as session:
        rows = session.exec(
            select(AuditEntry.object_id)
            .where(AuditEntry.object_type == AuditObject.HOUSEHOLD)
            .order_by(col(AuditEntry.id))
        ).all()
        return list(rows)


def test_another_teams_caseworker_cannot_move_a_working_plug(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    """Issue 13.3: a team-2 caseworker moved a team-1 plug into a team-2 household (200)."""
    with session_scope(engine) as session:
        household = session.get(Household, world.household_a)
        device_id = make_device(session, household=household, external_id="plug-a1").id
    response = app_client.post(
        f"/api/v1/devices/{device_id}/assign",
        json={"household_id": world.household_b, "appliance": "kettle"},
        headers=auth("caseworker_other"),
    )
    assert response.status_code == 404
    assert response.json()["code"] == "device_not_found"
    with Session(engine) as session:
        device = session.get(Device, device_id)
        assert device is not None and device.household_id == world.household_a
    assert _audited_households(engine) == []


def test_a_move_within_the_team_audits_both_households(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    with session_scope(engine) as session:
        household = session.get(Household, world.household_a)
        device_id = make_device(session, household=household, external_id="plug-a2").id
    response = app_client.post(
        f"/api/v1/devices/{device_id}/assign",
        json={"household_id": world.household_a2, "appliance": "tv"},
        headers=auth("caseworker_own"),
    )
    assert response.status_code == 200
    assert sorted(h for h in _audited_households(engine) if h is not None) == sorted(
        [world.household_a, world.household_a2]
    )
