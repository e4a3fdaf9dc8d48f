"""Finding people and sorting the queue (issue 17, item 5): search by any part of a resident's
name, phone (with or without dashes), address or household code; the household list names the
residents and the address; the queue sorts by urgency, time or household; team scope holds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import Severity
from core.models import AuditEntry, Household, Resident
from tests.integration.api.conftest import World, open_case

Auth = Callable[[str], dict[str, str]]


@pytest.fixture
def people(engine: Engine, world: World) -> dict[str, str]:
    """Team A's first household is 김순자's (named, numbered, addressed); team B has a 김순자 too."""
    with session_scope(engine) as session:
        codes: dict[str, str] = {}
        for key, household_id, name, phone, address in (
            ("a", world.household_a, "김순자", "+821012345678", "서울 강남구 역삼로 12"),
            ("a2", world.household_a2, "이영희", "+821098765432", "서울 강남구 논현로 7"),
            ("b", world.household_b, "김순자", "+821055550001", "부산 해운대구 1"),
        ):
            household = session.get(Household, household_id)
            assert household is not None
            household.address = address
            resident = session.exec(select(Resident).where(Resident.household_id == household_id)).one()
            resident.name, resident.phone = name, phone
            session.add_all([household, resident])
            codes[key] = household.code
        return codes


def _found(client: TestClient, q: str, headers: dict[str, str]) -> list[str]:
    response = client.get("/api/v1/households", params={"q": q}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"])
    return sorted(item["code"] for item in body["items"])


def test_a_resident_is_found_by_any_part_of_name_phone_address_or_code(
    app_client: TestClient, people: dict[str, str], auth: Auth
) -> None:
    admin = auth("admin")
    a, a2, b = people["a"], people["a2"], people["b"]
    assert _found(app_client, "김순자", admin) == sorted([a, b])
    assert _found(app_client, "순자", admin) == sorted([a, b])  # any part of the name
    assert _found(app_client, "010-1234-5678", admin) == [a]  # as she gives it on the phone
    assert _found(app_client, "01012345678", admin) == [a]
    assert _found(app_client, "+82 10 1234 5678", admin) == [a]
    assert _found(app_client, "1234", admin) == [a]  # any part of the number
    assert _found(app_client, "역삼", admin) == [a]  # any part of the address
    assert _found(app_client, "강남구", admin) == sorted([a, a2])
    assert _found(app_client, a[-3:], admin) == [a]  # "001": the end of a code, not only its start
    assert _found(app_client, a.lower(), admin) == [a]
    assert _found(app_client, "%", admin) == []  # a wildcard is a character here


def test_search_keeps_team_scope(app_client: TestClient, people: dict[str, str], auth: Auth) -> None:
    assert _found(app_client, "김순자", auth("caseworker_own")) == [people["a"]]
    assert _found(app_client, "0555", auth("caseworker_own")) == []  # team B's number
    assert _found(app_client, "김순자", auth("control_room")) == sorted([people["a"], people["b"]])


def test_household_list_names_residents_address_and_last_signal(
    app_client: TestClient, people: dict[str, str], world: World, auth: Auth
) -> None:
    body = app_client.get("/api/v1/households", params={"q": "김순자"}, headers=auth("caseworker_own")).json()
    (item,) = body["items"]
    assert item["resident_names"] == ["김순자"]
    assert item["address"] == "서울 강남구 역삼로 12"
    assert "last_activity_at" in item
    detail = app_client.get(f"/api/v1/households/{world.household_a}", headers=auth("caseworker_own")).json()
    assert detail["address"] == "서울 강남구 역삼로 12" and detail["resident_names"] == ["김순자"]


def test_bad_search_and_sort_values_are_precise_422s(
    app_client: TestClient, people: dict[str, str], auth: Auth
) -> None:
    too_long = app_client.get("/api/v1/households", params={"q": "가" * 101}, headers=auth("admin"))
    assert too_long.status_code == 422
    assert [(d["loc"], d["type"]) for d in too_long.json()["detail"]] == [(["query", "q"], "string_too_long")]
    nul = app_client.get("/api/v1/households", params={"q": "a\x00"}, headers=auth("admin"))
    assert nul.status_code == 422 and nul.json()["detail"][0]["loc"] == ["query", "q"]
    sort = app_client.get("/api/v1/cases", params={"sort": "name"}, headers=auth("admin"))
    assert sort.status_code == 422
    (problem,) = sort.json()["detail"]
    assert (problem["loc"], problem["type"]) == (["query", "sort"], "enum")


def test_searching_writes_no_audit_entry_like_the_list_it_narrows(
    app_client: TestClient, people: dict[str, str], engine: Engine, auth: Auth
) -> None:
    with Session(engine) as session:
        before = session.exec(select(func.count()).select_from(AuditEntry)).one()
    _found(app_client, "김순자", auth("admin"))
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(AuditEntry)).one() == before


def test_the_queue_sorts_by_urgency_time_or_household(
    app_client: TestClient, world: World, engine: Engine, clock: ManualClock, auth: Auth
) -> None:
    with session_scope(engine) as session:
        clock.advance(timedelta(minutes=5))
        late_critical = open_case(session, world.household_a2, clock, severity=Severity.CRITICAL)
        assert late_critical.id is not None
        codes = dict(session.exec(select(Household.id, Household.code)).all())

    def order(sort: str | None, who: str = "admin") -> list[int]:
        params = {"sort": sort} if sort else {}
        response = app_client.get("/api/v1/cases", params=params, headers=auth(who))
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    a, b, late = world.case_a, world.case_b, late_critical.id
    assert order(None) == order("urgency") == [late, a, b]  # most severe, then longest-waiting
    assert order("opened") == [a, b, late]  # the longest-waiting first, whatever the severity
    assert order("newest") == [late, b, a]
    by_code = sorted(
        [(codes[world.household_a], a), (codes[world.household_b], b), (codes[world.household_a2], late)]
    )
    assert order("household") == [case_id for _, case_id in by_code]
    assert order("newest", "caseworker_own") == [late, a]  # team scope kept when sorted
